// Workload events: the helpers (include/joulebench/events.hpp, python/joulebench_events.py) write
// lines that parse_event_line reads back, and OutputScanner finds metrics and regions in DLLogger,
// MLPerf and regex-matched output, skipping and counting what it cannot read.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fakes/fake_tree.hpp"
#include "joulebench/event_parser.hpp"
#include "joulebench/events.hpp"
#include "joulebench/process.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using Kind = WorkloadEvent::Kind;

#ifdef JOULEBENCH_TEST_PYTHON
const std::string kPython = JOULEBENCH_TEST_PYTHON;
#else
const std::string kPython = "/usr/bin/python3";
#endif

fs::path repository_root() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }

// ---------------------------------------------------------------------------------------------
// parse_event_line

TEST(EventLine, ReadsTheFourKinds) {
  auto begin = parse_event_line(R"({"event":"begin","region":"train"})");
  ASSERT_TRUE(begin);
  EXPECT_EQ(begin->kind, Kind::region_begin);
  EXPECT_EQ(begin->name, "train");
  EXPECT_EQ(begin->origin, "events");

  auto end = parse_event_line("  {\"event\":\"end\",\"region\":\"train\"}\r\n");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->kind, Kind::region_end);
  EXPECT_EQ(end->name, "train");

  auto metric = parse_event_line(R"({"event":"metric","name":"accuracy","value":0.91,"unit":"%"})");
  ASSERT_TRUE(metric);
  EXPECT_EQ(metric->kind, Kind::metric);
  EXPECT_EQ(metric->name, "accuracy");
  EXPECT_DOUBLE_EQ(metric->value, 0.91);
  EXPECT_EQ(metric->unit, "%");

  auto no_unit = parse_event_line(R"({"event":"metric","name":"epochs","value":3})");
  ASSERT_TRUE(no_unit);
  EXPECT_EQ(no_unit->value, 3.0);
  EXPECT_EQ(no_unit->unit, "");
  auto null_unit = parse_event_line(R"({"event":"metric","name":"epochs","value":-1e-3,"unit":null})");
  ASSERT_TRUE(null_unit);
  EXPECT_EQ(null_unit->value, -1e-3);

  auto meta = parse_event_line(R"({"event":"meta","key":"framework","value":"libtorch 1.13.1"})");
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->kind, Kind::metadata);
  EXPECT_EQ(meta->name, "framework");
  EXPECT_EQ(meta->text, "libtorch 1.13.1");
}

TEST(EventLine, MetaNumbersAndBoolsBecomeText) {
  EXPECT_EQ(parse_event_line(R"({"event":"meta","key":"threads","value":8})")->text, "8");
  EXPECT_EQ(parse_event_line(R"({"event":"meta","key":"lr","value":2.5})")->text, "2.5");
  EXPECT_EQ(parse_event_line(R"({"event":"meta","key":"amp","value":true})")->text, "true");
  EXPECT_EQ(parse_event_line(R"({"event":"meta","key":"amp","value":false})")->text, "false");
}

TEST(EventLine, ExtraFieldsAreIgnored) {
  auto event = parse_event_line(R"({"event":"begin","region":"eval","time":12.5,"pid":77})");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->name, "eval");
}

TEST(EventLine, MalformedLinesGiveNothing) {
  for (const std::string_view line : {
           "",
           "   \r",
           "not json",
           R"({"event":"begin","region":"train")",  // truncated
           R"(["event","begin"])",                  // not an object
           R"("begin")",
           R"({"region":"train"})",                  // no event
           R"({"event":"start","region":"train"})",  // unknown event
           R"({"event":7,"region":"train"})",
           R"({"event":"begin"})",              // no region
           R"({"event":"begin","region":""})",  // empty region
           R"({"event":"end","region":42})",
           R"({"event":"metric","name":"loss"})",               // no value
           R"({"event":"metric","name":"loss","value":null})",  // what NaN is written as
           R"({"event":"metric","name":"loss","value":"0.5"})",
           R"({"event":"metric","name":"loss","value":true})",
           R"({"event":"metric","name":"loss","value":1e999})",  // not finite
           R"({"event":"metric","name":"","value":1})",
           R"({"event":"metric","value":1})",
           R"({"event":"metric","name":"loss","value":1,"unit":5})",
           R"({"event":"meta","key":"framework"})",
           R"({"event":"meta","key":"framework","value":null})",
           R"({"event":"meta","key":"framework","value":["a"]})",
           R"({"event":"meta","key":"","value":"x"})",
           R"({"event":"begin","region":"train"} {"event":"end","region":"train"})",  // two objects
       }) {
    EXPECT_FALSE(parse_event_line(line)) << line;
  }
}

// ---------------------------------------------------------------------------------------------
// events.hpp, written through a real pipe and read back

/// A pipe whose write end is the events descriptor while the object lives.
class EventsPipe {
 public:
  EventsPipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    ::setenv(kEventsFdVariable, std::to_string(fds_[1]).c_str(), 1);
    events::detail::reset_for_tests();
  }
  ~EventsPipe() {
    ::unsetenv(kEventsFdVariable);
    events::detail::reset_for_tests();
    close_write();
    if (fds_[0] >= 0) ::close(fds_[0]);
  }
  EventsPipe(const EventsPipe&) = delete;
  EventsPipe& operator=(const EventsPipe&) = delete;

  int read_fd() const { return fds_[0]; }
  int write_fd() const { return fds_[1]; }
  void close_read() {
    ::close(fds_[0]);
    fds_[0] = -1;
  }
  void close_write() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }
  /// Stops events, closes the write end and returns every line written.
  std::vector<std::string> lines() {
    ::unsetenv(kEventsFdVariable);
    events::detail::reset_for_tests();
    close_write();
    return split_lines(read_to_end(fds_[0]));
  }

  static std::string read_to_end(int fd) {
    std::string text;
    char buffer[4096];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n > 0) {
        text.append(buffer, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        break;
      }
    }
    return text;
  }
  static std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
      const auto newline = text.find('\n', start);
      if (newline == std::string::npos) {
        lines.push_back(text.substr(start));  // a line without its newline: a bug, seen by the caller
        break;
      }
      lines.push_back(text.substr(start, newline - start));
      start = newline + 1;
    }
    return lines;
  }

 private:
  int fds_[2] = {-1, -1};
};

TEST(EventsHeader, WithoutTheVariableEveryCallIsANoOp) {
  ::unsetenv(kEventsFdVariable);
  events::detail::reset_for_tests();
  EXPECT_FALSE(events::enabled());
  events::begin("train");
  events::metric("accuracy", 0.5);
  events::meta("threads", 4);
  { events::Region region("load"); }
  events::end("train");
  EXPECT_FALSE(events::enabled());
}

