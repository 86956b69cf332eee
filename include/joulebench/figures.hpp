// Figures from the meter: a window's (or part of a window's) energy per domain and its total, with
// dynamic energy where an idle baseline covers a domain. `measure`, campaigns, their regions and
// the in-program Monitor derive every figure here, so they agree.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "joulebench/meter.hpp"
#include "joulebench/result.hpp"
#include "joulebench/sensors.hpp"
#include "joulebench/units.hpp"

namespace joulebench {

/// Average power per domain while nothing was run.
struct IdleBaseline {
  Seconds duration{0};
  std::vector<DomainEnergy> energy;  ///< per domain over `duration`
  bool complete = true;
  /// Per channel over `duration`, as measured (every GPU of domain gpu): one baseline serves runs
  /// that use different GPUs (relabelled). Empty where only per-domain figures are known.
  std::vector<Channel> channels;
  std::vector<ChannelTotal> totals;  ///< parallel to channels

  /// The average over the time it was measured; nothing if the baseline does not cover the
  /// domain, or measured it for less than half its length.
  std::optional<Watts> power(Domain d) const;
  /// The same for one channel ("gpu-1"); nothing where the baseline has no such channel.
  std::optional<Watts> channel_power(std::string_view id) const;
  /// This baseline with its channels in the domains `channels` gives them (matched by id): a run's
  /// GPUs as gpu, its other GPUs as gpu_other, and `energy` summed again per domain. Channels
  /// absent from `channels` keep theirs.
  IdleBaseline relabelled(std::span<const Channel> channels) const;
};

/// Measures idle power for `duration` (nothing is started).
IdleBaseline measure_idle(SensorSet& sensors, Seconds duration, Seconds interval);
/// The idle baseline between two marks of a running meter (the Monitor's: nothing else ran).
IdleBaseline idle_between(const std::vector<Channel>& channels, const Meter::Mark& begin, const Meter::Mark& end);

/// The figures per domain from a metered window, with dynamic (and, given `cpu_share`,
/// attributed) energy where `idle` covers the domain. Where the window's run names its GPUs
/// (MeterWindow::gpus), gpu is those GPUs and gpu-other the rest, each with the idle power of its
/// own GPUs, and one figure per GPU follows, named as its channel ("gpu-0"; not in the total).
std::vector<EnergyFigure> energy_figures(const MeterWindow& window, const IdleBaseline* idle,
                                         std::optional<double> cpu_share);
/// Sums the domains that count toward the total (cpu, dram, gpu).
EnergyFigure total_figure(const std::vector<EnergyFigure>& domains, Seconds duration);

/// The part of a window between two marks of its meter, as a window of its own: each channel's
/// energy and unmeasured time between them.
MeterWindow window_between(const std::vector<Channel>& channels, const Meter::Mark& begin, const Meter::Mark& end);
/// A region's figures per domain, then the total, from the marks at its edges: the same figures
/// a run's window gives, over the region's part of it.
std::vector<EnergyFigure> figures_between(const std::vector<Channel>& channels, const Meter::Mark& begin,
                                          const Meter::Mark& end, const IdleBaseline* idle = nullptr);

}  // namespace joulebench
