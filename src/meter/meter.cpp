#include "joulebench/meter.hpp"

#include <time.h>

#include <algorithm>
#include <limits>
#include <utility>

#include <fmt/format.h>

namespace joulebench {

namespace {

Seconds thread_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return Seconds(static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9);
}

}  // namespace

bool watched_for_stalls(const Channel& channel) {
  // A package, its cores, its memory and the platform draw watts even when idle, so their RAPL
  // counters advance every millisecond. The integrated-graphics plane (uncore) may stay at zero.
  const bool rapl = channel.source == "rapl-perf" || channel.source == "rapl-powercap";
  return rapl && channel.method == Method::counter &&
         (channel.domain == Domain::cpu || channel.domain == Domain::core || channel.domain == Domain::dram ||
          channel.domain == Domain::psys);
}

namespace {

/// Seen on a Firecracker virtual machine: the guest's RAPL PMU offers energy-psys, which always
/// reads 0. Zero joules there is no measurement.
std::string still_counter_problem(Seconds length) {
  return fmt::format(
      "the counter did not advance in {:.2f} s, which no working RAPL counter does: it measures nothing here "
      "(virtual machines can offer RAPL events that always read 0)",
      length.count());
}

}  // namespace

void judge_still_counter(const Channel& channel, ChannelTotal& total, Seconds length) {
  if (!watched_for_stalls(channel) || total.energy.value != 0 || total.unmeasured_intervals > 0 ||
      length < kShortestJudgedStillWindow) {
    return;
  }
  total.unmeasured = length;
  total.unmeasured_intervals = 1;
  total.stalled = true;
  total.first_problem = still_counter_problem(length);
}

bool MeterWindow::complete() const {
  return std::all_of(totals.begin(), totals.end(), [](const ChannelTotal& t) { return t.complete(); });
}

std::vector<DomainEnergy> energy_by_domain(const MeterWindow& window) {
  std::vector<DomainEnergy> out;
  for (std::size_t d = 0; d < kDomainCount; ++d) {
    const auto domain = static_cast<Domain>(d);
    std::optional<DomainEnergy> sum;
    for (std::size_t i = 0; i < window.channels.size(); ++i) {
      const Channel& channel = window.channels[i];
      if (channel.domain != domain) continue;
      const ChannelTotal& total = window.totals[i];
      // Durations are sums of clock differences: equal to the window's up to rounding.
      const bool channel_measured_nothing =
          !total.complete() && total.unmeasured.count() >= window.duration().count() - 1e-6;
      if (!sum) {
        sum =
            DomainEnergy{domain, Joules(0.0), channel.source, channel.method, channel.estimated, Seconds(0), {}, true};
      }
      sum->measured_nothing = sum->measured_nothing && channel_measured_nothing;
      sum->energy += total.energy;
      sum->unmeasured = std::max(sum->unmeasured, total.unmeasured);
      if (sum->problem.empty() && !total.first_problem.empty()) {
        sum->problem = channel.id + ": " + total.first_problem;
      }
    }
    if (sum) out.push_back(std::move(*sum));
  }
  return out;
}

MeterWindow watch_channels(SensorSet& sensors, Seconds interval) {
  Meter meter(sensors, MeterOptions{interval, nullptr});
  meter.start();
  std::this_thread::sleep_for(kStalledCounterTime + 2 * meter.interval());
  return meter.stop();
}

Meter::Meter(SensorSet& sensors, MeterOptions options)
    : sensors_(sensors),
      options_(std::move(options)),
      interval_(std::min(options_.interval, sensors.max_read_interval())),
      channels_(sensors.channels().begin(), sensors.channels().end()) {
  if (options_.gpus) {
    for (Channel& channel : channels_) {
      const bool selected =
          std::find(options_.gpus->begin(), options_.gpus->end(), channel.device) != options_.gpus->end();
      if (channel.domain == Domain::gpu && !selected) channel.domain = Domain::gpu_other;
    }
  }
  for (const auto& channel : channels_) stall_watch_.push_back({watched_for_stalls(channel), false, {}, {}});
  delay_timeline_ =
      options_.timeline != nullptr && !options_.live_timeline &&
      std::any_of(stall_watch_.begin(), stall_watch_.end(), [](const StallWatch& w) { return w.watched; });
}

