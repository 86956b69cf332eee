// Reading traces: joulebench's own format (profile.hpp) and `perf script` output.
#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "joulebench/profile.hpp"
#include "joulebench/trace_format.hpp"

namespace joulebench {

namespace {

std::vector<std::string_view> split(std::string_view line, char separator) {
  std::vector<std::string_view> fields;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = line.find(separator, begin);
    if (end == std::string_view::npos) {
      fields.push_back(line.substr(begin));
      return fields;
    }
    fields.push_back(line.substr(begin, end - begin));
    begin = end + 1;
  }
}

template <class Integer>
std::optional<Integer> integer(std::string_view text) {
  Integer value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

/// Reads a text line by line, with 1-based line numbers for messages.
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}
  bool next(std::string_view& line) {
    if (position_ >= text_.size()) return false;
    const std::size_t end = text_.find('\n', position_);
    const std::size_t stop = end == std::string_view::npos ? text_.size() : end;
    line = text_.substr(position_, stop - position_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    position_ = stop + 1;
    ++number_;
    return true;
  }
  int number() const { return number_; }

 private:
  std::string_view text_;
  std::size_t position_ = 0;
  int number_ = 0;
};

}  // namespace

std::string_view profile_mode_name(ProfileMode mode) {
  switch (mode) {
    case ProfileMode::python: return "python";
    case ProfileMode::cprofile: return "cprofile";
    case ProfileMode::torch: return "torch";
    case ProfileMode::perf: return "perf";
  }
  return "?";
}

std::optional<ProfileMode> parse_profile_mode(std::string_view name) {
  for (auto mode : {ProfileMode::python, ProfileMode::cprofile, ProfileMode::torch, ProfileMode::perf}) {
    if (profile_mode_name(mode) == name) return mode;
  }
  return std::nullopt;
}

std::uint32_t Trace::intern(std::string_view stack) {
  const auto [it, added] = stack_index_.try_emplace(std::string(stack), static_cast<std::uint32_t>(stacks.size()));
  if (added) stacks.emplace_back(stack);
  return it->second;
}

Trace parse_trace(std::string_view text, const std::string& source) {
  Trace trace;
  Lines lines(text);
  std::string_view line;
  const auto fail = [&](const std::string& message) -> void {
    throw TraceError(fmt::format("{}:{}: {}", source, lines.number(), message));
  };
  if (!lines.next(line))
    throw TraceError(fmt::format("{}: the trace is empty (the profiled program wrote nothing)", source));
  if (line != kTraceHeader) fail(fmt::format("not a joulebench trace: the first line must be '{}'", kTraceHeader));
  while (lines.next(line)) {
    if (line.empty() || line.front() == '#') continue;
    const auto fields = split(line, '\t');
    const auto expect = [&](std::size_t count, const char* form) {
      if (fields.size() != count)
        fail(fmt::format("a '{}' record has {} fields, not {} ({})", fields[0], fields.size(), count, form));
    };
    const auto number = [&]<class Integer>(std::string_view field, const char* what, Integer) {
      const auto value = integer<Integer>(field);
      if (!value) fail(fmt::format("{} '{}' is not an integer", what, field));
      return *value;
    };
    const auto stack = [&](std::string_view field) {
      if (field.empty()) fail("empty stack");
      for (const auto frame : split(field, ';')) {
        if (frame.empty()) fail(fmt::format("empty frame name in stack '{}'", field));
      }
      return trace.intern(field);
    };
    const std::string_view kind = fields[0];
    if (kind == "s") {
      expect(4, "s <t_ns> <tid> <stack>");
      trace.samples.push_back(
          {number(fields[1], "time", std::int64_t{}), number(fields[2], "thread", std::uint64_t{}), stack(fields[3])});
    } else if (kind == "i") {
      expect(5, "i <start_ns> <end_ns> <tid> <stack>");
      TraceInterval interval{number(fields[1], "start", std::int64_t{}), number(fields[2], "end", std::int64_t{}),
                             number(fields[3], "thread", std::uint64_t{}), stack(fields[4])};
      if (interval.end_ns < interval.start_ns) fail("the interval ends before it starts");
      trace.intervals.push_back(interval);
    } else if (kind == "f") {
      expect(5, "f <calls> <self_ns> <total_ns> <name>");
      TraceFunction f{std::string(fields[4]), number(fields[1], "calls", std::uint64_t{}),
                      number(fields[2], "self time", std::int64_t{}), number(fields[3], "total time", std::int64_t{})};
      if (f.name.empty()) fail("empty function name");
      if (f.self_ns < 0 || f.total_ns < 0) fail("negative time");
      trace.functions.push_back(std::move(f));
    } else if (kind == "c") {
      expect(3, "c <name> <calls>");
      if (fields[1].empty()) fail("empty function name");
      trace.call_counts[std::string(fields[1])] += number(fields[2], "calls", std::uint64_t{});
    } else if (kind == "mode") {
      expect(2, "mode <name>");
      trace.mode = parse_profile_mode(fields[1]);
      if (!trace.mode) fail(fmt::format("unknown mode '{}' (python, cprofile, torch or perf)", fields[1]));
    } else if (kind == "clock") {
      expect(2, "clock monotonic_ns");
      if (fields[1] != kTraceClock)
        fail(fmt::format("unknown clock '{}': only {} is understood", fields[1], kTraceClock));
    } else {
      fail(fmt::format("unknown record type '{}' (s, i, f, c, mode or clock)", kind));
    }
  }
  return trace;
}