TEST(EventsHeader, AVariableThatNamesNoOpenDescriptorDisablesEvents) {
  for (const char* value : {"", "abc", "-1", "3x", " 5", "99999999999", "1023"}) {
    ::setenv(kEventsFdVariable, value, 1);
    events::detail::reset_for_tests();
    if (std::string_view(value) == "1023" && ::fcntl(1023, F_GETFD) != -1) continue;
    EXPECT_FALSE(events::enabled()) << "'" << value << "'";
    events::metric("x", 1);  // and nothing breaks
  }
  ::unsetenv(kEventsFdVariable);
  events::detail::reset_for_tests();
}

TEST(EventsHeader, RoundTripThroughParseEventLine) {
  const std::string awkward =
      "quote \" backslash \\ newline \n tab \t bell \x07 nul-free \x1f "
      "\xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80 end";
  std::vector<std::string> lines;
  {
    EventsPipe pipe;
    ASSERT_TRUE(events::enabled());
    events::meta("framework", "libtorch 1.13.1");
    events::meta("threads", 8);
    events::meta("batches", static_cast<unsigned long long>(12345678901234ULL));
    events::meta("lr", 0.1);
    events::meta("amp", true);
    events::meta("device", std::string("cpu"));
    events::meta("bad", std::numeric_limits<double>::quiet_NaN());
    {
      events::Region load("load");
      events::begin(awkward);
      events::end(awkward);
    }
    events::begin("train");
    events::metric("accuracy", 0.91, "%");
    events::metric("third", 1.0 / 3.0);
    events::metric("huge", 1e300, awkward);
    events::metric("tiny", -2.5e-310);
    events::metric("loss", std::numeric_limits<double>::quiet_NaN());
    events::metric("inf", std::numeric_limits<double>::infinity(), "x");
    events::end("train");
    events::begin("invalid utf-8 \xff\xfe \xc3 \xed\xa0\x80 end");
    lines = pipe.lines();
  }
  EXPECT_FALSE(events::enabled());

  ASSERT_EQ(lines.size(), 20u);
  std::vector<WorkloadEvent> parsed;
  std::vector<std::string> rejected;
  for (const std::string& line : lines) {
    if (auto event = parse_event_line(line)) {
      parsed.push_back(*event);
    } else {
      rejected.push_back(line);
    }
  }
  // NaN and infinity are written as null, which joulebench rejects (and counts).
  ASSERT_EQ(rejected.size(), 2u);
  EXPECT_EQ(rejected[0], R"({"event":"metric","name":"loss","value":null,"unit":""})");
  EXPECT_EQ(rejected[1], R"({"event":"metric","name":"inf","value":null,"unit":"x"})");
  ASSERT_EQ(parsed.size(), 18u);

  EXPECT_EQ(lines[0], R"({"event":"meta","key":"framework","value":"libtorch 1.13.1"})");
  const std::vector<std::pair<std::string, std::string>> metas = {{"framework", "libtorch 1.13.1"},
                                                                  {"threads", "8"},
                                                                  {"batches", "12345678901234"},
                                                                  {"lr", "0.1"},
                                                                  {"amp", "true"},
                                                                  {"device", "cpu"},
                                                                  {"bad", "nan"}};
  for (std::size_t i = 0; i < metas.size(); ++i) {
    EXPECT_EQ(parsed[i].kind, Kind::metadata);
    EXPECT_EQ(parsed[i].name, metas[i].first);
    EXPECT_EQ(parsed[i].text, metas[i].second);
  }
  EXPECT_EQ(parsed[7].kind, Kind::region_begin);
  EXPECT_EQ(parsed[7].name, "load");
  EXPECT_EQ(parsed[8].kind, Kind::region_begin);
  EXPECT_EQ(parsed[8].name, awkward);  // every byte back
  EXPECT_EQ(parsed[9].kind, Kind::region_end);
  EXPECT_EQ(parsed[9].name, awkward);
  EXPECT_EQ(parsed[10].kind, Kind::region_end);
  EXPECT_EQ(parsed[10].name, "load");
  EXPECT_EQ(parsed[11].kind, Kind::region_begin);
  EXPECT_EQ(parsed[11].name, "train");
  EXPECT_EQ(parsed[12].name, "accuracy");
  EXPECT_EQ(parsed[12].value, 0.91);  // exactly: the text reads back to the same double
  EXPECT_EQ(parsed[12].unit, "%");
  EXPECT_EQ(parsed[13].value, 1.0 / 3.0);
  EXPECT_EQ(parsed[14].value, 1e300);
  EXPECT_EQ(parsed[14].unit, awkward);
  EXPECT_EQ(parsed[15].value, -2.5e-310);
  EXPECT_EQ(parsed[16].kind, Kind::region_end);
  EXPECT_EQ(parsed[16].name, "train");
  // Control characters are written as \u00XX, never raw: one event, one line.
  EXPECT_NE(lines[8].find("\\u000a"), std::string::npos) << lines[8];
  EXPECT_NE(lines[8].find("\\u0007"), std::string::npos) << lines[8];
  // Invalid UTF-8 becomes U+FFFD, so the line is still JSON.
  const auto invalid = parse_event_line(lines[19]);
  ASSERT_TRUE(invalid) << lines[19];
  EXPECT_EQ(invalid->name,
            "invalid utf-8 \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end");
}

TEST(EventsHeader, TheVariableIsReadOnceUntilReset) {
  EventsPipe first;
  events::metric("a", 1);
  int other[2];
  ASSERT_EQ(::pipe2(other, O_CLOEXEC), 0);
  ::setenv(kEventsFdVariable, std::to_string(other[1]).c_str(), 1);
  events::metric("b", 2);  // still the first descriptor
  events::detail::reset_for_tests();
  events::metric("c", 3);  // now the second
  ::unsetenv(kEventsFdVariable);
  events::detail::reset_for_tests();
  ::close(other[1]);
  const auto second_lines = EventsPipe::split_lines(EventsPipe::read_to_end(other[0]));
  ::close(other[0]);
  const auto first_lines = first.lines();
  ASSERT_EQ(first_lines.size(), 2u);
  EXPECT_EQ(parse_event_line(first_lines[0])->name, "a");
  EXPECT_EQ(parse_event_line(first_lines[1])->name, "b");
  ASSERT_EQ(second_lines.size(), 1u);
  EXPECT_EQ(parse_event_line(second_lines[0])->name, "c");
}

