// Energy sources: where joules come from.
//
// Every source offers channels (one counter each: a RAPL zone of one package, one GPU, ...),
// reports whether it works here and, when it does not, why and what to change. A SensorSet opens
// every source, picks one source per energy domain (counters before models) and reads them
// together. All file-system roots and the NVML library path can be redirected, so tests run this
// same code over fake trees and a fake NVML library.
#pragma once

#include <bitset>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "joulebench/units.hpp"

namespace joulebench {

/// What part of the machine a figure covers.
enum class Domain : std::uint8_t {
  cpu,     ///< a whole CPU package (RAPL "package"/"energy-pkg")
  core,    ///< the cores of a package: a part of `cpu`
  uncore,  ///< the integrated GPU of a package (RAPL PP1): a part of `cpu`
  dram,    ///< memory attached to a package
  psys,    ///< the whole platform as the SoC sees it: overlaps all of the above
  gpu,     ///< one discrete GPU; where a run names its GPUs, only those
  /// The GPUs a run does not use, where it names the ones it uses: outside the run's total, so a
  /// run on one GPU of a shared machine is not charged for the others.
  gpu_other,
};
inline constexpr std::size_t kDomainCount = 7;
using DomainSet = std::bitset<kDomainCount>;

std::string_view domain_name(Domain d);
std::optional<Domain> parse_domain(std::string_view name);
/// Whether a domain adds into the total without double counting: core and uncore lie inside cpu,
/// psys covers the whole platform; cpu, dram and gpu are disjoint; gpu-other is not the run's.
bool counts_toward_total(Domain d);

/// How a channel's energy is obtained.
enum class Method : std::uint8_t {
  counter,            ///< a hardware energy counter read at the window's edges: exact
  power_integration,  ///< polled power integrated over time (trapezoid): as good as the polling
  model,              ///< a model of utilisation: an estimate, not a measurement
};
std::string_view method_name(Method m);

/// One energy counter: a RAPL zone of one package, one GPU, one modelled component.
struct Channel {
  std::string id;  ///< "<domain>-<device>": "cpu-0", "dram-1", "gpu-0"
  Domain domain = Domain::cpu;
  int device = 0;      ///< CPU package or GPU index
  std::string source;  ///< the source's name: "rapl-perf", "rapl-powercap", "nvml", "estimate"
  Method method = Method::counter;
  bool estimated = false;  ///< true for figures from a model
  std::string origin;      ///< where the figure comes from: a file, a perf event, a GPU, a model
};

/// One read of one channel.
struct ChannelReading {
  /// Energy since the source was opened: wrap-corrected, never decreasing.
  Joules energy;
  /// False when the energy of the interval ending at this reading could not be measured (the
  /// counter went backwards, the device stopped answering): that interval adds nothing.
  bool counted = true;
  /// Why the interval was not counted; valid until the source's next read.
  std::string_view problem;
  /// Hardware counters: the read since which the counter has not moved (this read's time when it
  /// just moved). Kept across windows, so the meter can tell a counter that stopped from one that
  /// is merely slow. Other methods may leave it unset.
  Clock::time_point unchanged_since{};
};

enum class SourceStatus : std::uint8_t { ok, unavailable, denied, error };
std::string_view status_name(SourceStatus s);

/// What a source found on this machine, for `joulebench sensors` and the recorded environment.
struct SourceReport {
  std::string name;
  SourceStatus status = SourceStatus::unavailable;
  std::string reason;             ///< why it is not ok (empty when ok)
  std::string remedy;             ///< what a user can change to make it work (empty when nothing can)
  std::string resolution;         ///< the finest energy step or the sampling rule, in words
  std::vector<Channel> channels;  ///< everything it offers here
  std::vector<std::pair<std::string, std::string>> properties;  ///< device facts: name, driver...
};

/// One way of obtaining energy. Not thread-safe: one reader at a time.
class EnergySource {
 public:
  virtual ~EnergySource() = default;
  EnergySource() = default;
  EnergySource(const EnergySource&) = delete;
  EnergySource& operator=(const EnergySource&) = delete;

