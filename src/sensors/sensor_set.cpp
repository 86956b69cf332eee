// Names of domains and methods, configuration from the environment, and the choice of one source
// per domain.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/sensors.hpp"
#include "sysfs.hpp"

namespace joulebench {

namespace {

constexpr std::array<std::string_view, kDomainCount> kDomainNames = {"cpu",  "core", "uncore",   "dram",
                                                                     "psys", "gpu",  "gpu-other"};

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

double positive_from_environment(const char* name, double fallback) {
  const auto text = environment(name);
  if (!text) return fallback;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text->c_str(), &end);
  if (errno != 0 || end == text->c_str() || *end != '\0' || !std::isfinite(value) || value < 0.0) {
    throw std::invalid_argument(fmt::format("{}={} is not a non-negative number", name, *text));
  }
  return value;
}

/// CPU package/die temperature inputs: hwmon drivers of CPUs first, else the package thermal zone.
std::vector<std::filesystem::path> find_cpu_temperature_files(const std::filesystem::path& sysfs_root) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& hwmon : fs::directory_iterator(sysfs_root / "class" / "hwmon", ec)) {
    const auto name = detail::read_text(hwmon.path() / "name");
    if (!name || (*name != "coretemp" && *name != "k10temp" && *name != "zenpower" && *name != "cpu_thermal")) continue;
    std::error_code inner;
    for (const auto& entry : fs::directory_iterator(hwmon.path(), inner)) {
      const std::string file = entry.path().filename().string();
      if (file.rfind("temp", 0) == 0 && file.ends_with("_input")) files.push_back(entry.path());
    }
  }
  if (!files.empty()) return files;
  for (const auto& zone : fs::directory_iterator(sysfs_root / "class" / "thermal", ec)) {
    const auto type = detail::read_text(zone.path() / "type");
    if (type && (*type == "x86_pkg_temp" || *type == "cpu-thermal")) files.push_back(zone.path() / "temp");
  }
  return files;
}

}  // namespace

std::string_view domain_name(Domain d) { return kDomainNames[static_cast<std::size_t>(d)]; }

std::optional<Domain> parse_domain(std::string_view name) {
  for (std::size_t i = 0; i < kDomainCount; ++i) {
    if (kDomainNames[i] == name) return static_cast<Domain>(i);
  }
  return std::nullopt;
}

bool counts_toward_total(Domain d) { return d == Domain::cpu || d == Domain::dram || d == Domain::gpu; }

std::string_view method_name(Method m) {
  switch (m) {
    case Method::counter: return "counter";
    case Method::power_integration: return "power-integration";
    case Method::model: return "model";
  }
  return "?";
}

std::string_view status_name(SourceStatus s) {
  switch (s) {
    case SourceStatus::ok: return "ok";
    case SourceStatus::unavailable: return "unavailable";
    case SourceStatus::denied: return "denied";
    case SourceStatus::error: return "error";
  }
  return "?";
}

SensorPaths SensorPaths::from_environment() {
  SensorPaths paths;
  if (auto v = environment("JOULEBENCH_SYSFS_ROOT")) paths.sysfs_root = *v;
  if (auto v = environment("JOULEBENCH_PROCFS_ROOT")) paths.procfs_root = *v;
  if (auto v = environment("JOULEBENCH_NVML_LIBRARY")) paths.nvml_library = *v;
  return paths;
}

EstimateModel EstimateModel::from_environment() {
  EstimateModel model;
  model.cpu_idle_w_per_thread =
      positive_from_environment("JOULEBENCH_ESTIMATE_CPU_IDLE_W", model.cpu_idle_w_per_thread);
  model.cpu_max_w_per_thread = positive_from_environment("JOULEBENCH_ESTIMATE_CPU_MAX_W", model.cpu_max_w_per_thread);
  model.dram_w_per_gb = positive_from_environment("JOULEBENCH_ESTIMATE_DRAM_W_PER_GB", model.dram_w_per_gb);
  if (model.cpu_max_w_per_thread < model.cpu_idle_w_per_thread) {
    throw std::invalid_argument(
        fmt::format("JOULEBENCH_ESTIMATE_CPU_MAX_W ({}) is below JOULEBENCH_ESTIMATE_CPU_IDLE_W ({})",
                    model.cpu_max_w_per_thread, model.cpu_idle_w_per_thread));
  }
  return model;
}

PowerCeilings PowerCeilings::from_environment() {
  PowerCeilings ceilings;
  const auto user = [](const char* name, Ceiling& ceiling) {
    if (!environment(name)) return;
    ceiling.watts = positive_from_environment(name, ceiling.watts);
    if (!(ceiling.watts > 0)) throw std::invalid_argument(fmt::format("{} must be more than 0 W", name));
    ceiling.set_by_user = true;
  };
  user("JOULEBENCH_MAX_PACKAGE_W", ceilings.package);
  user("JOULEBENCH_MAX_DRAM_W", ceilings.dram);
  user("JOULEBENCH_MAX_GPU_W", ceilings.gpu);
  return ceilings;
}