TEST(EventsHeader, ABrokenPipeSwitchesEventsOffWithoutKillingTheWorkload) {
  EventsPipe pipe;
  pipe.close_read();  // joulebench has gone away
  ASSERT_TRUE(events::enabled());
  errno = EDOM;
  events::metric("accuracy", 0.5);  // SIGPIPE would end this test binary
  EXPECT_EQ(errno, EDOM);
  EXPECT_FALSE(events::enabled());
  events::begin("train");  // and later calls are no-ops
  sigset_t pending;
  sigemptyset(&pending);
  ASSERT_EQ(sigpending(&pending), 0);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0) << "the SIGPIPE raised by the write is left pending";
}

TEST(EventsHeader, ConcurrentCallsNeverInterleave) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  EventsPipe pipe;
  std::string received;
  std::thread reader([&] { received = EventsPipe::read_to_end(pipe.read_fd()); });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([t] {
      const std::string name = "thread-" + std::to_string(t) + std::string(static_cast<std::size_t>(t) * 50, 'x');
      for (int i = 0; i < kPerThread; ++i) {
        if (i % 3 == 0) {
          events::Region region(name);
        } else {
          events::metric(name, i, "n");
        }
      }
    });
  }
  for (auto& writer : writers) writer.join();
  ::unsetenv(kEventsFdVariable);
  events::detail::reset_for_tests();
  pipe.close_write();
  reader.join();

  const auto lines = EventsPipe::split_lines(received);
  std::map<std::string, int> last_value;
  std::map<std::string, int> metrics;
  std::map<std::string, int> open_regions;
  for (const auto& line : lines) {
    const auto event = parse_event_line(line);
    ASSERT_TRUE(event) << line;
    if (event->kind == Kind::metric) {
      const int value = static_cast<int>(event->value);
      if (last_value.count(event->name)) {
        EXPECT_GT(value, last_value[event->name]);  // each thread's order kept
      }
      last_value[event->name] = value;
      ++metrics[event->name];
    } else if (event->kind == Kind::region_begin) {
      EXPECT_EQ(open_regions[event->name]++, 0);
    } else {
      EXPECT_EQ(--open_regions[event->name], 0);
    }
  }
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(kThreads) * (kPerThread / 3 * 2 + kPerThread * 2 / 3));
  EXPECT_EQ(metrics.size(), static_cast<std::size_t>(kThreads));
  for (const auto& [name, count] : metrics) EXPECT_EQ(count, kPerThread * 2 / 3) << name;
}

// ---------------------------------------------------------------------------------------------
// events.hpp over a named pipe (JOULEBENCH_EVENTS_PATH), as joulebench offers it to a container

TEST(EventsHeader, ThePathConstantsAreTheParsersOwn) {
  EXPECT_STREQ(events::detail::kVariable, kEventsFdVariable);
  EXPECT_STREQ(events::detail::kPathVariable, kEventsPathVariable);
  EXPECT_STREQ(kEventsPathVariable, "JOULEBENCH_EVENTS_PATH");
  EXPECT_STREQ(kRepliesPathVariable, "JOULEBENCH_REPLIES_PATH");
}

/// A FIFO in a temporary folder, named by JOULEBENCH_EVENTS_PATH (the FD variable unset) while the
/// object lives. With `listen`, it is held open as joulebench holds it: for reading without
/// waiting, plus a write "keeper" so the reader sees no end of file while no workload writes.
class EventsFifo {
 public:
  explicit EventsFifo(bool listen = true) : path_(dir_.path() / "events") {
    if (::mkfifo(path_.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed");
    if (listen) {
      read_fd_ = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      keeper_fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
      if (read_fd_ < 0 || keeper_fd_ < 0) throw std::runtime_error("cannot open the FIFO");
    }
    ::unsetenv(kEventsFdVariable);
    ::setenv(kEventsPathVariable, path_.c_str(), 1);
    events::detail::reset_for_tests();
  }
  ~EventsFifo() {
    ::unsetenv(kEventsPathVariable);
    events::detail::reset_for_tests();
    for (int fd : {read_fd_, keeper_fd_}) {
      if (fd >= 0) ::close(fd);
    }
  }
  EventsFifo(const EventsFifo&) = delete;
  EventsFifo& operator=(const EventsFifo&) = delete;

  const fs::path& path() const { return path_; }
  void close_read() {
    ::close(read_fd_);
    read_fd_ = -1;
  }
  /// Stops events (the helper closes the FIFO it opened), lets go of the keeper and returns every
  /// line written.
  std::vector<std::string> lines() {
    ::unsetenv(kEventsPathVariable);
    events::detail::reset_for_tests();
    ::close(keeper_fd_);
    keeper_fd_ = -1;
    std::string text;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(read_fd_, buffer, sizeof buffer);
      if (n > 0) text.append(buffer, static_cast<std::size_t>(n));
      else if (n < 0 && errno == EINTR) continue;
      else break;  // 0: no writer left; EAGAIN would mean one is left (the test then fails)
    }
    return EventsPipe::split_lines(text);
  }

 private:
  testing::TempDir dir_;
  fs::path path_;
  int read_fd_ = -1;
  int keeper_fd_ = -1;
};

TEST(EventsHeader, ThePathVariableNamesAFifoJoulebenchReads) {
  EventsFifo fifo;
  ASSERT_TRUE(events::enabled());
  const int fd = events::detail::g_state.fd.load();
  ASSERT_GE(fd, 0);
  // Opened without waiting, then blocking for writes as an inherited pipe is; never inherited.
  EXPECT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  events::meta("framework", "in a container");
  {
    events::Region train("train");
    events::metric("accuracy", 0.91, "%");
  }
  const auto lines = fifo.lines();
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the FIFO the helper opened stays open after a reset";
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], R"({"event":"meta","key":"framework","value":"in a container"})");
  EXPECT_EQ(lines[1], R"({"event":"begin","region":"train"})");
  EXPECT_EQ(lines[2], R"({"event":"metric","name":"accuracy","value":0.91,"unit":"%"})");
  EXPECT_EQ(lines[3], R"({"event":"end","region":"train"})");
}

TEST(EventsHeader, AFifoNobodyReadsSwitchesEventsOffWithoutWaiting) {
  EventsFifo fifo(/*listen=*/false);
  // On a thread, so a helper that waits for a reader fails the test instead of hanging it.
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  std::thread([done] {
    errno = EDOM;
    const bool on = events::enabled();
    events::metric("accuracy", 0.5);
    done->set_value(on || errno != EDOM);
  }).detach();
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // Unblock the helper's open so the thread can finish, then fail.
    const int reader = ::open(fifo.path().c_str(), O_RDONLY | O_NONBLOCK);
    result.wait();
    if (reader >= 0) ::close(reader);
    FAIL() << "the helper waited for a reader of the events FIFO";
  }
  EXPECT_FALSE(result.get()) << "events on, or errno changed";
  EXPECT_FALSE(events::enabled());
}

