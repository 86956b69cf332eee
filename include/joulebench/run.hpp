// Running a measured command: the meter around a child process, with an optional idle baseline
// before it, and the figures derived from both (dynamic energy, CPU-time attribution).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "joulebench/meter.hpp"
#include "joulebench/process.hpp"
#include "joulebench/sensors.hpp"
#include "joulebench/units.hpp"

namespace joulebench {

/// Average power per domain while nothing was run, measured before the command.
struct IdleBaseline {
  Seconds duration{0};
  std::vector<DomainEnergy> energy;  ///< per domain over `duration`
  bool complete = true;

  /// The average over the time it was measured; nothing if the baseline does not cover the
  /// domain, or measured it for less than half its length.
  std::optional<Watts> power(Domain d) const;
};

/// One energy figure of a measurement: a domain, or the total.
struct EnergyFigure {
  std::string name;  ///< the domain's name, or "total"
  Joules energy;
  Watts average_power;
  std::string source;       ///< the source's name; for the total, the sources joined with '+'
  std::string method;       ///< "counter", "power-integration", "model"; "mixed" for a mixed total
  bool estimated = false;   ///< any part comes from a model
  bool partly_estimated = false;  ///< for the total: some parts measured, some estimated
  Seconds unmeasured{0};    ///< time during which a channel of it could not be read
  std::string problem;
  /// Nothing of the window was measured (a counter that never moved, a sensor that failed
  /// throughout): `energy` is no figure at all, and there is no dynamic energy.
  bool measured_nothing = false;
  bool counted_in_total = true;

  // With an idle baseline:
  std::optional<Watts> idle_power;
  /// energy - idle power x duration; never negative: a figure below idle is reported as 0 with
  /// `below_idle` set, since noise cannot make a command produce energy.
  std::optional<Joules> dynamic_energy;
  bool below_idle = false;
  /// CPU domains only: the dynamic energy times the command tree's share of the machine's busy
  /// CPU time. An attribution, not a measurement.
  std::optional<Joules> attributed_energy;

  bool complete() const { return unmeasured.count() == 0; }
};

struct Measurement {
  std::vector<std::string> command;
  ProcessOutcome process;
  MeterWindow window;
  std::vector<EnergyFigure> domains;
  EnergyFigure total;
  std::optional<IdleBaseline> idle;
  /// The command tree's CPU time over the machine's busy CPU time in the window (capped at 1).
  std::optional<double> cpu_share;
  /// The sources that supplied figures, with their device facts (GPU name, driver, power limit).
  std::vector<SourceReport> sources;
  /// CPU that processes other than the command and joulebench used while it ran, in cores.
  std::optional<double> other_cpu_cores;
  std::vector<std::string> warnings;
};

struct MeasureOptions {
  SpawnOptions command;
  Seconds interval{0.1};
  std::optional<Seconds> idle;        ///< measure an idle baseline this long first
  TimelineSink* timeline = nullptr;   ///< receives the command window's timeline
  /// Other processes' CPU use, in cores, above which the measurement warns of a busy machine.
  double max_other_cpu_cores = 0.05;
};

/// Measures idle power for `duration` (nothing is started).
IdleBaseline measure_idle(SensorSet& sensors, Seconds duration, Seconds interval);

/// Runs the command under the meter and derives every figure. Throws LaunchError if the command
/// cannot be started (before anything is measured).
Measurement measure_command(SensorSet& sensors, const MeasureOptions& options);

/// The command tree's CPU time over the machine's busy CPU time in the window, capped at 1;
/// nothing when the machine's CPU time is unknown.
std::optional<double> cpu_share(const ProcessOutcome& process, const MeterWindow& window);

/// Builds the figures from a metered window (exposed for tests and the campaign runner).
std::vector<EnergyFigure> energy_figures(const MeterWindow& window, const IdleBaseline* idle,
                                         std::optional<double> cpu_share);
/// Sums the domains that count toward the total (cpu, dram, gpu).
EnergyFigure total_figure(const std::vector<EnergyFigure>& domains, Seconds duration);

}  // namespace joulebench