  virtual const SourceReport& report() const = 0;
  /// The channels `read` fills, in order (after `drop_domains`, a subset of the report's).
  virtual std::span<const Channel> channels() const = 0;
  /// Stops reading the channels of these domains: another source covers them.
  virtual void drop_domains(DomainSet domains) = 0;
  /// Reads every channel at `now`, which must not go backwards between calls.
  virtual void read(Clock::time_point now, std::span<ChannelReading> out) = 0;
  /// The longest gap between reads that keeps the figures right (wrap correction, integration).
  virtual Seconds max_read_interval() const { return Seconds(3600.0); }
  /// The hottest of the source's devices now, in degrees Celsius, if it has temperature sensors
  /// (GPUs do). Used to wait for a machine to cool down between runs.
  virtual std::optional<double> temperature_c() { return std::nullopt; }
};

/// Where the sources look. Tests point these at fake trees and a fake NVML library.
struct SensorPaths {
  std::filesystem::path sysfs_root = "/sys";
  std::filesystem::path procfs_root = "/proc";
  std::string nvml_library = "libnvidia-ml.so.1";

  /// Defaults overridden by JOULEBENCH_SYSFS_ROOT, JOULEBENCH_PROCFS_ROOT, JOULEBENCH_NVML_LIBRARY.
  static SensorPaths from_environment();
};

/// The most power a device can draw. A counter step (or a power reading) implying more is a
/// glitch, not energy: that interval is unmeasured. Sources take what the machine states
/// (powercap's constraints, NVML's power limits) with a margin of kStatedMargin; where it states
/// nothing, these defaults. A value the user sets wins over both.
struct PowerCeilings {
  static constexpr double kStatedMargin = 2.0;
  struct Ceiling {
    double watts = 0;
    bool set_by_user = false;
  };
  Ceiling package{1000.0};  ///< a CPU package, and its cores, integrated GPU and platform counters
  Ceiling dram{500.0};      ///< the memory of one package
  Ceiling gpu{2000.0};      ///< one discrete GPU

  /// Defaults overridden by JOULEBENCH_MAX_PACKAGE_W, JOULEBENCH_MAX_DRAM_W and
  /// JOULEBENCH_MAX_GPU_W (positive watts). Throws std::invalid_argument on malformed values.
  static PowerCeilings from_environment();
  /// The ceiling of one device of `domain`: the user's value, else `stated_w` x kStatedMargin
  /// where the machine states a limit (absent or 0: it does not), else the default.
  Watts for_domain(Domain domain, std::optional<double> stated_w = std::nullopt) const;
};

/// The estimate for machines without energy sensors: Cloud Carbon Footprint's linear model.
/// CPU power = logical CPUs x (idle + utilisation x (max - idle)) per logical CPU; DRAM power =
/// installed GB x W/GB. Energy is integrated exactly from /proc/stat's busy time, so
/// E_cpu = n x idle x T + (max - idle) x busy CPU-seconds. Defaults are CCF's AWS averages
/// (0.74 W and 3.5 W per vCPU) and its DRAM coefficient (0.392 W/GB).
struct EstimateModel {
  double cpu_idle_w_per_thread = 0.74;
  double cpu_max_w_per_thread = 3.5;
  double dram_w_per_gb = 0.392;

  /// Defaults overridden by JOULEBENCH_ESTIMATE_CPU_IDLE_W, JOULEBENCH_ESTIMATE_CPU_MAX_W
  /// (both per logical CPU) and JOULEBENCH_ESTIMATE_DRAM_W_PER_GB. Throws on malformed values.
  static EstimateModel from_environment();
  /// "ccf-linear (0.74-3.5 W per logical CPU, 0.392 W/GB DRAM)"
  std::string describe() const;
};

std::unique_ptr<EnergySource> open_rapl_perf(const SensorPaths& paths, const PowerCeilings& ceilings = {});
std::unique_ptr<EnergySource> open_rapl_powercap(const SensorPaths& paths, const PowerCeilings& ceilings = {});
std::unique_ptr<EnergySource> open_nvml(const SensorPaths& paths, const PowerCeilings& ceilings = {});
std::unique_ptr<EnergySource> open_estimate(const SensorPaths& paths, const EstimateModel& model);

/// CPU time of the whole machine, from /proc/stat.
struct MachineCpuTimes {
  Seconds busy{0};   ///< user + nice + system + irq + softirq, summed over CPUs
  Seconds total{0};  ///< busy + idle + iowait + steal
};

/// Reads /proc/stat's aggregate line; keeps the file open so a read costs one pread.
class MachineCpuReader {
 public:
  explicit MachineCpuReader(const std::filesystem::path& procfs_root);
  ~MachineCpuReader();
  MachineCpuReader(const MachineCpuReader&) = delete;
  MachineCpuReader& operator=(const MachineCpuReader&) = delete;