TEST(EventsHeader, APathThatIsNoFifoIsNeverWrittenNorCreated) {
  testing::TempDir dir;
  const fs::path file = dir.path() / "events.jsonl";
  {
    std::ofstream out(file);
    out << "keep me\n";
  }
  const fs::path missing = dir.path() / "missing";
  ::unsetenv(kEventsFdVariable);
  for (const fs::path& path : {file, missing, dir.path(), fs::path("")}) {
    ::setenv(kEventsPathVariable, path.c_str(), 1);
    events::detail::reset_for_tests();
    EXPECT_FALSE(events::enabled()) << path;
    events::metric("x", 1);
  }
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "keep me\n");
  EXPECT_FALSE(fs::exists(missing));
  // A character device is a channel: /dev/null takes the lines.
  ::setenv(kEventsPathVariable, "/dev/null", 1);
  events::detail::reset_for_tests();
  EXPECT_TRUE(events::enabled());
  events::metric("x", 1);
  EXPECT_TRUE(events::enabled());
  ::unsetenv(kEventsPathVariable);
  events::detail::reset_for_tests();
}

TEST(EventsHeader, TheFdVariableWinsOverThePath) {
  EventsFifo fifo;
  std::vector<std::string> pipe_lines;
  {
    EventsPipe pipe;  // the FD variable as well as the path
    events::metric("by_fd", 1);
    pipe_lines = pipe.lines();
  }
  // An FD variable that names no open descriptor gives way to the path.
  const int closed = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(closed, 0);
  ::close(closed);
  ::setenv(kEventsFdVariable, std::to_string(closed).c_str(), 1);
  events::detail::reset_for_tests();
  events::metric("by_path", 2);
  ::unsetenv(kEventsFdVariable);
  const auto fifo_lines = fifo.lines();
  ASSERT_EQ(pipe_lines.size(), 1u);
  EXPECT_EQ(parse_event_line(pipe_lines[0])->name, "by_fd");
  ASSERT_EQ(fifo_lines.size(), 1u);
  EXPECT_EQ(parse_event_line(fifo_lines[0])->name, "by_path");
}

TEST(EventsHeader, AFifoWhoseReaderGoesSwitchesEventsOffAndIsClosed) {
  EventsFifo fifo;
  ASSERT_TRUE(events::enabled());
  const int fd = events::detail::g_state.fd.load();
  fifo.close_read();  // joulebench has gone away
  errno = EDOM;
  events::metric("accuracy", 0.5);  // SIGPIPE would end this test binary
  EXPECT_EQ(errno, EDOM);
  EXPECT_FALSE(events::enabled());
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the helper keeps the broken FIFO open";
  sigset_t pending;
  sigemptyset(&pending);
  ASSERT_EQ(sigpending(&pending), 0);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
}

// ---------------------------------------------------------------------------------------------
// python/joulebench_events.py, run by the system's Python with an inherited pipe

struct PythonRun {
  ExitStatus status;
  std::string events;  ///< what it wrote on the events descriptor
  std::string out;     ///< standard output and error
};

/// Runs `script` with PYTHONPATH=<repo>/python; the events descriptor is a pipe (or, with
/// `events = false`, the variable is not set; with `broken`, the pipe's read end is closed first).
PythonRun run_python(const std::string& script, bool events = true, bool broken = false) {
  int event_pipe[2];
  int out_pipe[2];
  if (::pipe2(event_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  if (broken) {
    ::close(event_pipe[0]);
    event_pipe[0] = -1;
  }
  SpawnOptions options;
  options.argv = {kPython, "-c", script};
  options.foreground = false;
  options.environment = {{"PYTHONPATH", (repository_root() / "python").string()}, {"PYTHONDONTWRITEBYTECODE", "1"}};
  if (events) {
    options.environment.emplace_back(kEventsFdVariable, std::to_string(event_pipe[1]));
    options.inherited_fds = {{event_pipe[1], event_pipe[1]}};
  }
  options.stdout_fd = out_pipe[1];
  options.stderr_fd = out_pipe[1];
  PythonRun run;
  std::optional<ChildProcess> child;
  try {
    child.emplace(ChildProcess::start(options));
  } catch (...) {
    for (int fd : {event_pipe[0], event_pipe[1], out_pipe[0], out_pipe[1]}) {
      if (fd >= 0) ::close(fd);
    }
    throw;
  }
  ::close(event_pipe[1]);
  ::close(out_pipe[1]);
  // The script writes little (well under a pipe's 64 KiB), so reading after it exits is safe;
  // read the output concurrently anyway, so a chatty failure cannot block it.
  std::thread out_reader([&] { run.out = EventsPipe::read_to_end(out_pipe[0]); });
  if (event_pipe[0] >= 0) run.events = EventsPipe::read_to_end(event_pipe[0]);
  run.status = child->wait(Seconds(60)).status;
  out_reader.join();
  if (event_pipe[0] >= 0) ::close(event_pipe[0]);
  ::close(out_pipe[0]);
  return run;
}

bool have_python() { return ::access(kPython.c_str(), X_OK) == 0; }

TEST(EventsPython, RoundTripThroughParseEventLine) {
  if (!have_python()) GTEST_SKIP() << kPython << " is not installed: the Python helper cannot be run here";
  const std::string script = R"PY(
import threading
import joulebench_events as jb

assert jb.enabled()
jb.meta("framework", "pytorch 2.1.0")
jb.meta("threads", 8)
jb.meta("lr", 0.1)
jb.meta("amp", True)

with jb.region("load"):
    pass

@jb.region("train")
def train():
    return 42

assert train() == 42
try:
    with jb.region("eval"):
        raise ValueError("the region still ends")
except ValueError:
    pass

jb.metric("accuracy", 0.91, "%")
jb.metric("loss", float("nan"))
jb.metric("huge", float("inf"), "J")
jb.metric("weird", "not a number")
jb.metric("count", 7)
awkward = 'quote " backslash \\ newline \n tab \t bell \x07 \u00e9 \u6f22 \U0001F600 end'
jb.begin(awkward)
jb.end(awkward)
jb.begin("surrogate \udcff end")

def work(k):
    for i in range(50):
        jb.metric("t%d" % k, i)

threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
)PY";
  const PythonRun run = run_python(script);
  ASSERT_EQ(run.status.shell_status(), 0) << run.out;
  const auto lines = EventsPipe::split_lines(run.events);
  ASSERT_EQ(lines.size(), 4u + 6u + 5u + 3u + 200u) << run.events;

  std::vector<WorkloadEvent> parsed;
  std::vector<std::string> rejected;
  for (const auto& line : lines) {
    if (auto event = parse_event_line(line)) {
      parsed.push_back(*event);
    } else {
      rejected.push_back(line);
    }
  }
  ASSERT_EQ(rejected.size(), 3u);  // NaN, infinity and a string: written as null
  EXPECT_EQ(rejected[0], R"({"event":"metric","name":"loss","value":null,"unit":""})");
  EXPECT_EQ(rejected[1], R"({"event":"metric","name":"huge","value":null,"unit":"J"})");
  EXPECT_EQ(rejected[2], R"({"event":"metric","name":"weird","value":null,"unit":""})");

  const std::vector<std::pair<std::string, std::string>> metas = {
      {"framework", "pytorch 2.1.0"}, {"threads", "8"}, {"lr", "0.1"}, {"amp", "true"}};
  for (std::size_t i = 0; i < metas.size(); ++i) {
    EXPECT_EQ(parsed[i].kind, Kind::metadata);
    EXPECT_EQ(parsed[i].name, metas[i].first);
    EXPECT_EQ(parsed[i].text, metas[i].second);
  }
  const std::vector<std::pair<Kind, std::string>> regions = {{Kind::region_begin, "load"},  {Kind::region_end, "load"},
                                                             {Kind::region_begin, "train"}, {Kind::region_end, "train"},
                                                             {Kind::region_begin, "eval"},  {Kind::region_end, "eval"}};
  for (std::size_t i = 0; i < regions.size(); ++i) {
    EXPECT_EQ(parsed[4 + i].kind, regions[i].first) << i;
    EXPECT_EQ(parsed[4 + i].name, regions[i].second) << i;
  }
  EXPECT_EQ(parsed[10].name, "accuracy");
  EXPECT_EQ(parsed[10].value, 0.91);
  EXPECT_EQ(parsed[10].unit, "%");
  EXPECT_EQ(parsed[11].name, "count");
  EXPECT_EQ(parsed[11].value, 7.0);
  const std::string awkward =
      "quote \" backslash \\ newline \n tab \t bell \x07 \xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80 end";
  EXPECT_EQ(parsed[12].kind, Kind::region_begin);
  EXPECT_EQ(parsed[12].name, awkward);
  EXPECT_EQ(parsed[13].kind, Kind::region_end);
  EXPECT_EQ(parsed[13].name, awkward);
  EXPECT_EQ(parsed[14].name, "surrogate ? end");
  std::map<std::string, int> last;
  for (std::size_t i = 15; i < parsed.size(); ++i) {
    ASSERT_EQ(parsed[i].kind, Kind::metric);
    const int value = static_cast<int>(parsed[i].value);
    if (last.count(parsed[i].name)) {
      EXPECT_EQ(value, last[parsed[i].name] + 1);
    }
    last[parsed[i].name] = value;
  }
  EXPECT_EQ(last.size(), 4u);
}

TEST(EventsPython, WithoutTheVariableEveryCallIsANoOp) {
  if (!have_python()) GTEST_SKIP() << kPython << " is not installed: the Python helper cannot be run here";
  const PythonRun run = run_python(R"PY(
import joulebench_events as jb
assert not jb.enabled()
jb.meta("framework", "x")
jb.metric("accuracy", 1.0)
with jb.region("train"):
    pass
print("ok")
)PY",
                                   /*events=*/false);
  ASSERT_EQ(run.status.shell_status(), 0) << run.out;
  EXPECT_EQ(run.out, "ok\n");
}

