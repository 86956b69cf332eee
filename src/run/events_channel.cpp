#include "events_channel.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <string>

#include <cstring>

#include <fmt/format.h>

#include "joulebench/container.hpp"
#include "joulebench/figures.hpp"
#include "joulebench/monitor_protocol.hpp"

namespace joulebench::detail {

namespace {

/// Marks a region's figures incomplete where the run's timeline has an unmeasured interval of one
/// of their channels inside the region: read failures and stalled counters alike (a stall is only
/// found once it has lasted a second, after marks inside it were taken). Marks close timeline
/// intervals, so samples never straddle a region's edges.
void mark_unmeasured_regions(std::vector<StoredRegion>& regions, const std::vector<Channel>& channels,
                             const StoredTimeline& timeline, const std::vector<EnergyFigure>& run_energy) {
  const std::size_t n = timeline.channels.size();
  if (n != channels.size()) return;
  for (auto& region : regions) {
    std::vector<double> unmeasured(n, 0.0);
    double sample_start = 0;
    for (std::size_t s = 0; s < timeline.time_s.size(); ++s) {
      const double sample_end = timeline.time_s[s];
      const double overlap = std::min(sample_end, region.end_s) - std::max(sample_start, region.start_s);
      sample_start = sample_end;
      if (overlap <= 0) continue;
      for (std::size_t c = 0; c < n; ++c) {
        if (std::isnan(timeline.power_w[s * n + c])) unmeasured[c] += overlap;
      }
    }
    const double length = region.end_s - region.start_s;
    bool total_complete = true;
    bool total_nothing = true;
    double total_unmeasured = 0;
    std::string total_problem;
    for (auto& e : region.energy) {
      if (e.domain.is_total()) continue;
      bool nothing = true;
      for (std::size_t c = 0; c < n; ++c) {
        if (DomainId(channels[c].domain) != e.domain) continue;
        e.unmeasured_s = std::max(e.unmeasured_s, unmeasured[c]);
        nothing = nothing && unmeasured[c] >= length - 1e-6;
      }
      e.complete = e.unmeasured_s == 0;
      e.measured_nothing = nothing && length > 0 && !e.complete;
      if (const auto* whole = find_energy(run_energy, e.domain); whole != nullptr && !e.complete)
        e.problem = whole->problem;
      if (e.domain.counts_toward_total()) {
        total_complete = total_complete && e.complete;
        total_nothing = total_nothing && e.measured_nothing;
        total_unmeasured = std::max(total_unmeasured, e.unmeasured_s);
        if (total_problem.empty()) total_problem = e.problem;
      }
    }
    for (auto& e : region.energy) {
      if (!e.domain.is_total()) continue;
      e.complete = total_complete;
      e.measured_nothing = total_nothing && !total_complete;
      e.unmeasured_s = total_unmeasured;
      e.problem = total_problem;
    }
  }
}

}  // namespace

EventsChannel::EventsChannel() : events_(std::in_place), replies_(std::in_place) {
  events_read_fd_ = events_->read_fd;
  replies_write_fd_ = replies_->write_fd;
  // joulebench never waits on a workload that does not read its replies: a reply that does not
  // fit is dropped (the Monitor waiting for it gives up with an error).
  ::fcntl(replies_write_fd_, F_SETFL, ::fcntl(replies_write_fd_, F_GETFL) | O_NONBLOCK);
}

EventsChannel::EventsChannel(const std::filesystem::path& folder) : named_pipes_(true) {
  const auto fifo = [&](const char* name, mode_t mode) {
    const std::filesystem::path path = folder / name;
    // Any user of the container may write events; only joulebench writes replies.
    if (::mkfifo(path.c_str(), mode) != 0 || ::chmod(path.c_str(), mode) != 0) {
      throw std::runtime_error(fmt::format("cannot make the named pipe {}: {}", path.string(), std::strerror(errno)));
    }
    hand_to_invoking_user(path);
    return path;
  };
  const auto events = fifo("events", 0622);
  const auto replies = fifo("replies", 0644);
  // Non-blocking opens never wait for the other side; the keeper makes the read end see a writer.
  events_read_fd_ = ::open(events.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  events_keeper_fd_ = ::open(events.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  // Read and write: a workload that opens it for reading never blocks, a reply never fails for
  // want of a reader, and one that does not fit is dropped, as on the pipe.
  replies_write_fd_ = ::open(replies.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (events_read_fd_ < 0 || events_keeper_fd_ < 0 || replies_write_fd_ < 0) {
    const int error = errno;
    for (const int fd : {events_read_fd_, events_keeper_fd_, replies_write_fd_}) {
      if (fd >= 0) ::close(fd);
    }
    throw std::runtime_error(
        fmt::format("cannot open the named pipes in {}: {}", folder.string(), std::strerror(error)));
  }
}

EventsChannel::~EventsChannel() {
  if (!named_pipes_) return;
  for (const int fd : {events_read_fd_, events_keeper_fd_, replies_write_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

void EventsChannel::pass_to(SpawnOptions& options) {
  if (named_pipes_) return;
  options.environment.emplace_back(kEventsFdVariable, std::to_string(kEventsFdInChild));
  options.environment.emplace_back(kRepliesFdVariable, std::to_string(kRepliesFdInChild));
  options.inherited_fds.emplace_back(events_->write_fd, kEventsFdInChild);
  options.inherited_fds.emplace_back(replies_->read_fd, kRepliesFdInChild);
}

KeyValues EventsChannel::container_variables() const {
  const std::string folder = kContainerEventsFolder;
  return {{kEventsPathVariable, folder + "/events"}, {kRepliesPathVariable, folder + "/replies"}};
}

void EventsChannel::open_at_start(const std::string& region) { open_at_start_.push_back(region); }

void EventsChannel::started(Meter& meter) {
  meter_ = &meter;
  channels_.assign(meter.channels().begin(), meter.channels().end());
  if (events_) events_->close_write();
  if (replies_) replies_->close_read();
  // The window's start: nothing measured yet.
  const Meter::Mark start{Seconds(0), std::vector<Joules>(channels_.size(), Joules(0)),
                          std::vector<Seconds>(channels_.size(), Seconds(0)),
                          std::vector<std::string>(channels_.size())};
  std::lock_guard lock(mutex_);
  for (const auto& region : open_at_start_) open_regions_.emplace_back(region, start);
}

void EventsChannel::command_ended() {
  if (events_keeper_fd_ >= 0) ::close(events_keeper_fd_);
  events_keeper_fd_ = -1;
}

void EventsChannel::reply(const std::string& line) {
  const char* data = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(replies_write_fd_, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // full or closed: the workload does not read its replies
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

void EventsChannel::on_event(WorkloadEvent e) {
  using Kind = WorkloadEvent::Kind;
  if (e.kind == Kind::hello) {
    if (e.reply) reply(protocol::hello_reply(*e.reply, channels_, meter_->interval()));
    return;
  }
  // Region edges close a timeline interval (samples never straddle a region); a Monitor's plain
  // readings (tracked calls, perhaps thousands a second) do not.
  std::optional<Meter::Mark> mark;
  if (e.kind == Kind::region_begin || e.kind == Kind::region_end) mark = meter_->mark();
  if (e.kind == Kind::mark) mark = meter_->reading();
  if (e.reply && mark) reply(protocol::mark_reply(*e.reply, *mark));
  std::lock_guard lock(mutex_);
  switch (e.kind) {
    case Kind::region_begin: open_regions_.emplace_back(e.name, std::move(*mark)); break;
    case Kind::region_end: {
      const auto it =
          std::find_if(open_regions_.rbegin(), open_regions_.rend(), [&](const auto& o) { return o.first == e.name; });
      if (it == open_regions_.rend()) break;  // an end without a begin is ignored
      regions_.push_back(StoredRegion{e.name, it->second.time.count(), mark->time.count(),
                                      figures_between(channels_, it->second, *mark)});
      open_regions_.erase(std::next(it).base());
      break;
    }
    case Kind::metric:
      if (!metrics_.contains(e.name)) metric_order_.push_back(e.name);
      metrics_[e.name] = StoredMetric{e.name, e.value, e.unit, e.origin};
      break;
    case Kind::metadata: {
      const auto it =
          std::find_if(metadata_.begin(), metadata_.end(), [&](const auto& kv) { return kv.first == e.name; });
      if (it != metadata_.end()) it->second = e.text;
      else metadata_.emplace_back(e.name, e.text);
      break;
    }
    case Kind::hello:
    case Kind::mark: break;
  }
}

void EventsChannel::record(RunRecord& r, const MeterWindow& window) {
  std::lock_guard lock(mutex_);
  Meter::Mark end{window.duration(), {}, {}, {}};
  for (const auto& t : window.totals) {
    end.energy.push_back(t.energy);
    end.unmeasured.push_back(t.unmeasured);
    end.problems.push_back(t.first_problem);
  }
  for (const auto& [name, begin] : open_regions_) {
    // A region opened at the start that the workload never ended (the container never started).
    if (std::find(open_at_start_.begin(), open_at_start_.end(), name) != open_at_start_.end()) continue;
    regions_.push_back(
        StoredRegion{name, begin.time.count(), end.time.count(), figures_between(channels_, begin, end)});
  }
  open_regions_.clear();
  std::sort(regions_.begin(), regions_.end(), [](const auto& a, const auto& b) { return a.start_s < b.start_s; });
  mark_unmeasured_regions(regions_, channels_, r.timeline, r.energy);
  r.regions = std::move(regions_);
  for (const auto& name : metric_order_) r.metrics.push_back(metrics_[name]);
  r.metadata = std::move(metadata_);
}

}  // namespace joulebench::detail