Watts PowerCeilings::for_domain(Domain domain, std::optional<double> stated_w) const {
  const Ceiling& ceiling = domain == Domain::dram ? dram : domain == Domain::gpu ? gpu : package;
  if (ceiling.set_by_user || !stated_w || !(*stated_w > 0)) return Watts(ceiling.watts);
  return Watts(*stated_w * kStatedMargin);
}

SensorOptions SensorOptions::from_environment(std::vector<std::string> only_sources) {
  return SensorOptions{SensorPaths::from_environment(), EstimateModel::from_environment(), std::move(only_sources),
                       PowerCeilings::from_environment()};
}

std::string EstimateModel::describe() const {
  return fmt::format("ccf-linear ({:g}-{:g} W per logical CPU by utilisation, {:g} W/GB DRAM)", cpu_idle_w_per_thread,
                     cpu_max_w_per_thread, dram_w_per_gb);
}

SensorSet SensorSet::open(const SensorOptions& options) {
  std::vector<std::unique_ptr<EnergySource>> sources;
  sources.push_back(open_rapl_perf(options.paths, options.ceilings));
  sources.push_back(open_rapl_powercap(options.paths, options.ceilings));
  sources.push_back(open_nvml(options.paths, options.ceilings));
  sources.push_back(open_estimate(options.paths, options.estimate));
  return from_sources(std::move(sources), options);
}

SensorSet SensorSet::from_sources(std::vector<std::unique_ptr<EnergySource>> sources, const SensorOptions& options) {
  SensorSet set;
  set.sources_ = std::move(sources);
  for (const auto& name : options.only_sources) {
    const bool known = std::any_of(set.sources_.begin(), set.sources_.end(),
                                   [&](const auto& source) { return source->report().name == name; });
    if (!known) {
      std::vector<std::string> names;
      for (const auto& source : set.sources_) names.push_back(source->report().name);
      throw UnknownSource(fmt::format("unknown source '{}': the sources are {} (see 'joulebench sensors')", name,
                                      fmt::join(names, ", ")));
    }
  }

  auto wanted = [&](const EnergySource& source) {
    if (options.only_sources.empty()) return true;
    for (const auto& name : options.only_sources) {
      if (name == source.report().name) return true;
    }
    return false;
  };

  DomainSet covered;
  for (auto& source : set.sources_) {
    if (!wanted(*source)) {
      source->drop_domains(DomainSet().set());
      continue;
    }
    source->drop_domains(covered);
    if (source->channels().empty()) continue;
    for (const auto& channel : source->channels()) {
      covered.set(static_cast<std::size_t>(channel.domain));
      set.channels_.push_back(channel);
    }
    set.active_.push_back(source.get());
  }
  set.machine_cpu_ = std::make_unique<MachineCpuReader>(options.paths.procfs_root);
  set.cpu_temperature_files_ = find_cpu_temperature_files(options.paths.sysfs_root);
  return set;
}

Temperatures SensorSet::temperatures() {
  Temperatures t;
  for (const auto& file : cpu_temperature_files_) {
    const auto text = detail::read_text(file);
    if (!text) continue;
    char* end = nullptr;
    const double millidegrees = std::strtod(text->c_str(), &end);
    if (end == text->c_str()) continue;
    t.cpu_c = std::max(t.cpu_c.value_or(-273.0), millidegrees / 1000.0);
  }
  for (auto& source : sources_) {
    if (source->channels().empty()) continue;
    if (const auto c = source->temperature_c()) t.gpu_c = std::max(t.gpu_c.value_or(-273.0), *c);
  }
  return t;
}

std::vector<const SourceReport*> SensorSet::reports() const {
  std::vector<const SourceReport*> out;
  for (const auto& source : sources_) out.push_back(&source->report());
  return out;
}

std::string SensorSet::source_of(Domain d) const {
  for (const auto& channel : channels_) {
    if (channel.domain == d) return channel.source;
  }
  return {};
}

void SensorSet::read(Clock::time_point now, std::span<ChannelReading> out) {
  std::size_t offset = 0;
  for (auto* source : active_) {
    const std::size_t n = source->channels().size();
    source->read(now, out.subspan(offset, n));
    offset += n;
  }
}

Seconds SensorSet::max_read_interval() const {
  Seconds shortest(3600.0);
  for (const auto* source : active_) shortest = std::min(shortest, source->max_read_interval());
  return shortest;
}

}  // namespace joulebench