TEST(EventsPython, ABrokenPipeSwitchesEventsOff) {
  if (!have_python()) GTEST_SKIP() << kPython << " is not installed: the Python helper cannot be run here";
  const PythonRun run = run_python(R"PY(
import joulebench_events as jb
assert jb.enabled()
jb.metric("accuracy", 1.0)
assert not jb.enabled()
jb.begin("train")
print("survived")
)PY",
                                   /*events=*/true, /*broken=*/true);
  ASSERT_EQ(run.status.shell_status(), 0) << run.out;
  EXPECT_EQ(run.out, "survived\n");
}

// ---------------------------------------------------------------------------------------------
// OutputScanner: DLLogger

OutputScanner scanner_of(std::vector<OutputParser::Kind> kinds, std::vector<std::string> patterns = {}) {
  std::vector<OutputParser> parsers;
  for (auto kind : kinds) parsers.push_back(OutputParser{kind, {}, {}});
  for (auto& pattern : patterns) parsers.push_back(OutputParser{OutputParser::Kind::regex, pattern, {}});
  return OutputScanner(parsers);
}

/// The metrics of a list of events, by name (the last value of a name wins, as the runner keeps).
std::map<std::string, WorkloadEvent> metrics_of(const std::vector<WorkloadEvent>& events) {
  std::map<std::string, WorkloadEvent> out;
  for (const auto& event : events) {
    if (event.kind == Kind::metric) out[event.name] = event;
  }
  return out;
}

// As NVIDIA's DeepLearningExamples write them through dllogger's JSONStreamBackend
// (json.dumps of {timestamp, [datetime,] elapsedtime, type, step/metric, data/metadata}).
const std::vector<std::string> kDlloggerLog = {
    R"(DLLL {"timestamp": "1621245263.574566", "elapsedtime": "0.001193", "datetime": "2021-05-17 10:34:23.574566", "type": "METADATA", "metric": "train.loss", "metadata": {"unit": null, "format": ":.4f", "GOAL": "MINIMIZE", "STAGE": "TRAIN"}})",
    R"(DLLL {"timestamp": "1621245263.574912", "elapsedtime": "0.001539", "datetime": "2021-05-17 10:34:23.574912", "type": "METADATA", "metric": "train.compute_ips", "metadata": {"unit": "img/s", "format": ":.3f", "GOAL": "MAXIMIZE", "STAGE": "TRAIN"}})",
    R"(DLLL {"timestamp": "1621245263.575001", "elapsedtime": "0.001628", "datetime": "2021-05-17 10:34:23.575001", "type": "METADATA", "metric": "val.top1", "metadata": {"unit": "%", "format": ":.2f", "GOAL": "MAXIMIZE", "STAGE": "VAL"}})",
    R"(DLLL {"timestamp": "1621245263.575301", "datetime": "2021-05-17 10:34:23.575301", "elapsedtime": "0.001928", "type": "LOG", "step": "PARAMETER", "data": {"arch": "resnet50", "batch_size": 256, "lr": 0.256, "amp": true, "data_backend": "dali-cpu", "gpus": [0, 1]}})",
    "Epoch: [0][100/5005]\tLoss 6.8273 (6.9012)",  // other output in between
    R"(DLLL {"timestamp": "1621245275.123456", "datetime": "2021-05-17 10:34:35.123456", "elapsedtime": "11.550083", "type": "LOG", "step": [0, 100], "data": {"train.loss": 6.8273, "train.compute_ips": 1234.5, "train.lr": 0.256}})",
    R"(DLLL {"timestamp": "1621245287.654321", "datetime": "2021-05-17 10:34:47.654321", "elapsedtime": "24.080948", "type": "LOG", "step": [0, 200], "data": {"train.loss": 6.5012, "train.compute_ips": 1250.75, "train.lr": 0.256}})",
    R"(DLLL {"timestamp": "1621245399.987654", "datetime": "2021-05-17 10:36:39.987654", "elapsedtime": "136.414281", "type": "LOG", "step": [0], "data": {"val.top1": 3.914, "val.top5": 11.02}})",
    R"(DLLL {"timestamp": "1621245400.001122", "datetime": "2021-05-17 10:36:40.001122", "elapsedtime": "136.427749", "type": "LOG", "step": [], "data": {"train.loss": 6.5012, "train.compute_ips": 1242.6, "val.top1": 3.914}})",
};

