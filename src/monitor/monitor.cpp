#include "joulebench/monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/event_parser.hpp"
#include "joulebench/events.hpp"
#include "joulebench/figures.hpp"
#include "joulebench/json_output.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/monitor_protocol.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench {

namespace detail {

/// joulebench's own figures of a Measurement: per domain, then the total.
struct MeasuredFigures {
  std::vector<EnergyFigure> energy;
};

namespace {

/// How long a Monitor waits for joulebench to answer: it answers in microseconds unless the
/// machine is starved, and a run it stopped watching never answers.
constexpr Seconds kReplyTimeout{10.0};

/// Where a Monitor's readings come from.
class Readings {
 public:
  virtual ~Readings() = default;
  virtual const std::vector<Channel>& channels() const = 0;
  virtual Seconds interval() const = 0;
  /// A reading now; `region` and `begin` say which region edge it is, if any (empty: none).
  virtual Meter::Mark read(std::string_view region, bool begin) = 0;
  virtual bool under_joulebench() const = 0;
};

/// Standalone: the machine's sources, read by a meter of the Monitor's own. Where joulebench runs
/// the program with only an events descriptor (not two-way), windows are still marked as regions.
class LocalReadings final : public Readings {
 public:
  LocalReadings(const MonitorOptions& options)
      : sensors_(open_sensors(options)), meter_(sensors_, MeterOptions{Seconds(options.interval.count()), nullptr}) {
    channels_.assign(sensors_.channels().begin(), sensors_.channels().end());
    meter_.start();
  }
  const std::vector<Channel>& channels() const override { return channels_; }
  Seconds interval() const override { return meter_.interval(); }
  Meter::Mark read(std::string_view region, bool begin) override {
    Meter::Mark mark = meter_.reading();
    if (!region.empty()) {
      if (begin) events::begin(region);
      else events::end(region);
    }
    return mark;
  }
  bool under_joulebench() const override { return false; }

 private:
  static SensorSet open_sensors(const MonitorOptions& options) {
    try {
      return SensorSet::open(SensorOptions::from_environment(options.sources));
    } catch (const std::exception& e) {
      throw MonitorError(e.what());
    }
  }
  SensorSet sensors_;
  Meter meter_;
  std::vector<Channel> channels_;
};

/// The descriptor an environment variable names, if it is open.
std::optional<int> descriptor_from(const char* variable) {
  const char* text = std::getenv(variable);
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0 || value > 1'000'000) return std::nullopt;
  if (::fcntl(static_cast<int>(value), F_GETFD) == -1) return std::nullopt;
  return static_cast<int>(value);
}

/// The replies channel: the descriptor JOULEBENCH_REPLIES_FD names, else the FIFO
/// JOULEBENCH_REPLIES_PATH names, opened here for reading (non-blocking: joulebench may have
/// nothing to say yet) and closed with the Monitor.
class RepliesChannel {
 public:
  static std::optional<RepliesChannel> from_environment() {
    if (const auto fd = descriptor_from(kRepliesFdVariable)) return RepliesChannel(*fd, false);
    const int fd = events::detail::open_channel_path(std::getenv(kRepliesPathVariable), false);
    if (fd >= 0) return RepliesChannel(fd, true);
    return std::nullopt;
  }
  RepliesChannel(RepliesChannel&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), owned_(std::exchange(other.owned_, false)) {}
  RepliesChannel& operator=(RepliesChannel&&) = delete;
  RepliesChannel(const RepliesChannel&) = delete;
  RepliesChannel& operator=(const RepliesChannel&) = delete;
  ~RepliesChannel() {
    if (owned_) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  RepliesChannel(int fd, bool owned) : fd_(fd), owned_(owned) {}
  int fd_;
  bool owned_;
};

/// Under joulebench: every reading is a request on the events channel, answered by joulebench
/// with a reading of the sources it meters the run with.
class JoulebenchReadings final : public Readings {
 public:
  // Request numbers start at the process id times 2^32: a process that shares the replies
  // descriptor (a forked child with a Monitor of its own) never takes another's reply for its own.
  explicit JoulebenchReadings(RepliesChannel replies)
      : replies_(std::move(replies)),
        replies_fd_(replies_.fd()),
        last_request_(static_cast<std::uint64_t>(::getpid()) << 32) {
    const std::string line = request("hello", {}, false);
    try {
      hello_ = protocol::parse_hello(line);
    } catch (const std::invalid_argument& e) {
      throw MonitorError(e.what());
    }
  }
  const std::vector<Channel>& channels() const override { return hello_.channels; }
  Seconds interval() const override { return hello_.interval; }
  Meter::Mark read(std::string_view region, bool begin) override {
    const std::string line =
        region.empty() ? request("mark", {}, false) : request(begin ? "begin" : "end", region, true);
    try {
      return protocol::parse_mark(line, hello_.channels.size());
    } catch (const std::invalid_argument& e) {
      throw MonitorError(e.what());
    }
  }
  bool under_joulebench() const override { return true; }

