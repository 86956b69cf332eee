// The in-program Monitor (include/joulebench/monitor.hpp) over the real powercap source, reading a
// fake RAPL tree advanced at a known power; its requests and joulebench's replies on the events
// channel (monitor_protocol.hpp), over inherited pipes and over FIFOs named by path; and a Monitor
// over the machine's own sources.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "fakes/fake_tree.hpp"
#include "joulebench/event_parser.hpp"
#include "joulebench/events.hpp"
#include "joulebench/monitor.hpp"
#include "joulebench/monitor_protocol.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::PoweredCounter;
using testing::TempDir;

using testing::ScopedVariable;

/// A powercap package zone whose counter advances at `watts`, with the Monitor's sources pointed at it.
class KnownPower : public ::testing::Test {
 protected:
  static constexpr double kWatts = 40.0;
  KnownPower()
      : zone_(make_zone(sysfs_.path())),
        counter_(zone_ / "energy_uj", kWatts),
        sysfs_variable_("JOULEBENCH_SYSFS_ROOT", sysfs_.path().string()),
        events_variable_("JOULEBENCH_EVENTS_FD", "") {}
  static fs::path make_zone(const fs::path& sysfs) {
    const fs::path zone = sysfs / "class" / "powercap" / "intel-rapl:0";
    testing::make_powercap_zone(zone, "package-0", 1'000'000, 262'143'328'850);
    return zone;
  }
  static MonitorOptions powercap() {
    MonitorOptions options;
    options.sources = {"rapl-powercap"};
    options.interval = 20ms;
    return options;
  }
  /// The energy a window of `time_s` must show: within 1 % of the known power's.
  static void expect_known_power(const Measurement& m, double watts = kWatts) {
    ASSERT_TRUE(m.energy_j.contains("cpu")) << m.to_json();
    EXPECT_NEAR(m.energy_j.at("cpu"), watts * m.time_s, 0.01 * watts * m.time_s) << m.to_json();
  }

  TempDir sysfs_;
  fs::path zone_;
  PoweredCounter counter_;
  ScopedVariable sysfs_variable_;
  ScopedVariable events_variable_;  // standalone: no joulebench around these tests
};

TEST_F(KnownPower, AWindowMeasuresTheKnownPowerWithinOnePercent) {
  Monitor monitor(powercap());
  EXPECT_FALSE(monitor.under_joulebench());
  EXPECT_EQ(monitor.sources(), (std::map<std::string, std::string>{{"cpu", "rapl-powercap"}}));
  monitor.begin_window("train");
  std::this_thread::sleep_for(400ms);
  const Measurement m = monitor.end_window("train");
  EXPECT_EQ(m.name, "train");
  EXPECT_NEAR(m.time_s, 0.4, 0.1);
  expect_known_power(m);
  EXPECT_DOUBLE_EQ(m.total_j, m.energy_j.at("cpu"));
  EXPECT_FALSE(m.estimated.at("cpu"));
  EXPECT_TRUE(m.complete.at("cpu"));
  EXPECT_EQ(m.sources.at("cpu"), "rapl-powercap");
  EXPECT_TRUE(m.dynamic_energy_j.empty());
  EXPECT_FALSE(m.dynamic_total_j);

  // The JSON names its figures as `measure --json` does.
  const auto json = nlohmann::json::parse(m.to_json());
  EXPECT_EQ(json["name"], "train");
  ASSERT_EQ(json["energy"].size(), 2U);  // cpu, then the total
  EXPECT_EQ(json["energy"][0]["domain"], "cpu");
  EXPECT_EQ(json["energy"][0]["source"], "rapl-powercap");
  EXPECT_EQ(json["energy"][0]["method"], "counter");
  EXPECT_EQ(json["energy"][1]["domain"], "total");
  EXPECT_DOUBLE_EQ(json["energy"][1]["energy_j"].get<double>(), m.total_j);
}

TEST_F(KnownPower, WindowsNestOverlapAndEndInAnyOrder) {
  Monitor monitor(powercap());
  monitor.begin_window("outer");
  std::this_thread::sleep_for(100ms);
  {
    ScopedWindow inner(monitor, "inner");
    std::this_thread::sleep_for(150ms);
    monitor.begin_window("overlap");
    std::this_thread::sleep_for(100ms);
    const Measurement i = inner.end();
    expect_known_power(i);
    EXPECT_THROW(inner.end(), MonitorError);
  }
  std::this_thread::sleep_for(100ms);
  const Measurement outer = monitor.end_window("outer");
  const Measurement overlap = monitor.end_window("overlap");
  expect_known_power(outer);
  expect_known_power(overlap);
  EXPECT_GT(outer.time_s, overlap.time_s);
  EXPECT_GT(outer.total_j, overlap.total_j);
}

TEST_F(KnownPower, NamesAreCheckedWithClearErrors) {
  Monitor monitor(powercap());
  monitor.begin_window("a");
  try {
    monitor.begin_window("a");
    FAIL() << "a second begin of an open window was accepted";
  } catch (const MonitorError& e) {
    EXPECT_STREQ(e.what(), "window 'a' is already open: end it before beginning it again");
  }
  monitor.end_window("a");
  try {
    monitor.end_window("a");
    FAIL() << "a second end was accepted";
  } catch (const MonitorError& e) {
    EXPECT_STREQ(e.what(), "window 'a' has already ended");
  }
  try {
    monitor.end_window("never");
    FAIL() << "the end of a window never begun was accepted";
  } catch (const MonitorError& e) {
    EXPECT_STREQ(e.what(), "no window 'never' is open: begin_window opens it");
  }
  EXPECT_THROW(monitor.begin_window(""), MonitorError);
  // Once ended, a name may be used again.
  monitor.begin_window("a");
  EXPECT_NO_THROW(monitor.end_window("a"));

  MonitorOptions unknown;
  unknown.sources = {"rapl-magic"};
  try {
    Monitor bad(unknown);
    FAIL() << "an unknown source was accepted";
  } catch (const MonitorError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown source 'rapl-magic'"), std::string::npos) << e.what();
  }
  MonitorOptions no_interval = powercap();
  no_interval.interval = 0s;
  EXPECT_THROW(Monitor{no_interval}, MonitorError);
}

TEST_F(KnownPower, WindowsFromSeveralThreadsAtOnce) {
  Monitor monitor(powercap());
  std::vector<std::thread> threads;
  std::vector<Measurement> results(4);
  for (std::size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      const std::string name = "thread-" + std::to_string(t);
      for (int i = 0; i < 20; ++i) {
        monitor.begin_window(name);
        std::this_thread::sleep_for(5ms);
        results[t] = monitor.end_window(name);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& m : results) {
    EXPECT_GE(m.time_s, 0.005);
    EXPECT_GT(m.total_j, 0.0);
  }
}

TEST_F(KnownPower, TrackedCallsAreSummed) {
  Monitor monitor(powercap());
  for (int i = 0; i < 5; ++i) {
    TrackedCall call = monitor.begin_call("step");
    std::this_thread::sleep_for(40ms);
    monitor.end_call(std::move(call));
  }
  const Totals steps = monitor.totals("step");
  EXPECT_EQ(steps.calls, 5U);
  EXPECT_NEAR(steps.time_s, 0.2, 0.08);
  expect_known_power(steps);
  EXPECT_EQ(monitor.tracked(), std::vector<std::string>{"step"});
  EXPECT_EQ(monitor.totals("other").calls, 0U);
  TrackedCall ended = monitor.begin_call("step");
  monitor.end_call(std::move(ended));
  EXPECT_THROW(monitor.end_call(std::move(ended)), MonitorError);  // NOLINT: used after move on purpose
}

TEST_F(KnownPower, AnIdleBaselineGivesDynamicEnergy) {
  MonitorOptions options = powercap();
  options.idle = 300ms;
  Monitor monitor(options);  // idle at kWatts
  ASSERT_TRUE(monitor.idle_power_w().contains("cpu"));
  EXPECT_NEAR(monitor.idle_power_w().at("cpu"), kWatts, 0.01 * kWatts);
  counter_.set_watts(kWatts + 25.0);
  monitor.begin_window("busy");
  std::this_thread::sleep_for(300ms);
  const Measurement m = monitor.end_window("busy");
  expect_known_power(m, kWatts + 25.0);
  ASSERT_TRUE(m.dynamic_energy_j.contains("cpu"));
  EXPECT_NEAR(m.dynamic_energy_j.at("cpu"), 25.0 * m.time_s, 0.02 * (kWatts + 25.0) * m.time_s);
  ASSERT_TRUE(m.dynamic_total_j);
  EXPECT_NEAR(*m.dynamic_total_j, m.dynamic_energy_j.at("cpu"), 1e-9);
}

TEST_F(KnownPower, EdgesCallTheHookBeforeReading) {
  MonitorOptions options = powercap();
  int edges = 0;
  options.at_edge = [&] { ++edges; };
  Monitor monitor(options);
  monitor.begin_window("w");
  monitor.end_window("w");
  TrackedCall call = monitor.begin_call("c");
  monitor.end_call(std::move(call));
  EXPECT_EQ(edges, 4);
}

TEST_F(KnownPower, AForkedChildMustMakeItsOwn) {
  Monitor monitor(powercap());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      monitor.begin_window("child");
    } catch (const MonitorError&) {
      ::_exit(0);
    }
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child used its parent's Monitor";
}

TEST_F(KnownPower, ACounterThatNeverAdvancesMeasuresNothingEvenInShortWindows) {
  // A platform zone that reads the same forever (a VM's psys): no window is a measurement of it.
  testing::make_powercap_zone(sysfs_.path() / "class" / "powercap" / "intel-rapl:1", "psys", 5'000'000,
                              262'143'328'850);
  Monitor monitor(powercap());
  ASSERT_EQ(monitor.sources().count("psys"), 1U);
  monitor.begin_window("long");
  std::this_thread::sleep_for(150ms);
  const Measurement long_window = monitor.end_window("long");
  monitor.begin_window("short");  // too short to judge alone; the counter's history judges it
  std::this_thread::sleep_for(10ms);
  const Measurement short_window = monitor.end_window("short");
  expect_known_power(long_window);  // the counter is written every millisecond: 10 ms is too short
  for (const Measurement* m : {&long_window, &short_window}) {
    EXPECT_FALSE(m->energy_j.contains("psys")) << m->to_json();
    EXPECT_FALSE(m->complete.at("psys"));
    EXPECT_TRUE(m->complete.at("cpu"));
    EXPECT_NE(m->to_json().find("did not advance"), std::string::npos) << m->to_json();
  }
}

// The machine as it is: whatever sources it has, unredirected (the estimate on a VM).
TEST(MonitorOnThisMachine, GivesFiniteLabelledFigures) {
  ::unsetenv("JOULEBENCH_EVENTS_FD");
  Monitor monitor;
  monitor.begin_window("spin");
  const auto until = std::chrono::steady_clock::now() + 200ms;
  volatile double x = 1;
  while (std::chrono::steady_clock::now() < until) x = std::sqrt(x + 1.0);
  const Measurement m = monitor.end_window("spin");
  EXPECT_GT(m.time_s, 0.19);
  for (const auto& [domain, joules] : m.energy_j) {
    EXPECT_TRUE(std::isfinite(joules)) << domain;
    EXPECT_GE(joules, 0.0) << domain;
    EXPECT_EQ(m.estimated.at(domain), m.sources.at(domain) == "estimate") << domain;
  }
  EXPECT_GE(m.total_j, 0.0);
}

TEST(MonitorProtocol, RepliesReadBackExactly) {
  std::vector<Channel> channels(2);
  channels[0] = {"cpu-0", Domain::cpu, 0, "rapl-powercap", Method::counter, false, "intel-rapl:0"};
  channels[1] = {"dram-0", Domain::dram, 0, "estimate", Method::model, true, "ccf \"linear\""};
  const std::string hello = protocol::hello_reply(7, channels, Seconds(0.05));
  EXPECT_EQ(hello.back(), '\n');
  EXPECT_EQ(protocol::reply_number(hello), 7U);
  const protocol::Hello read = protocol::parse_hello(hello);
  ASSERT_EQ(read.channels.size(), 2U);
  EXPECT_EQ(read.channels[1].id, "dram-0");
  EXPECT_EQ(read.channels[1].domain, Domain::dram);
  EXPECT_EQ(read.channels[1].method, Method::model);
  EXPECT_TRUE(read.channels[1].estimated);
  EXPECT_EQ(read.channels[1].origin, "ccf \"linear\"");
  EXPECT_DOUBLE_EQ(read.interval.count(), 0.05);

  Meter::Mark mark{Seconds(1.25), {Joules(10.5), Joules(0.1 + 0.2)}, {Seconds(0), Seconds(0.3)}, {"", "lost"}};
  const std::string line = protocol::mark_reply(8, mark);
  EXPECT_EQ(protocol::reply_number(line), 8U);
  const Meter::Mark back = protocol::parse_mark(line, 2);
  EXPECT_EQ(back.time, mark.time);
  EXPECT_EQ(back.energy[1].value, mark.energy[1].value);  // exactly: the JSON keeps every bit
  EXPECT_EQ(back.unmeasured[1], mark.unmeasured[1]);
  EXPECT_EQ(back.problems[1], "lost");
  EXPECT_THROW(protocol::parse_mark(line, 3), std::invalid_argument);
  EXPECT_THROW(protocol::parse_hello("{\"reply\":1}"), std::invalid_argument);
  EXPECT_FALSE(protocol::reply_number("not json"));
}

TEST(MonitorProtocol, RequestsAreEventsWithAReplyNumber) {
  const auto begin = parse_event_line(R"({"event":"begin","region":"train","reply":3})");
  ASSERT_TRUE(begin);
  EXPECT_EQ(begin->kind, WorkloadEvent::Kind::region_begin);
  EXPECT_EQ(begin->reply, 3U);
  const auto plain = parse_event_line(R"({"event":"end","region":"train"})");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->reply);
  const auto mark = parse_event_line(R"({"event":"mark","reply":4})");
  ASSERT_TRUE(mark);
  EXPECT_EQ(mark->kind, WorkloadEvent::Kind::mark);
  const auto hello = parse_event_line(R"({"event":"hello","reply":1})");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->kind, WorkloadEvent::Kind::hello);
  // A request nobody waits for, or a number that is not a whole one, is malformed.
  EXPECT_FALSE(parse_event_line(R"({"event":"mark"})"));
  EXPECT_FALSE(parse_event_line(R"({"event":"mark","reply":-1})"));
  EXPECT_FALSE(parse_event_line(R"({"event":"begin","region":"x","reply":"2"})"));
}

