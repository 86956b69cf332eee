// joulebench/monitor.hpp: the time and energy of parts of your own program, measured from inside it
// with the same sources, meter and figures as `joulebench measure`.
//
//   #include <joulebench/monitor.hpp>
//
//   joulebench::Monitor monitor;                        // opens the machine's sources once
//   monitor.begin_window("train");
//   train();
//   const joulebench::Measurement m = monitor.end_window("train");
//   std::cout << m.time_s << " s, " << m.total_j << " J\n";   // m.energy_j.at("cpu"), ...
//
//   {
//     joulebench::ScopedWindow eval(monitor, "eval");  // ends at the closing brace
//     evaluate();
//   }                                                  // or: Measurement e = eval.end();
//
// Link the target joulebench::meter (find_package(joulebench)). Python has the same API
// (`import joulebench`); docs/in-program.md describes both.
//
// Standalone, a Monitor reads the sources itself (the RAPL counters need root on most kernels; where
// it can read nothing else it uses joulebench's labelled estimate). Under `joulebench run`,
// `measure` or `profile` it takes its readings from that joulebench through the events channel
// instead: a workload running as an ordinary user gets the figures of the sensors joulebench reads,
// and every window is also a region of the run, with the same figures.
//
// Windows may nest and overlap, and a Monitor may be used from several threads. It belongs to the
// process that made it: a child made with fork() makes its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace joulebench {

/// A window that is not open, a name already open, a source that does not exist, a joulebench
/// that stopped answering: what() says which.
class MonitorError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
struct MeasuredFigures;
class MonitorCore;
}  // namespace detail

/// The time and energy of one window (or, as Totals, of a tracked function's calls). Energy is
/// keyed by domain: "cpu", "dram", "gpu", and "core", "uncore", "psys" where a source measures
/// them. A domain no part of the window could be measured in has no energy (complete is false).
struct Measurement {
  std::string name;
  double time_s = 0;                           ///< wall seconds of the window
  std::map<std::string, double> energy_j;      ///< per domain measured
  double total_j = 0;                          ///< cpu + dram + gpu, as everywhere in joulebench
  std::map<std::string, bool> estimated;       ///< true where the figure comes from the estimate
  std::map<std::string, bool> complete;        ///< false where part of the window was not measured
  std::map<std::string, std::string> sources;  ///< "rapl-perf", "rapl-powercap", "nvml", "estimate"
  /// With an idle baseline (MonitorOptions::idle): energy less idle power x time, never below 0.
  std::map<std::string, double> dynamic_energy_j;
  std::optional<double> dynamic_total_j;

  /// {"name": ..., "time_s": ..., "energy": [...]}: the energy list as `joulebench measure
  /// --json` writes it (domain, energy_j, average_power_w, source, method, estimated, complete...).
  std::string to_json() const;

  /// joulebench's own figures behind the fields above (for to_json).
  std::shared_ptr<const detail::MeasuredFigures> figures;
};

/// A tracked function's calls: how many, and their time and energy summed. Calls that overlap
/// (threads, recursion) are each counted in full.
struct Totals : Measurement {
  std::uint64_t calls = 0;
};

struct MonitorOptions {
  /// The sources to use, by name ("rapl-perf", "rapl-powercap", "nvml", "estimate"); empty: all.
  std::vector<std::string> sources;
  /// The meter's sampling interval (standalone; under joulebench, joulebench's interval holds).
  std::chrono::duration<double> interval{0.1};
  /// Measure idle power this long before anything else; Measurements then carry dynamic energy.
  std::optional<std::chrono::duration<double>> idle;
  /// Called at every window edge just before the reading: e.g. a CUDA synchronize, so GPU work
  /// queued before the edge is counted on the right side of it.
  std::function<void()> at_edge;
};

/// A reading at the start of a tracked call (Monitor::begin_call).
class TrackedCall {
 public:
  TrackedCall();
  ~TrackedCall();
  TrackedCall(TrackedCall&&) noexcept;
  TrackedCall& operator=(TrackedCall&&) noexcept;

 private:
  friend class Monitor;
  struct State;
  std::unique_ptr<State> state_;
};

class Monitor {
 public:
  /// Opens the sources (or, under joulebench, asks it for its channels) and starts the meter.
  /// Throws MonitorError for an unknown source or an unusable option.
  explicit Monitor(MonitorOptions options = {});
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  /// Opens the window `name`. Throws MonitorError if a window of that name is open.
  void begin_window(std::string_view name);
  /// Closes the window `name` and returns what it measured. Throws MonitorError if no window of
  /// that name is open.
  Measurement end_window(std::string_view name);

  /// A call of the tracked function `name` starts; end_call adds it into totals(name). Not a
  /// window: it is not a region of the run, and calls of one name may overlap.
  TrackedCall begin_call(std::string_view name);
  void end_call(TrackedCall&& call);
  /// The calls of `name` so far (calls = 0 if there were none).
  Totals totals(std::string_view name) const;
  /// Every name begin_call was given, in the order first seen.
  std::vector<std::string> tracked() const;

  /// Whether the figures come from the joulebench that runs this program (the events channel).
  bool under_joulebench() const;
  /// The source of each domain measured: {"cpu": "rapl-perf", "dram": "estimate", ...}.
  std::map<std::string, std::string> sources() const;
  /// Idle power per domain, where MonitorOptions::idle asked for a baseline.
  std::map<std::string, double> idle_power_w() const;

 private:
  std::unique_ptr<detail::MonitorCore> core_;
};

/// A window for the lifetime of the object: begin_window now, end_window when it goes (an error
/// there is swallowed: a destructor does not throw). end() closes it early and returns the figures.
class ScopedWindow {
 public:
  ScopedWindow(Monitor& monitor, std::string name);
  ~ScopedWindow();
  ScopedWindow(const ScopedWindow&) = delete;
  ScopedWindow& operator=(const ScopedWindow&) = delete;
  Measurement end();

 private:
  Monitor& monitor_;
  std::string name_;
  bool open_ = true;
};

}  // namespace joulebench