 private:
  /// Writes the request and waits for its reply line.
  std::string request(std::string_view event, std::string_view region, bool is_region) {
    std::lock_guard lock(mutex_);
    const std::uint64_t number = ++last_request_;
    std::string line = "{\"event\":\"";
    line += event;
    line += '"';
    if (is_region) {
      line += ",\"region\":";
      events::detail::append_string(line, region);
    }
    line += fmt::format(",\"reply\":{}}}\n", number);
    events::detail::write_line(line);
    if (!events::enabled()) throw MonitorError("joulebench stopped reading this program's events: no figures");
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(kReplyTimeout);
    for (;;) {
      // Whole lines first: a late reply to an earlier request that timed out is skipped.
      for (std::size_t newline = pending_.find('\n'); newline != std::string::npos; newline = pending_.find('\n')) {
        std::string reply = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        if (protocol::reply_number(reply) == number) return reply;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        throw MonitorError(fmt::format("joulebench did not answer within {:g} s", kReplyTimeout.count()));
      }
      pollfd waiter{replies_fd_, POLLIN, 0};
      const int ready = ::poll(&waiter, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(replies_fd_, buffer, sizeof buffer);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) throw MonitorError("joulebench closed the replies channel: no figures");
      pending_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  RepliesChannel replies_;
  int replies_fd_;
  std::mutex mutex_;
  std::uint64_t last_request_;
  std::string pending_;
  protocol::Hello hello_;
};

std::unique_ptr<Readings> open_readings(const MonitorOptions& options) {
  // Both channels (by descriptor or by path), and events on: joulebench answers.
  if (auto replies = RepliesChannel::from_environment(); replies && events::enabled()) {
    return std::make_unique<JoulebenchReadings>(std::move(*replies));
  }
  return std::make_unique<LocalReadings>(options);
}

/// The readings of the channels in `keep` only.
Meter::Mark select(const Meter::Mark& mark, const std::vector<std::size_t>& keep) {
  Meter::Mark out;
  out.time = mark.time;
  for (const std::size_t i : keep) {
    out.energy.push_back(mark.energy[i]);
    out.unmeasured.push_back(mark.unmeasured[i]);
    out.problems.push_back(mark.problems[i]);
  }
  return out;
}

/// How many ended window names a Monitor remembers to say "already ended" of a second end.
constexpr std::size_t kRememberedEnds = 1024;

constexpr std::string_view kKnownSources[] = {"rapl-perf", "rapl-powercap", "nvml", "estimate"};

/// The public fields from joulebench's figures.
void fill(Measurement& m, std::string name, double time_s, std::vector<EnergyFigure> energy) {
  m.name = std::move(name);
  m.time_s = time_s;
  for (const EnergyFigure& f : energy) {
    if (f.domain.is_total()) {
      m.total_j = f.measured_nothing ? 0.0 : f.energy_j;
      m.dynamic_total_j = f.dynamic_energy_j;
      continue;
    }
    const std::string& key = f.domain.name();
    m.complete[key] = f.comparable();
    m.estimated[key] = f.estimated;
    m.sources[key] = f.source;
    if (f.measured_nothing) continue;
    m.energy_j[key] = f.energy_j;
    if (f.dynamic_energy_j) m.dynamic_energy_j[key] = *f.dynamic_energy_j;
  }
  auto figures = std::make_shared<MeasuredFigures>();
  figures->energy = std::move(energy);
  m.figures = std::move(figures);
}

/// Adds one call's figures into a sum of calls (same domains, in the same order).
void add_figures(std::vector<EnergyFigure>& sum, const std::vector<EnergyFigure>& call) {
  if (sum.empty()) {
    sum = call;
    return;
  }
  for (std::size_t i = 0; i < sum.size() && i < call.size(); ++i) {
    EnergyFigure& s = sum[i];
    const EnergyFigure& c = call[i];
    s.energy_j += c.energy_j;
    s.unmeasured_s += c.unmeasured_s;
    s.complete = s.complete && c.complete;
    s.measured_nothing = s.measured_nothing && c.measured_nothing;
    if (s.problem.empty()) s.problem = c.problem;
    if (s.dynamic_energy_j && c.dynamic_energy_j) *s.dynamic_energy_j += *c.dynamic_energy_j;
    else s.dynamic_energy_j.reset();
    if (s.attributed_energy_j && c.attributed_energy_j) *s.attributed_energy_j += *c.attributed_energy_j;
    else s.attributed_energy_j.reset();
    s.below_idle = s.below_idle || c.below_idle;
  }
}

}  // namespace

class MonitorCore {
 public:
  explicit MonitorCore(MonitorOptions options) : options_(std::move(options)), pid_(::getpid()) {
    if (!(options_.interval.count() > 0)) throw MonitorError("the interval must be positive");
    if (options_.idle && !(options_.idle->count() > 0)) throw MonitorError("the idle baseline must be positive");
    for (const auto& s : options_.sources) {
      if (std::find(std::begin(kKnownSources), std::end(kKnownSources), s) == std::end(kKnownSources)) {
        throw MonitorError(
            fmt::format("unknown source '{}': the sources are rapl-perf, rapl-powercap, nvml and estimate", s));
      }
    }
    readings_ = open_readings(options_);
    std::set<std::string> used;
    for (std::size_t i = 0; i < readings_->channels().size(); ++i) {
      const Channel& c = readings_->channels()[i];
      used.insert(c.source);
      if (options_.sources.empty() ||
          std::find(options_.sources.begin(), options_.sources.end(), c.source) != options_.sources.end()) {
        keep_.push_back(i);
        channels_.push_back(c);
      }
    }
    if (channels_.empty() && !used.empty()) {
      throw MonitorError(
          fmt::format("the joulebench that runs this program measures with {}, none of the sources "
                      "asked for",
                      fmt::join(used, ", ")));
    }
    if (options_.idle) {
      const Meter::Mark begin = read({}, false);
      std::this_thread::sleep_for(*options_.idle);
      const Meter::Mark end = read({}, false);
      idle_ = idle_between(channels_, begin, end);
    }
  }