TEST(OutputScannerDllogger, MetricsWithUnitsFromMetadata) {
  auto scanner = scanner_of({OutputParser::Kind::dllogger});
  std::vector<WorkloadEvent> all;
  for (const auto& line : kDlloggerLog) {
    auto events = scanner.scan(line);
    all.insert(all.end(), events.begin(), events.end());
  }
  EXPECT_EQ(scanner.malformed(), 0u);

  // The parameters are the run's settings: metadata, not metrics.
  std::map<std::string, std::string> settings;
  for (const auto& event : all) {
    if (event.kind == Kind::metadata) settings[event.name] = event.text;
  }
  EXPECT_EQ(settings, (std::map<std::string, std::string>{{"arch", "resnet50"},
                                                          {"batch_size", "256"},
                                                          {"lr", "0.256"},
                                                          {"amp", "true"},
                                                          {"data_backend", "dali-cpu"},
                                                          {"gpus", "[0,1]"}}));

  const auto metrics = metrics_of(all);
  ASSERT_EQ(metrics.size(), 5u);
  EXPECT_EQ(metrics.at("train.loss").value, 6.5012);
  EXPECT_EQ(metrics.at("train.loss").unit, "");
  EXPECT_EQ(metrics.at("train.compute_ips").value, 1242.6);  // the last one
  EXPECT_EQ(metrics.at("train.compute_ips").unit, "img/s");
  EXPECT_EQ(metrics.at("val.top1").unit, "%");
  EXPECT_EQ(metrics.at("val.top5").value, 11.02);
  EXPECT_EQ(metrics.at("val.top5").unit, "");
  EXPECT_EQ(metrics.at("train.lr").origin, "dllogger");
  std::size_t metric_count = 0;
  for (const auto& event : all) metric_count += event.kind == Kind::metric;
  EXPECT_EQ(metric_count, 3u + 3u + 2u + 3u);
}

TEST(OutputScannerDllogger, PrefixesBeforeTheMarkerAreAllowed) {
  auto scanner = scanner_of({OutputParser::Kind::dllogger});
  for (const std::string prefix : {"[0] ", "0: ", "2021-05-17 10:34:23,574 INFO ", "trainer-1  | "}) {
    const auto events = scanner.scan(
        prefix +
        R"(DLLL {"timestamp": "1621245263.574566", "datetime": "2021-05-17 10:34:23.574566", "elapsedtime": "1.5", "type": "LOG", "step": [1], "data": {"hr@10": 0.9561, "ndcg@10": 0.7233, "best_epoch": 1}})" +
        "\r");
    ASSERT_EQ(events.size(), 3u) << prefix;
    const auto metrics = metrics_of(events);  // (in the order of their names, as it happens)
    EXPECT_EQ(metrics.at("hr@10").value, 0.9561);
    EXPECT_EQ(metrics.at("ndcg@10").value, 0.7233);
    EXPECT_EQ(metrics.at("best_epoch").value, 1.0);
  }
  EXPECT_EQ(scanner.malformed(), 0u);
}