// ---------------------------------------------------------------------------------------------
// A Monitor under a scripted joulebench: the events channel read and a Monitor's requests answered
// as src/run/events_channel.cpp does, over inherited pipes (JOULEBENCH_EVENTS_FD/REPLIES_FD) or over
// FIFOs named by path (JOULEBENCH_EVENTS_PATH/REPLIES_PATH), as in a container.

/// Reads events from `events_fd` on a thread and answers requests on `replies_fd`: a hello with one
/// rapl-powercap cpu channel, each reading with a clock that advances 0.5 s and a counter of 40 W
/// per request (the first at 1 s, 40 J). The descriptors stay the caller's.
class ScriptedJoulebench {
 public:
  ScriptedJoulebench(int events_fd, int replies_fd) : events_fd_(events_fd), replies_fd_(replies_fd) {
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedJoulebench() { stop(); }
  ScriptedJoulebench(const ScriptedJoulebench&) = delete;
  ScriptedJoulebench& operator=(const ScriptedJoulebench&) = delete;

  /// Stops serving; returns every event line read.
  std::vector<std::string> stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return lines_;
  }

 private:
  void serve() {
    std::string pending;
    while (!stop_) {
      pollfd waiter{events_fd_, POLLIN, 0};
      if (::poll(&waiter, 1, 20) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(events_fd_, buffer, sizeof buffer);
      if (n <= 0) {
        if (n == 0) std::this_thread::sleep_for(5ms);  // no writer now (a FIFO without a keeper)
        continue;
      }
      pending.append(buffer, static_cast<std::size_t>(n));
      for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
        const std::string line = pending.substr(0, newline);
        pending.erase(0, newline + 1);
        lines_.push_back(line);
        answer(line);
      }
    }
  }
  void answer(const std::string& line) {
    const auto event = parse_event_line(line);
    if (!event || !event->reply) return;
    std::string reply;
    if (event->kind == WorkloadEvent::Kind::hello) {
      Channel cpu;
      cpu.id = "cpu-0";
      cpu.domain = Domain::cpu;
      cpu.source = "rapl-powercap";
      cpu.method = Method::counter;
      cpu.origin = "intel-rapl:0";
      const std::vector<Channel> channels = {cpu};
      reply = protocol::hello_reply(*event->reply, channels, Seconds(0.05));
    } else {
      const double time_s = 1.0 + 0.5 * static_cast<double>(readings_++);
      const Meter::Mark mark{Seconds(time_s), {Joules(40.0 * time_s)}, {Seconds(0)}, {""}};
      reply = protocol::mark_reply(*event->reply, mark);
    }
    const ssize_t written = ::write(replies_fd_, reply.data(), reply.size());
    EXPECT_EQ(written, static_cast<ssize_t>(reply.size()));
  }

