#include "joulebench/meter.hpp"

#include <time.h>

#include <algorithm>

#include <fmt/format.h>

namespace joulebench {

namespace {

Seconds thread_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return Seconds(static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9);
}

/// A counter that stays at zero this long is not measuring.
constexpr Seconds kFrozenCounterWindow{1.0};

bool always_draws_power(const Channel& channel) {
  // A package, its cores, its memory and the platform draw watts even when idle, so their RAPL
  // counters advance every millisecond. The integrated-graphics plane (uncore) may stay at zero.
  const bool rapl = channel.source == "rapl-perf" || channel.source == "rapl-powercap";
  return rapl && channel.method == Method::counter &&
         (channel.domain == Domain::cpu || channel.domain == Domain::core || channel.domain == Domain::dram ||
          channel.domain == Domain::psys);
}

void mark_if_frozen(const Channel& channel, ChannelTotal& total, Seconds duration) {
  if (!always_draws_power(channel) || duration < kFrozenCounterWindow || total.energy.value != 0.0 ||
      !total.complete()) {
    return;
  }
  // Seen on a Firecracker virtual machine: the guest's RAPL PMU offers energy-psys, which always
  // reads 0. Zero joules there is no measurement.
  total.unmeasured = duration;
  total.unmeasured_intervals = 1;
  total.first_problem = fmt::format(
      "the counter did not advance in {:.1f} s, which no working RAPL counter does: it measures nothing here "
      "(virtual machines can offer RAPL events that always read 0)",
      duration.count());
}

}  // namespace

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
      if (!sum) {
        sum = DomainEnergy{domain, Joules(0.0), channel.source, channel.method, channel.estimated, Seconds(0), {}};
      }
      const ChannelTotal& total = window.totals[i];
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

Meter::Meter(SensorSet& sensors, MeterOptions options)
    : sensors_(sensors), options_(options), interval_(std::min(options.interval, sensors.max_read_interval())) {}

Meter::~Meter() {
  if (running_) stop();
}

void Meter::start() {
  const auto channels = sensors_.channels();
  window_ = MeterWindow{};
  window_.channels.assign(channels.begin(), channels.end());
  window_.totals.assign(channels.size(), ChannelTotal{});
  window_.interval = interval_;
  previous_.assign(channels.size(), ChannelReading{});
  current_.assign(channels.size(), ChannelReading{});
  powers_.assign(channels.size(), ChannelPower{});
  if (options_.timeline) options_.timeline->begin(channels);

  cpu_at_start_ = sensors_.machine_cpu().read();
  const auto now = Clock::now();
  sensors_.read(now, previous_);
  first_ = previous_;
  window_.start = now;
  last_read_ = now;
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
  }
  if (const auto cpu = sensors_.machine_cpu().read(); cpu && cpu_at_start_) {
    window_.machine_cpu_busy = cpu->busy - cpu_at_start_->busy;
  }
  wake_.notify_all();
  thread_.join();
  running_ = false;
  for (std::size_t i = 0; i < window_.totals.size(); ++i) {
    // Sources accumulate only measured intervals, so the difference never counts a lost one.
    window_.totals[i].energy = previous_[i].energy - first_[i].energy;
    mark_if_frozen(window_.channels[i], window_.totals[i], window_.duration());
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
  m.energy.reserve(previous_.size());
  for (std::size_t i = 0; i < previous_.size(); ++i) m.energy.push_back(previous_[i].energy - first_[i].energy);
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
  for (std::size_t i = 0; i < current_.size(); ++i) {
    const ChannelReading& reading = current_[i];
    if (reading.counted) {
      const Joules delta = reading.energy - previous_[i].energy;
      powers_[i] = {interval.count() > 0 ? delta / interval : Watts(0.0), true};
    } else {
      ChannelTotal& total = window_.totals[i];
      total.unmeasured += interval;
      ++total.unmeasured_intervals;
      if (total.first_problem.empty()) total.first_problem = std::string(reading.problem);
      powers_[i] = {Watts(0.0), false};
    }
  }
  std::swap(previous_, current_);
  window_.longest_gap = std::max(window_.longest_gap, interval);
  ++window_.samples;
  last_read_ = now;
  if (options_.timeline) options_.timeline->add(TimelineSample{now - window_.start, interval, powers_});
}

}  // namespace joulebench