TEST(OutputScannerDllogger, PythonNonFiniteNumbersAreSkippedNotMalformed) {
  auto scanner = scanner_of({OutputParser::Kind::dllogger});
  const auto events = scanner.scan(
      R"(DLLL {"timestamp": "1621245275.1", "datetime": "2021-05-17 10:34:35.1", "elapsedtime": "11.5", "type": "LOG", "step": [0, 300], "data": {"train.loss": NaN, "grad_norm": Infinity, "min": -Infinity, "note": "NaN and Infinity in a string", "train.compute_ips": 1200.0}})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "train.compute_ips");
  EXPECT_EQ(events[0].value, 1200.0);
  EXPECT_EQ(scanner.malformed(), 0u);
}

TEST(OutputScannerDllogger, MalformedLinesAreSkippedAndCounted) {
  auto scanner = scanner_of({OutputParser::Kind::dllogger});
  const std::vector<std::string> bad = {
      R"(DLLL {"timestamp": "1621245275.1", "type": "LOG", "step": [0, 100], "data": {"train.loss": 0.5)",  // cut off
      R"(DLLL {not json at all})",
      R"(DLLL {"timestamp": "1", "type": "LOG", "step": [0]})",  // no data
      R"(DLLL {"timestamp": "1", "type": "LOG", "step": [0], "data": [1, 2]})",
      R"(DLLL {"timestamp": "1", "step": [0], "data": {"x": 1}})",  // no type
      R"(DLLL {"type": "METADATA", "metric": "x"})",                // no metadata
      R"(DLLL {})",
  };
  for (const auto& line : bad) EXPECT_TRUE(scanner.scan(line).empty()) << line;
  EXPECT_EQ(scanner.malformed(), bad.size());

  // Not DLLogger lines at all: not counted.
  for (const std::string line :
       {"grep DLLL train.log", "DLLL", "DLLL  ", "DLLL: 5 lines", "", "DLL 2021-05-17 - (0, 100) train.loss : 0.51"}) {
    EXPECT_TRUE(scanner.scan(line).empty()) << line;
  }
  EXPECT_EQ(scanner.malformed(), bad.size());

  // And a good line after them still counts.
  const auto events = scanner.scan(kDlloggerLog[5]);
  EXPECT_EQ(events.size(), 3u);
  // Other types of line (future ones) are ignored, not malformed.
  EXPECT_TRUE(scanner.scan(R"(DLLL {"type": "SUMMARY", "data": {"x": 1}})").empty());
  EXPECT_EQ(scanner.malformed(), bad.size());
}

TEST(OutputScannerDllogger, OnlyTheConfiguredParsersRun) {
  auto mllog_only = scanner_of({OutputParser::Kind::mllog});
  EXPECT_TRUE(mllog_only.scan(kDlloggerLog[5]).empty());
  EXPECT_TRUE(mllog_only.scan("DLLL {broken").empty());
  EXPECT_EQ(mllog_only.malformed(), 0u);
  auto none = scanner_of({});
  EXPECT_TRUE(none.scan(kDlloggerLog[5]).empty());
}

// ---------------------------------------------------------------------------------------------
// OutputScanner: MLPerf logging

// As the MLPerf training reference implementations and submissions print them (mlperf_logging's
// mllog: ":::MLLOG " + json.dumps of namespace, time_ms, event_type, key, value, metadata).
const std::vector<std::string> kMllogLog = {
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990885347, "event_type": "POINT_IN_TIME", "key": "cache_clear", "value": true, "metadata": {"file": "train.py", "lineno": 94}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990885348, "event_type": "INTERVAL_START", "key": "init_start", "value": null, "metadata": {"file": "train.py", "lineno": 95}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990885350, "event_type": "POINT_IN_TIME", "key": "submission_benchmark", "value": "resnet", "metadata": {"file": "/workspace/mlperf_log_utils.py", "lineno": 46}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990885351, "event_type": "POINT_IN_TIME", "key": "global_batch_size", "value": 3264, "metadata": {"file": "train.py", "lineno": 130}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990885352, "event_type": "POINT_IN_TIME", "key": "opt_base_learning_rate", "value": 12.0, "metadata": {"file": "train.py", "lineno": 131}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990899001, "event_type": "INTERVAL_END", "key": "init_stop", "value": null, "metadata": {"file": "train.py", "lineno": 160}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990899002, "event_type": "INTERVAL_START", "key": "run_start", "value": null, "metadata": {"file": "train.py", "lineno": 161}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990899010, "event_type": "INTERVAL_START", "key": "block_start", "value": null, "metadata": {"file": "train.py", "lineno": 170, "first_epoch_num": 1, "epoch_count": 4}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990899011, "event_type": "INTERVAL_START", "key": "epoch_start", "value": null, "metadata": {"file": "train.py", "lineno": 171, "epoch_num": 1}})",
    "Iteration:     90, Loss function: 8.76533031, Average Loss: 1.06040848",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990901234, "event_type": "INTERVAL_END", "key": "epoch_stop", "value": null, "metadata": {"file": "train.py", "lineno": 190, "epoch_num": 1}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990901240, "event_type": "INTERVAL_START", "key": "eval_start", "value": null, "metadata": {"file": "train.py", "lineno": 200, "epoch_num": 1}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990902001, "event_type": "POINT_IN_TIME", "key": "eval_accuracy", "value": 0.7589, "metadata": {"file": "train.py", "lineno": 210, "epoch_num": 1}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990902002, "event_type": "INTERVAL_END", "key": "eval_stop", "value": null, "metadata": {"file": "train.py", "lineno": 211, "epoch_num": 1}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990902003, "event_type": "INTERVAL_END", "key": "block_stop", "value": null, "metadata": {"file": "train.py", "lineno": 212, "first_epoch_num": 1}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1696565401886, "event_type": "POINT_IN_TIME", "key": "tracked_stats", "value": {"throughput": 5154997.267404211, "train_step_time": 1.25}, "metadata": {"file": "/workspace/llm/custom_callbacks.py", "lineno": 277, "step": 1211105280}})",
    R"(:::MLLOG {"namespace": "", "time_ms": 1593990902010, "event_type": "INTERVAL_END", "key": "run_stop", "value": null, "metadata": {"file": "train.py", "lineno": 230, "status": "success"}})",
};

TEST(OutputScannerMllog, RegionsMetricsAndMetadata) {
  auto scanner = scanner_of({OutputParser::Kind::mllog});
  std::vector<WorkloadEvent> all;
  for (const auto& line : kMllogLog) {
    auto events = scanner.scan(line);
    all.insert(all.end(), events.begin(), events.end());
  }
  EXPECT_EQ(scanner.malformed(), 0u);

  std::vector<std::string> regions;
  for (const auto& event : all) {
    if (event.kind == Kind::region_begin) regions.push_back("+" + event.name);
    if (event.kind == Kind::region_end) regions.push_back("-" + event.name);
  }
  EXPECT_EQ(regions, (std::vector<std::string>{"+init", "-init", "+run", "+block", "+epoch", "-epoch", "+eval", "-eval",
                                               "-block", "-run"}));

  const auto metrics = metrics_of(all);
  ASSERT_EQ(metrics.size(), 5u);
  EXPECT_EQ(metrics.at("global_batch_size").value, 3264.0);
  EXPECT_EQ(metrics.at("opt_base_learning_rate").value, 12.0);
  EXPECT_EQ(metrics.at("eval_accuracy").value, 0.7589);
  EXPECT_EQ(metrics.at("eval_accuracy").origin, "mllog");
  EXPECT_EQ(metrics.at("tracked_stats.throughput").value, 5154997.267404211);
  EXPECT_EQ(metrics.at("tracked_stats.train_step_time").value, 1.25);

  std::map<std::string, std::string> metadata;
  for (const auto& event : all) {
    if (event.kind == Kind::metadata) metadata[event.name] = event.text;
  }
  EXPECT_EQ(metadata,
            (std::map<std::string, std::string>{{"cache_clear", "true"}, {"submission_benchmark", "resnet"}}));
}