  /// Nothing when /proc/stat cannot be read or parsed.
  std::optional<MachineCpuTimes> read();
  int logical_cpus() const { return logical_cpus_; }

 private:
  int fd_ = -1;
  int logical_cpus_ = 0;
  double seconds_per_tick_ = 0.01;
};

/// The hottest CPU and GPU temperature sensors now, where the machine has them.
struct Temperatures {
  std::optional<double> cpu_c;  ///< hwmon coretemp/k10temp/zenpower, else thermal zone x86_pkg_temp
  std::optional<double> gpu_c;  ///< from NVML
};

struct SensorOptions {
  SensorPaths paths;
  EstimateModel estimate;
  /// Restricts the sources used (by name); empty means all. A name no source has is refused
  /// (UnknownSource) when the set is opened.
  std::vector<std::string> only_sources;
  PowerCeilings ceilings;

  /// Paths, estimate model and ceilings from the environment (each type's from_environment).
  static SensorOptions from_environment(std::vector<std::string> only_sources = {});
};

/// A source asked for by a name no source has.
class UnknownSource : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Every source, opened once; for each domain, the first working source in the order
/// rapl-perf, rapl-powercap, nvml, estimate supplies it.
class SensorSet {
 public:
  static SensorSet open(const SensorOptions& options);
  /// The same selection over sources made elsewhere (tests, embedders), in priority order.
  static SensorSet from_sources(std::vector<std::unique_ptr<EnergySource>> sources, const SensorOptions& options);

  /// Every source tried, in order, whether used or not.
  std::vector<const SourceReport*> reports() const;
  /// Which source supplies each domain, by name (empty for domains nobody covers).
  std::string source_of(Domain d) const;
  /// The channels in use, across sources, in the order `read` fills.
  std::span<const Channel> channels() const { return channels_; }
  void read(Clock::time_point now, std::span<ChannelReading> out);
  /// The shortest of the sources' max_read_interval.
  Seconds max_read_interval() const;
  MachineCpuReader& machine_cpu() { return *machine_cpu_; }
  /// Reads CPU temperatures from <sysfs>/class/hwmon (or thermal zones) and GPU ones from the
  /// sources. Not thread-safe with `read`.
  Temperatures temperatures();

 private:
  std::vector<std::filesystem::path> cpu_temperature_files_;
  std::vector<std::unique_ptr<EnergySource>> sources_;
  std::vector<EnergySource*> active_;
  std::vector<Channel> channels_;
  std::unique_ptr<MachineCpuReader> machine_cpu_;
};

/// The GPUs a run uses, resolved against the NVML GPUs of this machine.
struct SelectedGpus {
  std::vector<int> indices;        ///< NVML device indices, in the order the selectors named them
  std::vector<std::string> uuids;  ///< parallel to indices; empty where NVML gives no UUID
};

/// Resolves selectors (decimal NVML indices, or UUIDs as nvidia-smi prints them: "GPU-...")
/// against the NVML GPUs the set found. A GPU named twice is selected once. Throws
/// std::invalid_argument naming the selector and listing the GPUs present (index, name, UUID), or
/// saying that no NVIDIA GPU or NVML is available here.
SelectedGpus select_gpus(const SensorSet& sensors, const std::vector<std::string>& selectors);

}  // namespace joulebench