Meter::~Meter() {
  if (running_) stop();
}

void Meter::start() {
  const std::span<const Channel> channels = channels_;
  window_ = MeterWindow{};
  window_.channels = channels_;
  window_.gpus = options_.gpus;
  window_.totals.assign(channels.size(), ChannelTotal{});
  window_.interval = interval_;
  previous_.assign(channels.size(), ChannelReading{});
  current_.assign(channels.size(), ChannelReading{});
  powers_.assign(channels.size(), ChannelPower{});
  pending_.clear();
  if (options_.timeline) options_.timeline->begin(channels);

  cpu_at_start_ = sensors_.machine_cpu().read();
  const auto now = Clock::now();
  sensors_.read(now, previous_);
  first_ = previous_;
  window_.start = now;
  last_read_ = now;
  last_source_read_ = now;
  for (auto& watch : stall_watch_) watch.stalled = false;
  window_.samples = 1;
  stopping_ = false;
  running_ = true;
  thread_ = std::thread([this] { sample_loop(); });
}

MeterWindow Meter::stop() {
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    take_reading(now);
    window_.end = now;
    stopping_ = true;
    release_timeline(Seconds(std::numeric_limits<double>::infinity()));
  }
  if (const auto cpu = sensors_.machine_cpu().read(); cpu && cpu_at_start_) {
    window_.machine_cpu_busy = cpu->busy - cpu_at_start_->busy;
  }
  wake_.notify_all();
  thread_.join();
  running_ = false;
  for (std::size_t i = 0; i < window_.totals.size(); ++i) {
    // Sources accumulate only measured intervals, so the difference never counts a lost one.
    ChannelTotal& total = window_.totals[i];
    total.energy = previous_[i].energy - first_[i].energy;
    const StallWatch& watch = stall_watch_[i];
    if (watch.stalled && watch.stretch_start == window_.start && total.unmeasured_intervals == 1) {
      total.first_problem = still_counter_problem(window_.duration());
    } else {
      judge_still_counter(window_.channels[i], total, window_.duration());
    }
  }
  return window_;
}

Meter::Mark Meter::mark() {
  std::lock_guard lock(mutex_);
  Mark m;
  if (stopping_) {
    // Asked after the window closed (an event that arrived late): the window's end.
    m.time = window_.end - window_.start;
  } else {
    const auto now = Clock::now();
    take_reading(now);
    m.time = now - window_.start;
  }
  fill_mark(m, previous_);
  return m;
}

void Meter::fill_mark(Mark& m, const std::vector<ChannelReading>& readings) const {
  m.energy.reserve(readings.size());
  m.unmeasured.reserve(readings.size());
  m.problems.reserve(readings.size());
  for (std::size_t i = 0; i < readings.size(); ++i) {
    m.energy.push_back(readings[i].energy - first_[i].energy);
    m.unmeasured.push_back(window_.totals[i].unmeasured);
    m.problems.push_back(window_.totals[i].first_problem);
  }
}

Meter::Mark Meter::reading() {
  std::lock_guard lock(mutex_);
  if (stopping_) return {window_.end - window_.start, {}, {}, {}};
  const auto now = Clock::now();
  // Sources accumulate across reads, so reading into a scratch buffer keeps them right; the next
  // sample still spans its whole interval from previous_.
  scratch_.resize(previous_.size());
  sensors_.read(now, scratch_);
  for (std::size_t i = 0; i < scratch_.size(); ++i) {
    if (scratch_[i].counted) {
      // A stalled stretch counts as unmeasured up to this reading, as take_reading counts it.
      if (stall_watch_[i].watched && now - scratch_[i].unchanged_since >= kStalledCounterTime) {
        mark_stalled(i, std::max(scratch_[i].unchanged_since, window_.start), now);
      }
      continue;
    }
    // The source lost the stretch since its last read: unmeasured, as take_reading counts it.
    ChannelTotal& total = window_.totals[i];
    total.unmeasured += now - last_source_read_;
    ++total.unmeasured_intervals;
    if (total.first_problem.empty()) total.first_problem = std::string(scratch_[i].problem);
  }
  last_source_read_ = now;
  Mark m;
  m.time = now - window_.start;
  fill_mark(m, scratch_);
  return m;
}