TEST(OutputScannerMllog, PrefixesBeforeTheMarkerAreAllowed) {
  auto scanner = scanner_of({OutputParser::Kind::mllog});
  auto events = scanner.scan(
      R"(0: :::MLLOG {"namespace": "", "time_ms": 1725490438668, "event_type": "INTERVAL_END", "key": "run_stop", "value": null, "metadata": {"file": "/usr/local/lib/python3.10/dist-packages/hydra/core/utils.py", "lineno": 186, "status": "success", "step_num": 2500}})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::region_end);
  EXPECT_EQ(events[0].name, "run");
  events = scanner.scan(
      R"(ray-training  | [0] :::MLLOG {"namespace": "", "time_ms": 1671571837234, "event_type": "POINT_IN_TIME", "key": "eval_accuracy", "value": 0.78221, "metadata": {"file": "/home/vmagent/app/dlrm_s_pytorch.py", "lineno": 1482, "epoch_num": 1.0000076351505636}})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "eval_accuracy");
  EXPECT_EQ(events[0].value, 0.78221);
  EXPECT_EQ(scanner.malformed(), 0u);
}

TEST(OutputScannerMllog, MalformedLinesAreSkippedAndCounted) {
  auto scanner = scanner_of({OutputParser::Kind::mllog});
  const std::vector<std::string> bad = {
      R"(:::MLLOG {"namespace": "", "time_ms": 1593990902001, "event_type": "POINT_IN_TIME", "key": "eval_accuracy", "val)",
      R"(:::MLLOG {"namespace": "", "time_ms": 1593990902001, "key": "eval_accuracy", "value": 0.7})",  // no event_type
      R"(:::MLLOG {"namespace": "", "time_ms": 1593990902001, "event_type": "POINT_IN_TIME", "value": 0.7})",  // no key
      R"(:::MLLOG {"event_type": "INTERVAL_START", "key": ""})",
      R"(:::MLLOG {"event_type": "INTERVAL_START", "key": 5})",
      R"(:::MLLOG {'event_type': 'INTERVAL_START'})",
  };
  for (const auto& line : bad) EXPECT_TRUE(scanner.scan(line).empty()) << line;
  EXPECT_EQ(scanner.malformed(), bad.size());
  // Not counted: no JSON object after the marker, events of other types, values that are no metric.
  for (const std::string line :
       {":::MLLOG", "see :::MLLOG lines below", R"(:::MLLOG {"event_type": "OTHER", "key": "x", "value": 1})",
        R"(:::MLLOG {"event_type": "POINT_IN_TIME", "key": "eval_accuracy", "value": NaN})",
        R"(:::MLLOG {"event_type": "POINT_IN_TIME", "key": "seed", "value": null})"}) {
    EXPECT_TRUE(scanner.scan(line).empty()) << line;
  }
  EXPECT_EQ(scanner.malformed(), bad.size());
}

// ---------------------------------------------------------------------------------------------
// OutputScanner: regexes

TEST(OutputScannerRegex, NamedGroupsThatAreNumbersBecomeMetrics) {
  auto scanner = scanner_of({}, {R"(loss (?<loss>[-+0-9.e]+), accuracy (?<accuracy>\S+) %)"});
  const auto events =
      scanner.scan("[0] Finished training it 150/150 of epoch 0, 465.29 ms/it, loss 0.462829, accuracy 78.277 %");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].name, "loss");
  EXPECT_EQ(events[0].value, 0.462829);
  EXPECT_EQ(events[0].origin, "regex");
  EXPECT_EQ(events[0].unit, "");
  EXPECT_EQ(events[1].name, "accuracy");
  EXPECT_EQ(events[1].value, 78.277);
  EXPECT_TRUE(scanner.scan("nothing here").empty());
  // A group whose text is not a whole number is skipped; the others of the match still count.
  const auto partial = scanner.scan("loss 1.2.3, accuracy 91.5 %");
  ASSERT_EQ(partial.size(), 1u);
  EXPECT_EQ(partial[0].name, "accuracy");
  for (const std::string text : {"nan", "inf", "12abc", "0x10", "1,5", "--1", "+-1", "."}) {
    EXPECT_EQ(scanner.scan("loss 0.5, accuracy " + text + " %").size(), 1u) << text;
  }
  EXPECT_EQ(scanner.scan("loss +7, accuracy -1e-3 %").size(), 2u);
  EXPECT_EQ(scanner.malformed(), 0u);
}

TEST(OutputScannerRegex, EveryMatchOnTheLine) {
  auto scanner = scanner_of({}, {R"((?<ms>[0-9.]+) ms/it)", R"(Throughput: (?<throughput>[0-9.]+) fps)"});
  const auto events = scanner.scan("it 1 12.5 ms/it, it 2 13.25 ms/it, it 3 11 ms/it; Throughput: 21.897 fps");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].value, 12.5);
  EXPECT_EQ(events[1].value, 13.25);
  EXPECT_EQ(events[2].value, 11.0);
  EXPECT_EQ(events[3].name, "throughput");
  EXPECT_EQ(events[3].value, 21.897);
}

TEST(OutputScannerRegex, EmptyMatchesEndAndOptionalGroupsAreSkipped) {
  auto scanner = scanner_of({}, {R"((?<n>\d*))", R"(a(?<opt>\d+)?b)"});
  const auto events = scanner.scan("x1yy22z ab a5b");
  std::vector<std::pair<std::string, double>> got;
  for (const auto& event : events) got.emplace_back(event.name, event.value);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, double>>{{"n", 1}, {"n", 22}, {"n", 5}, {"opt", 5}}));
  EXPECT_TRUE(scanner.scan("").empty());
}

TEST(OutputScannerRegex, ABadPatternIsRefusedWithItsOffsetAndReason) {
  try {
    scanner_of({}, {"loss (?<loss>[0-9.]+"});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "invalid regex 'loss (?<loss>[0-9.]+' at offset 20: missing closing parenthesis");
  }
  try {
    scanner_of({}, {"(?<loss>[0-9.+)"});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()).rfind("invalid regex '(?<loss>[0-9.+)' at offset 15: ", 0), 0u) << error.what();
  }
  try {
    scanner_of({}, {"loss ([0-9.]+)"});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()).rfind("invalid regex 'loss ([0-9.]+)': it has no named group", 0), 0u)
        << error.what();
  }
}

TEST(OutputScanner, AllParsersTogetherAndMovable) {
  auto first =
      scanner_of({OutputParser::Kind::dllogger, OutputParser::Kind::mllog}, {R"(Average Loss: (?<avg_loss>[0-9.]+))"});
  OutputScanner scanner = std::move(first);
  EXPECT_EQ(scanner.scan(kDlloggerLog[5]).size(), 3u);
  EXPECT_EQ(scanner.scan(kMllogLog[12]).size(), 1u);
  const auto events = scanner.scan(kMllogLog[9]);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "avg_loss");
  EXPECT_EQ(events[0].value, 1.06040848);
  scanner.scan("DLLL {oops");
  scanner.scan(":::MLLOG {oops");
  EXPECT_EQ(scanner.malformed(), 2u);
}

TEST(OutputScanner, LongLinesAreFine) {
  auto scanner = scanner_of({OutputParser::Kind::dllogger}, {R"(last=(?<last>\d+)$)"});
  std::string data;
  for (int i = 0; i < 20000; ++i) data += "\"m" + std::to_string(i) + "\": " + std::to_string(i) + ", ";
  const std::string line = R"(DLLL {"type": "LOG", "step": [1], "data": {)" + data + R"("end": 1}})";
  EXPECT_EQ(scanner.scan(line).size(), 20001u);
  const std::string noise = std::string(1 << 20, 'x') + " last=42";
  const auto events = scanner.scan(noise);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].value, 42.0);
}

}  // namespace
}  // namespace joulebench