  void begin_window(std::string_view name) {
    check_process();
    if (name.empty()) throw MonitorError("a window needs a name");
    {
      // The name is taken before the reading, so two threads never both begin it (and never
      // send joulebench two begins of one window).
      std::lock_guard lock(mutex_);
      if (!open_.emplace(std::string(name), std::nullopt).second) {
        throw MonitorError(fmt::format("window '{}' is already open: end it before beginning it again", name));
      }
      ended_.erase(std::string(name));
    }
    try {
      at_edge();
      Meter::Mark mark = read(name, true);
      std::lock_guard lock(mutex_);
      open_[std::string(name)] = std::move(mark);
    } catch (...) {
      std::lock_guard lock(mutex_);
      open_.erase(std::string(name));
      throw;
    }
  }

  Measurement end_window(std::string_view name) {
    check_process();
    Meter::Mark begin;
    {
      // Taken off before the reading: one end per begin, whatever the threads do.
      std::lock_guard lock(mutex_);
      const auto it = open_.find(name);
      if (it == open_.end() || !it->second) throw MonitorError(not_open(name));
      begin = std::move(*it->second);
      open_.erase(it);
      // Only for the message of a second end: bounded, for programs that name every window anew.
      if (ended_.size() >= kRememberedEnds) ended_.clear();
      ended_.insert(std::string(name));
    }
    at_edge();
    const Meter::Mark end = read(name, false);
    Measurement m;
    fill(m, std::string(name), (end.time - begin.time).count(), figures(begin, end));
    return m;
  }

  Meter::Mark begin_call(std::string_view name) {
    check_process();
    if (name.empty()) throw MonitorError("a tracked function needs a name");
    at_edge();
    return read({}, false);
  }

  void end_call(const std::string& name, const Meter::Mark& begin) {
    check_process();
    at_edge();
    const Meter::Mark end = read({}, false);
    const auto energy = figures(begin, end);
    std::lock_guard lock(mutex_);
    auto [it, added] = calls_.try_emplace(name);
    if (added) call_order_.push_back(name);
    Sum& sum = it->second;
    ++sum.calls;
    sum.time_s += (end.time - begin.time).count();
    add_figures(sum.energy, energy);
  }

  Totals totals(std::string_view name) const {
    std::lock_guard lock(mutex_);
    Totals t;
    const auto it = calls_.find(std::string(name));
    if (it == calls_.end()) {
      t.name = std::string(name);
      return t;
    }
    fill(t, std::string(name), it->second.time_s, it->second.energy);
    t.calls = it->second.calls;
    return t;
  }

  std::vector<std::string> tracked() const {
    std::lock_guard lock(mutex_);
    return call_order_;
  }

  bool under_joulebench() const { return readings_->under_joulebench(); }