  int events_fd_;
  int replies_fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::string> lines_;
  int readings_ = 0;
};

/// The events and replies FIFOs in a temporary folder, held open as joulebench holds them (events
/// for reading without waiting plus a write keeper; replies read-write, non-blocking), and named
/// by the PATH variables while the object lives; the FD variables are unset. With `listen` false,
/// they exist but nobody holds them open.
class ChannelFifos {
 public:
  explicit ChannelFifos(bool listen = true)
      : events_path_(dir_.path() / "events"),
        replies_path_(dir_.path() / "replies"),
        events_fd_variable_(kEventsFdVariable, ""),
        replies_fd_variable_(kRepliesFdVariable, ""),
        events_path_variable_(kEventsPathVariable, events_path_.string()),
        replies_path_variable_(kRepliesPathVariable, replies_path_.string()) {
    if (::mkfifo(events_path_.c_str(), 0600) != 0 || ::mkfifo(replies_path_.c_str(), 0600) != 0) {
      throw std::runtime_error("mkfifo failed");
    }
    if (listen) {
      events_fd_ = ::open(events_path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      keeper_fd_ = ::open(events_path_.c_str(), O_WRONLY | O_CLOEXEC);
      replies_fd_ = ::open(replies_path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (events_fd_ < 0 || keeper_fd_ < 0 || replies_fd_ < 0) throw std::runtime_error("cannot open the FIFOs");
    }
    events::detail::reset_for_tests();
  }
  ~ChannelFifos() {
    events::detail::reset_for_tests();
    for (const int fd : {events_fd_, keeper_fd_, replies_fd_}) {
      if (fd >= 0) ::close(fd);
    }
  }
  ChannelFifos(const ChannelFifos&) = delete;
  ChannelFifos& operator=(const ChannelFifos&) = delete;

  const fs::path& events_path() const { return events_path_; }
  int events_fd() const { return events_fd_; }
  int replies_fd() const { return replies_fd_; }
  /// Whatever is waiting to be read on the events FIFO.
  std::string unread_events() const {
    std::string text;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(events_fd_, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
    return text;
  }

 private:
  TempDir dir_;
  fs::path events_path_;
  fs::path replies_path_;
  ScopedVariable events_fd_variable_;
  ScopedVariable replies_fd_variable_;
  ScopedVariable events_path_variable_;
  ScopedVariable replies_path_variable_;
  int events_fd_ = -1;
  int keeper_fd_ = -1;
  int replies_fd_ = -1;
};

/// The events the scripted joulebench read, without their request numbers: "hello", "begin train"...
std::vector<std::string> requests_of(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& line : lines) {
    const auto event = parse_event_line(line);
    if (!event) {
      out.push_back("malformed: " + line);
      continue;
    }
    std::string text;
    switch (event->kind) {
      case WorkloadEvent::Kind::hello: text = "hello"; break;
      case WorkloadEvent::Kind::mark: text = "mark"; break;
      case WorkloadEvent::Kind::region_begin: text = "begin " + event->name; break;
      case WorkloadEvent::Kind::region_end: text = "end " + event->name; break;
      default: text = "other " + event->name; break;
    }
    if (!event->reply) text += " (no reply asked)";
    out.push_back(text);
  }
  return out;
}

TEST(MonitorOverFifos, HelloAndAWindowAnsweredOnTheRepliesFifo) {
  ChannelFifos fifos;
  ScriptedJoulebench joulebench(fifos.events_fd(), fifos.replies_fd());
  std::vector<std::string> lines;
  {
    Monitor monitor;
    EXPECT_TRUE(monitor.under_joulebench());
    EXPECT_EQ(monitor.sources(), (std::map<std::string, std::string>{{"cpu", "rapl-powercap"}}));
    monitor.begin_window("train");
    const Measurement m = monitor.end_window("train");
    // joulebench's readings, not the machine's: 1.0 s and 40 J, then 1.5 s and 60 J.
    EXPECT_DOUBLE_EQ(m.time_s, 0.5);
    ASSERT_TRUE(m.energy_j.contains("cpu")) << m.to_json();
    EXPECT_DOUBLE_EQ(m.energy_j.at("cpu"), 20.0);
    EXPECT_EQ(m.sources.at("cpu"), "rapl-powercap");
    lines = joulebench.stop();
  }
  EXPECT_EQ(requests_of(lines), (std::vector<std::string>{"hello", "begin train", "end train"}));
}

TEST(MonitorOverFifos, TheFdVariablesWinOverThePaths) {
  // FIFOs that joulebench holds open but never answers on: a Monitor that used them would wait
  // 10 s for a hello and fail.
  ChannelFifos fifos;
  int events_pipe[2];
  int replies_pipe[2];
  ASSERT_EQ(::pipe2(events_pipe, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(replies_pipe, O_CLOEXEC), 0);
  std::vector<std::string> lines;
  {
    ScopedVariable events_fd(kEventsFdVariable, std::to_string(events_pipe[1]));
    ScopedVariable replies_fd(kRepliesFdVariable, std::to_string(replies_pipe[0]));
    events::detail::reset_for_tests();
    ScriptedJoulebench joulebench(events_pipe[0], replies_pipe[1]);
    Monitor monitor;
    EXPECT_TRUE(monitor.under_joulebench());
    monitor.begin_window("eval");
    EXPECT_DOUBLE_EQ(monitor.end_window("eval").energy_j.at("cpu"), 20.0);
    lines = joulebench.stop();
  }
  events::detail::reset_for_tests();
  for (const int fd : {events_pipe[0], events_pipe[1], replies_pipe[0], replies_pipe[1]}) ::close(fd);
  EXPECT_EQ(requests_of(lines), (std::vector<std::string>{"hello", "begin eval", "end eval"}));
  EXPECT_EQ(fifos.unread_events(), "");
}

TEST_F(KnownPower, FifosNobodyReadsLeaveTheMonitorStandaloneWithoutWaiting) {
  ChannelFifos fifos(/*listen=*/false);
  // On a thread, so a Monitor that waits for a reader of the events FIFO fails the test instead
  // of hanging it.
  auto made = std::make_shared<std::promise<std::unique_ptr<Monitor>>>();
  auto result = made->get_future();
  std::thread([made] {
    try {
      made->set_value(std::make_unique<Monitor>(powercap()));
    } catch (...) {
      made->set_exception(std::current_exception());
    }
  }).detach();
  if (result.wait_for(10s) != std::future_status::ready) {
    const int reader = ::open(fifos.events_path().c_str(), O_RDONLY | O_NONBLOCK);  // lets it go on
    result.wait();
    if (reader >= 0) ::close(reader);
    FAIL() << "the Monitor waited for a reader of the events FIFO";
  }
  const std::unique_ptr<Monitor> monitor = result.get();
  EXPECT_FALSE(monitor->under_joulebench());
  monitor->begin_window("train");
  std::this_thread::sleep_for(200ms);
  expect_known_power(monitor->end_window("train"));
}

}  // namespace
}  // namespace joulebench