void Meter::sample_loop() {
  std::unique_lock lock(mutex_);
  auto next = window_.start + std::chrono::duration_cast<Clock::duration>(interval_);
  while (!stopping_) {
    if (wake_.wait_until(lock, next, [this] { return stopping_; })) break;
    const auto now = Clock::now();
    take_reading(now);
    next += std::chrono::duration_cast<Clock::duration>(interval_);
    // After a stall, resume the regular grid instead of firing a burst of late reads.
    if (next <= now) next = now + std::chrono::duration_cast<Clock::duration>(interval_);
  }
  window_.sampler_cpu_time = thread_cpu_time();
}

void Meter::take_reading(Clock::time_point now) {
  sensors_.read(now, current_);
  const Seconds interval = now - last_read_;
  const Seconds time = now - window_.start;
  for (std::size_t i = 0; i < current_.size(); ++i) {
    const ChannelReading& reading = current_[i];
    ChannelTotal& total = window_.totals[i];
    StallWatch& watch = stall_watch_[i];
    if (!reading.counted) {
      watch.stalled = false;                        // the source starts the counter's history again
      total.unmeasured += now - last_source_read_;  // since the source's own last read
      ++total.unmeasured_intervals;
      if (total.first_problem.empty()) total.first_problem = std::string(reading.problem);
      powers_[i] = {Watts(0.0), false};
      continue;
    }
    if (watch.watched && now - reading.unchanged_since >= kStalledCounterTime) {
      mark_stalled(i, std::max(reading.unchanged_since, window_.start), now);
      powers_[i] = {Watts(0.0), false};
      continue;
    }
    watch.stalled = false;
    const Joules delta = reading.energy - previous_[i].energy;
    powers_[i] = {interval.count() > 0 ? delta / interval : Watts(0.0), true};
  }
  std::swap(previous_, current_);
  window_.longest_gap = std::max(window_.longest_gap, interval);
  ++window_.samples;
  last_read_ = now;
  last_source_read_ = now;
  if (!options_.timeline) return;
  if (!delay_timeline_) {
    options_.timeline->add(TimelineSample{time, interval, powers_});
    return;
  }
  pending_.push_back({time, interval, powers_});
  // A stretch found stalled at the next reading began after this one's time minus the stall
  // time: every sample that ended before then is final.
  release_timeline(time - kStalledCounterTime);
}

void Meter::mark_stalled(std::size_t channel, Clock::time_point still_from, Clock::time_point now) {
  StallWatch& watch = stall_watch_[channel];
  ChannelTotal& total = window_.totals[channel];
  const Clock::time_point from = watch.stalled ? watch.unmeasured_until : still_from;
  if (!watch.stalled) {
    ++total.unmeasured_intervals;
    total.stalled = true;
    watch.stalled = true;
    watch.stretch_start = still_from;
    // The samples of the stretch taken before it was found are not measured either; later ones
    // are marked as they are taken.
    const Seconds from_time = still_from - window_.start;
    for (auto& sample : pending_) {
      if (sample.time > from_time) sample.channels[channel] = {Watts(0.0), false};
    }
    if (total.first_problem.empty()) {
      const std::string what =
          still_from == window_.start
              ? fmt::format("stood still from the window's start, for {:.1f} s or more counting the time before it",
                            kStalledCounterTime.count())
              : fmt::format("stopped advancing {:.1f} s into the window and stayed still for {:.1f} s or more",
                            Seconds(still_from - window_.start).count(), kStalledCounterTime.count());
      total.first_problem =
          fmt::format("the counter {}, which no working RAPL counter does: that stretch measures nothing", what);
    }
  }
  total.unmeasured += now - from;
  watch.unmeasured_until = now;
}

void Meter::release_timeline(Seconds up_to) {
  while (!pending_.empty() && pending_.front().time <= up_to) {
    const PendingSample& sample = pending_.front();
    options_.timeline->add(TimelineSample{sample.time, sample.interval, sample.channels});
    pending_.pop_front();
  }
}

}  // namespace joulebench