  std::map<std::string, std::string> sources() const {
    std::map<std::string, std::string> out;
    for (const Channel& c : channels_) out.emplace(std::string(domain_name(c.domain)), c.source);
    return out;
  }

  std::map<std::string, double> idle_power_w() const {
    std::map<std::string, double> out;
    if (!idle_) return out;
    for (const auto& e : idle_->energy) {
      if (const auto p = idle_->power(e.domain)) out[std::string(domain_name(e.domain))] = p->value;
    }
    return out;
  }

 private:
  struct Sum {
    std::uint64_t calls = 0;
    double time_s = 0;
    std::vector<EnergyFigure> energy;
  };

  void check_process() const {
    if (::getpid() != pid_) {
      throw MonitorError("this Monitor belongs to the process that made it: make a new one in this process");
    }
  }
  void at_edge() const {
    if (options_.at_edge) options_.at_edge();
  }
  Meter::Mark read(std::string_view region, bool begin) {
    const Meter::Mark mark = readings_->read(region, begin);
    return keep_.size() == readings_->channels().size() ? mark : select(mark, keep_);
  }
  std::vector<EnergyFigure> figures(const Meter::Mark& begin, const Meter::Mark& end) const {
    return figures_between(channels_, begin, end, idle_ ? &*idle_ : nullptr);
  }
  /// Why `name` cannot end; called with mutex_ held.
  std::string not_open(std::string_view name) const {
    if (ended_.contains(name)) return fmt::format("window '{}' has already ended", name);
    return fmt::format("no window '{}' is open: begin_window opens it", name);
  }

  MonitorOptions options_;
  pid_t pid_;
  std::unique_ptr<Readings> readings_;
  std::vector<std::size_t> keep_;  ///< the channels of the sources asked for
  std::vector<Channel> channels_;
  std::optional<IdleBaseline> idle_;

  mutable std::mutex mutex_;
  /// Open windows; nothing while a window's first reading is being taken.
  std::map<std::string, std::optional<Meter::Mark>, std::less<>> open_;
  std::set<std::string, std::less<>> ended_;
  std::map<std::string, Sum, std::less<>> calls_;
  std::vector<std::string> call_order_;
};

}  // namespace detail

std::string Measurement::to_json() const {
  Json energy = Json::array();
  if (figures) {
    for (const EnergyFigure& f : figures->energy) energy.push_back(figure_json(f, time_s));
  }
  Json object;
  object["name"] = name;
  object["time_s"] = time_s;
  object["energy"] = std::move(energy);
  return object.dump(-1, ' ', false, Json::error_handler_t::replace);
}

struct TrackedCall::State {
  std::string name;
  Meter::Mark begin;
};

TrackedCall::TrackedCall() = default;
TrackedCall::~TrackedCall() = default;
TrackedCall::TrackedCall(TrackedCall&&) noexcept = default;
TrackedCall& TrackedCall::operator=(TrackedCall&&) noexcept = default;

Monitor::Monitor(MonitorOptions options) : core_(std::make_unique<detail::MonitorCore>(std::move(options))) {}
Monitor::~Monitor() = default;

void Monitor::begin_window(std::string_view name) { core_->begin_window(name); }
Measurement Monitor::end_window(std::string_view name) { return core_->end_window(name); }

TrackedCall Monitor::begin_call(std::string_view name) {
  TrackedCall call;
  call.state_ = std::make_unique<TrackedCall::State>(TrackedCall::State{std::string(name), core_->begin_call(name)});
  return call;
}

void Monitor::end_call(TrackedCall&& call) {
  if (!call.state_) throw MonitorError("this call has already ended");
  const auto state = std::move(call.state_);
  core_->end_call(state->name, state->begin);
}

Totals Monitor::totals(std::string_view name) const { return core_->totals(name); }
std::vector<std::string> Monitor::tracked() const { return core_->tracked(); }
bool Monitor::under_joulebench() const { return core_->under_joulebench(); }
std::map<std::string, std::string> Monitor::sources() const { return core_->sources(); }
std::map<std::string, double> Monitor::idle_power_w() const { return core_->idle_power_w(); }

ScopedWindow::ScopedWindow(Monitor& monitor, std::string name) : monitor_(monitor), name_(std::move(name)) {
  monitor_.begin_window(name_);
}

ScopedWindow::~ScopedWindow() {
  if (!open_) return;
  try {
    monitor_.end_window(name_);
  } catch (...) {
    // A destructor does not throw; end() reports errors.
  }
}

Measurement ScopedWindow::end() {
  if (!open_) throw MonitorError(fmt::format("window '{}' has already ended", name_));
  open_ = false;
  return monitor_.end_window(name_);
}

}  // namespace joulebench
