#include "joulebench/figures.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

namespace joulebench {

namespace {

/// Energy less idle power x time that is negative beyond rounding: a constant model (the DRAM
/// estimate) gives exactly its idle figure, up to the last bits of a double, which is no warning.
bool below_idle(Joules dynamic, Joules energy) { return dynamic.value < -1e-9 * std::max(1.0, energy.value); }

/// The average power of an idle domain (or channel) over the time it was measured; nothing where
/// it was measured for less than half the baseline.
std::optional<Watts> average_power(const DomainEnergy& e, Seconds duration) {
  if (duration.count() <= 0) return std::nullopt;
  // Lost intervals add no energy: the average over the measured time is the idle power, as long
  // as most of the baseline was measured.
  const Seconds measured = duration - e.unmeasured;
  if (e.measured_nothing || measured < duration * 0.5) return std::nullopt;
  return e.energy / measured;
}

/// A window of `duration` over the given channels, for energy_by_domain.
MeterWindow window_of(std::vector<Channel> channels, std::vector<ChannelTotal> totals, Seconds duration) {
  MeterWindow window;
  window.channels = std::move(channels);
  window.totals = std::move(totals);
  window.end = window.start + std::chrono::duration_cast<Clock::duration>(duration);
  return window;
}

IdleBaseline baseline_of(const MeterWindow& window) {
  return IdleBaseline{window.duration(), energy_by_domain(window), window.complete(), window.channels, window.totals};
}

EnergyFigure figure_of(const DomainEnergy& d, DomainId id, std::optional<Watts> idle_power, Seconds duration,
                       std::optional<double> cpu_share) {
  EnergyFigure f;
  f.domain = std::move(id);
  f.energy_j = d.energy.value;
  f.source = d.source;
  f.method = figure_method(d.method);
  f.estimated = d.estimated;
  f.unmeasured_s = d.unmeasured.count();
  f.complete = d.unmeasured.count() == 0;
  f.problem = d.problem;
  f.measured_nothing = d.measured_nothing;
  // An incomplete figure is a lower bound: less idle power x time says nothing of the command.
  if (idle_power && f.complete) {
    f.idle_power_w = idle_power->value;
    const Joules dynamic = d.energy - *idle_power * duration;
    f.below_idle = below_idle(dynamic, d.energy);
    f.dynamic_energy_j = std::max(0.0, dynamic.value);
    if (cpu_share && (d.domain == Domain::cpu || d.domain == Domain::core)) {
      f.attributed_energy_j = *f.dynamic_energy_j * *cpu_share;
    }
  }
  return f;
}

bool of_a_gpu(Domain d) { return d == Domain::gpu || d == Domain::gpu_other; }

}  // namespace

std::optional<Watts> IdleBaseline::power(Domain d) const {
  for (const auto& e : energy) {
    if (e.domain == d) return average_power(e, duration);
  }
  return std::nullopt;
}

std::optional<Watts> IdleBaseline::channel_power(std::string_view id) const {
  for (std::size_t i = 0; i < channels.size() && i < totals.size(); ++i) {
    if (channels[i].id != id) continue;
    const auto sums = energy_by_domain(window_of({channels[i]}, {totals[i]}, duration));
    return sums.empty() ? std::nullopt : average_power(sums.front(), duration);
  }
  return std::nullopt;
}

IdleBaseline IdleBaseline::relabelled(std::span<const Channel> as) const {
  IdleBaseline out = *this;
  for (Channel& channel : out.channels) {
    const auto same = std::find_if(as.begin(), as.end(), [&](const Channel& c) { return c.id == channel.id; });
    if (same != as.end()) channel.domain = same->domain;
  }
  if (!out.channels.empty()) out.energy = energy_by_domain(window_of(out.channels, out.totals, duration));
  return out;
}

IdleBaseline measure_idle(SensorSet& sensors, Seconds duration, Seconds interval) {
  Meter meter(sensors, MeterOptions{interval, nullptr});
  meter.start();
  std::this_thread::sleep_for(duration);
  return baseline_of(meter.stop());
}

std::vector<EnergyFigure> energy_figures(const MeterWindow& window, const IdleBaseline* idle,
                                         std::optional<double> cpu_share) {
  std::vector<EnergyFigure> figures;
  const Seconds duration = window.duration();
  // One baseline serves runs on different GPUs: its GPUs are split as this run's are (a region's
  // window knows the split only from its channels). A baseline that cannot be split gives no idle
  // power for either part rather than all GPUs' for one.
  const bool gpus_split = window.gpus || std::any_of(window.channels.begin(), window.channels.end(),
                                                     [](const Channel& c) { return c.domain == Domain::gpu_other; });
  std::optional<IdleBaseline> split;
  if (gpus_split && idle && !idle->channels.empty()) split = idle->relabelled(window.channels);
  const auto idle_power = [&](Domain d) -> std::optional<Watts> {
    if (split) return split->power(d);
    if (!idle || (gpus_split && of_a_gpu(d))) return std::nullopt;
    return idle->power(d);
  };
  for (const DomainEnergy& d : energy_by_domain(window)) {
    figures.push_back(figure_of(d, d.domain, idle_power(d.domain), duration, cpu_share));
  }
  if (!window.gpus) return figures;
  for (std::size_t i = 0; i < window.channels.size(); ++i) {
    const Channel& channel = window.channels[i];
    if (!of_a_gpu(channel.domain)) continue;
    const auto sums = energy_by_domain(window_of({channel}, {window.totals[i]}, duration));
    if (sums.empty()) continue;
    figures.push_back(figure_of(sums.front(), *DomainId::parse(channel.id),
                                idle ? idle->channel_power(channel.id) : std::nullopt, duration, std::nullopt));
  }
  return figures;
}

EnergyFigure total_figure(const std::vector<EnergyFigure>& domains, Seconds duration) {
  EnergyFigure total;
  total.domain = DomainId::total();
  total.method = FigureMethod::none;
  bool all_estimated = true;
  bool all_dynamic = true;
  bool first = true;
  double idle_energy_j = 0;
  std::vector<std::string> sources;
  bool all_measured_nothing = true;
  for (const auto& f : domains) {
    if (!f.domain.counts_toward_total()) continue;
    all_measured_nothing = all_measured_nothing && f.measured_nothing;
    total.energy_j += f.energy_j;
    total.unmeasured_s = std::max(total.unmeasured_s, f.unmeasured_s);
    total.complete = total.complete && f.complete;
    if (total.problem.empty()) total.problem = f.problem;
    total.estimated = total.estimated || f.estimated;
    all_estimated = all_estimated && f.estimated;
    if (std::find(sources.begin(), sources.end(), f.source) == sources.end()) sources.push_back(f.source);
    if (first) total.method = f.method;
    else if (total.method != f.method) total.method = FigureMethod::mixed;
    first = false;
    if (f.dynamic_energy_j && f.idle_power_w) {
      idle_energy_j += *f.idle_power_w * duration.count();
    } else {
      all_dynamic = false;
    }
  }
  total.measured_nothing = !sources.empty() && all_measured_nothing;
  if (total.measured_nothing) all_dynamic = false;
  total.partly_estimated = total.estimated && !all_estimated;
  for (std::size_t i = 0; i < sources.size(); ++i) total.source += (i ? "+" : "") + sources[i];
  if (all_dynamic && !sources.empty()) {
    // The total's dynamic energy is taken from the totals, not from the clamped domain figures.
    total.idle_power_w = idle_energy_j / duration.count();
    const Joules raw(total.energy_j - idle_energy_j);
    total.below_idle = below_idle(raw, Joules(total.energy_j));
    total.dynamic_energy_j = std::max(0.0, raw.value);
  }
  return total;
}

MeterWindow window_between(const std::vector<Channel>& channels, const Meter::Mark& begin, const Meter::Mark& end) {
  MeterWindow window;
  window.channels = channels;
  window.end = window.start + std::chrono::duration_cast<Clock::duration>(end.time - begin.time);
  for (std::size_t i = 0; i < channels.size(); ++i) {
    ChannelTotal t;
    if (i < begin.energy.size() && i < end.energy.size()) t.energy = end.energy[i] - begin.energy[i];
    if (i < begin.unmeasured.size() && i < end.unmeasured.size()) {
      t.unmeasured = std::max(Seconds(0), end.unmeasured[i] - begin.unmeasured[i]);
      // Marks carry unmeasured time, not intervals: any unmeasured time is one interval at least.
      t.unmeasured_intervals = t.unmeasured.count() > 0 ? 1 : 0;
      if (t.unmeasured_intervals > 0 && i < end.problems.size()) t.first_problem = end.problems[i];
    }
    if (i < end.energy.size() && end.energy[i].value == 0 && end.time >= kShortestJudgedStillWindow) {
      // Still since the meter started (the Monitor was made, the run began), long enough to judge:
      // a short window inside that stretch measured nothing either.
      ChannelTotal since_start;
      judge_still_counter(channels[i], since_start, end.time);
      if (since_start.unmeasured_intervals > 0 && t.unmeasured_intervals == 0) {
        t.unmeasured = end.time - begin.time;
        t.unmeasured_intervals = 1;
        t.stalled = true;
        t.first_problem = since_start.first_problem;
      }
    }
    judge_still_counter(channels[i], t, end.time - begin.time);
    window.totals.push_back(std::move(t));
  }
  return window;
}

std::vector<EnergyFigure> figures_between(const std::vector<Channel>& channels, const Meter::Mark& begin,
                                          const Meter::Mark& end, const IdleBaseline* idle) {
  const MeterWindow window = window_between(channels, begin, end);
  std::vector<EnergyFigure> out = energy_figures(window, idle, std::nullopt);
  if (!out.empty()) out.push_back(total_figure(out, window.duration()));
  return out;
}

IdleBaseline idle_between(const std::vector<Channel>& channels, const Meter::Mark& begin, const Meter::Mark& end) {
  return baseline_of(window_between(channels, begin, end));
}

}  // namespace joulebench