Trace read_trace(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw TraceError(
        fmt::format("{}: no trace was written (did the profiled program start, and exit normally?)", file.string()));
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_trace(text.str(), file.string());
}

void parse_perf_script(std::string_view text, const std::string& source, Trace& trace) {
  // A sample: "comm tid time: " (comm may hold spaces), then one "\t<ip> <symbol> (<object>)" line
  // per frame, leaf first, then an empty line.
  Lines lines(text);
  std::string_view line;
  std::optional<TraceSample> current;
  std::vector<std::string> frames;
  const auto finish = [&] {
    if (!current) return;
    std::string stack;
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      if (!stack.empty()) stack += ';';
      stack += *it;
    }
    if (stack.empty()) stack = "[unknown]";
    current->stack = trace.intern(stack);
    trace.samples.push_back(*current);
    current.reset();
    frames.clear();
  };
  const auto fail = [&](const std::string& message) {
    throw TraceError(fmt::format("{}:{}: {}: '{}'", source, lines.number(), message, line));
  };
  while (lines.next(line)) {
    if (line.empty()) {
      finish();
      continue;
    }
    if (line.front() == '\t' || line.front() == ' ') {
      if (!current) continue;  // perf's own notes before the first sample
      std::string_view frame = line;
      while (!frame.empty() && (frame.front() == '\t' || frame.front() == ' ')) frame.remove_prefix(1);
      const std::size_t space = frame.find(' ');
      if (space == std::string_view::npos) fail("a frame without a symbol");
      frame.remove_prefix(space + 1);  // the address
      std::string_view object;
      if (frame.size() >= 2 && frame.back() == ')') {
        const std::size_t open = frame.rfind(" (");
        if (open != std::string_view::npos) {
          object = frame.substr(open + 2, frame.size() - open - 3);
          frame = frame.substr(0, open);
        }
      }
      std::string name(frame);
      if (name.empty() || name == "[unknown]") {
        const std::size_t slash = object.rfind('/');
        if (object.empty()) name = "[unknown]";
        else if (object.front() == '[') name = std::string(object);  // [kernel.kallsyms], [unknown], [vdso]
        else name = fmt::format("[{}]", slash == std::string_view::npos ? object : object.substr(slash + 1));
      }
      // Symbols with an offset ("f+0x12") when perf shows them: the function is what matters.
      if (const std::size_t plus = name.rfind("+0x"); plus != std::string::npos && plus > 0) name.resize(plus);
      for (char& c : name) {
        if (c == ';' || c == '\t') c = ' ';
      }
      frames.push_back(std::move(name));
      continue;
    }
    finish();
    // Header: the last two fields are the tid and "seconds.nanoseconds:".
    std::string_view header = line;
    while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
    if (header.empty() || header.back() != ':') fail("a sample header must end with the time and ':'");
    header.remove_suffix(1);
    const std::size_t time_at = header.rfind(' ');
    if (time_at == std::string_view::npos) fail("no time in the sample header");
    const std::string_view time = header.substr(time_at + 1);
    header = header.substr(0, time_at);
    while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
    const std::size_t tid_at = header.rfind(' ');
    const std::string_view tid = tid_at == std::string_view::npos ? header : header.substr(tid_at + 1);
    const std::size_t dot = time.find('.');
    if (dot == std::string_view::npos) fail("the time has no fraction (run perf script with --ns)");
    const auto seconds = integer<std::int64_t>(time.substr(0, dot));
    const std::string_view fraction = time.substr(dot + 1);
    const auto part = integer<std::int64_t>(fraction);
    const auto thread = integer<std::uint64_t>(tid);
    if (!seconds || !part || fraction.size() > 9 || !thread) fail("cannot read the thread and time");
    std::int64_t nanoseconds = *part;
    for (std::size_t i = fraction.size(); i < 9; ++i) nanoseconds *= 10;
    current = TraceSample{*seconds * 1'000'000'000 + nanoseconds, *thread, 0};
  }
  finish();
}

}  // namespace joulebench
