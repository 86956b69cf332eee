// NVIDIA GPUs through NVML, loaded at run time with dlopen so one binary runs on machines with
// and without NVIDIA drivers. Per GPU: the cumulative energy counter (Volta and newer) where the
// driver supports it, otherwise polled power integrated with the trapezoid rule. NVML is
// initialised once when the source opens and shut down once when it closes.
#include <dlfcn.h>

#include <array>
#include <cstdint>

#include <fmt/format.h>

#include "channel_list.hpp"
#include "counter_tracker.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench {
namespace {

// The few NVML declarations used, as documented in NVIDIA's NVML API reference (nvml.h is not
// needed to build, only the driver's library to run).
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr nvmlReturn_t NVML_SUCCESS = 0;
constexpr nvmlReturn_t NVML_ERROR_NOT_SUPPORTED = 3;
constexpr nvmlReturn_t NVML_ERROR_NO_PERMISSION = 4;
constexpr nvmlReturn_t NVML_ERROR_DRIVER_NOT_LOADED = 9;
constexpr int NVML_TEMPERATURE_GPU = 0;
constexpr int NVML_CLOCK_SM = 1;
constexpr int NVML_CLOCK_MEM = 2;

struct NvmlApi {
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  const char* (*error_string)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*device_count)(unsigned int*) = nullptr;
  nvmlReturn_t (*device_handle)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*driver_version)(char*, unsigned int) = nullptr;
  nvmlReturn_t (*device_name)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*device_uuid)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*total_energy)(nvmlDevice_t, unsigned long long*) = nullptr;
  nvmlReturn_t (*power_usage)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*power_limit)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*power_limit_constraints)(nvmlDevice_t, unsigned int*, unsigned int*) = nullptr;
  nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned int*) = nullptr;
  nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned int*) = nullptr;
};

template <class F>
void bind(void* library, F& function, const char* name) {
  function = reinterpret_cast<F>(::dlsym(library, name));
}

struct Gpu {
  Channel channel;
  nvmlDevice_t handle = nullptr;
  detail::CounterTracker counter;  // mJ, never wraps in practice (64 bits)
  Watts ceiling;                   // a step or a power reading above this is a glitch
  // Power integration state.
  double joules = 0.0;
  double last_watts = 0.0;
  Clock::time_point last_time{};
  bool primed = false;
  bool ever_failed = false;
  std::string problem;
};

/// Polling power: NVML documents the reading as the board's current draw, refreshed by the
/// driver every few tens of milliseconds; reading more often than this gains nothing.
constexpr Seconds kPowerPollingInterval{0.1};

/// How much energy one update of the GPU's counter may hold beyond the interval read: the driver
/// refreshes it less often than RAPL's millisecond (its period is not documented), so a step read
/// 10 ms after the last may carry up to this long's energy.
constexpr Seconds kCounterUpdateSlack{0.1};

class NvmlSource final : public EnergySource {
 public:
  NvmlSource(const SensorPaths& paths, const PowerCeilings& ceilings) : ceilings_(ceilings) {
    report_.name = "nvml";
    report_.resolution = "1 mJ energy counter; power polling integrated (trapezoid) where the counter is missing";
    library_ = ::dlopen(paths.nvml_library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library_ == nullptr) {
      const char* why = ::dlerror();
      report_.status = SourceStatus::unavailable;
      report_.reason = fmt::format("cannot load {}: {}", paths.nvml_library, why ? why : "unknown error");
      report_.remedy =
          "on machines with NVIDIA GPUs install the NVIDIA driver (it ships libnvidia-ml.so.1), or set "
          "JOULEBENCH_NVML_LIBRARY to the library's path";
      return;
    }
    bind(library_, api_.init, "nvmlInit_v2");
    bind(library_, api_.shutdown, "nvmlShutdown");
    bind(library_, api_.error_string, "nvmlErrorString");
    bind(library_, api_.device_count, "nvmlDeviceGetCount_v2");
    bind(library_, api_.device_handle, "nvmlDeviceGetHandleByIndex_v2");
    bind(library_, api_.driver_version, "nvmlSystemGetDriverVersion");
    bind(library_, api_.device_name, "nvmlDeviceGetName");
    bind(library_, api_.device_uuid, "nvmlDeviceGetUUID");
    bind(library_, api_.total_energy, "nvmlDeviceGetTotalEnergyConsumption");
    bind(library_, api_.power_usage, "nvmlDeviceGetPowerUsage");
    bind(library_, api_.power_limit, "nvmlDeviceGetEnforcedPowerLimit");
    bind(library_, api_.power_limit_constraints, "nvmlDeviceGetPowerManagementLimitConstraints");
    bind(library_, api_.temperature, "nvmlDeviceGetTemperature");
    bind(library_, api_.clock, "nvmlDeviceGetClockInfo");
    if (!api_.init || !api_.shutdown || !api_.device_count || !api_.device_handle) {
      report_.status = SourceStatus::error;
      report_.reason = fmt::format("{} lacks nvmlInit_v2, nvmlDeviceGetCount_v2 or nvmlDeviceGetHandleByIndex_v2",
                                   paths.nvml_library);
      return;
    }
    const nvmlReturn_t init = api_.init();
    if (init != NVML_SUCCESS) {
      report_.status = init == NVML_ERROR_NO_PERMISSION       ? SourceStatus::denied
                       : init == NVML_ERROR_DRIVER_NOT_LOADED ? SourceStatus::unavailable
                                                              : SourceStatus::error;
      report_.reason = fmt::format("nvmlInit_v2: {}", error_text(init));
      report_.remedy = init == NVML_ERROR_NO_PERMISSION
                           ? "give this user access to /dev/nvidia* (group 'video' on most distributions)"
                       : init == NVML_ERROR_DRIVER_NOT_LOADED ? "load the NVIDIA kernel driver ('sudo modprobe nvidia')"
                                                              : "";
      return;
    }
    initialised_ = true;
    discover_devices();
  }

  ~NvmlSource() override {
    if (initialised_) api_.shutdown();
    if (library_ != nullptr) ::dlclose(library_);
  }

  const SourceReport& report() const override { return report_; }
  std::span<const Channel> channels() const override { return gpus_.channels(); }

  void drop_domains(DomainSet domains) override { gpus_.drop_domains(domains); }

  void read(Clock::time_point now, std::span<ChannelReading> out) override {
    auto& gpus = gpus_.items();
    for (std::size_t i = 0; i < gpus.size(); ++i) {
      Gpu& gpu = gpus[i];
      out[i] = gpu.channel.method == Method::counter ? read_counter(gpu, now) : read_power(gpu, now);
    }
  }

  std::optional<double> temperature_c() override {
    std::optional<double> hottest;
    if (!api_.temperature) return hottest;
    for (const auto& gpu : gpus_.items()) {
      unsigned int celsius = 0;
      if (api_.temperature(gpu.handle, NVML_TEMPERATURE_GPU, &celsius) == NVML_SUCCESS) {
        hottest = std::max(hottest.value_or(0.0), static_cast<double>(celsius));
      }
    }
    return hottest;
  }

  Seconds max_read_interval() const override {
    for (const auto& gpu : gpus_.items()) {
      if (gpu.channel.method == Method::power_integration) return kPowerPollingInterval;
    }
    return Seconds(3600.0);
  }

 private:
  ChannelReading read_counter(Gpu& gpu, Clock::time_point now) {
    unsigned long long millijoules = 0;
    const nvmlReturn_t status = api_.total_energy(gpu.handle, &millijoules);
    const auto update =
        gpu.counter.update(status == NVML_SUCCESS ? std::optional<std::uint64_t>(millijoules) : std::nullopt, now);
    const Joules energy(static_cast<double>(gpu.counter.total()) * 1e-3);
    if (status != NVML_SUCCESS)
      return {energy, false, remember(gpu, "nvmlDeviceGetTotalEnergyConsumption", status), now};
    return {energy, update.counted, update.problem, update.unchanged_since};
  }

  ChannelReading read_power(Gpu& gpu, Clock::time_point now) {
    unsigned int milliwatts = 0;
    const nvmlReturn_t status = api_.power_usage(gpu.handle, &milliwatts);
    if (status != NVML_SUCCESS) {
      gpu.primed = false;
      gpu.ever_failed = true;
      return {Joules(gpu.joules), false, remember(gpu, "nvmlDeviceGetPowerUsage", status), now};
    }
    const double watts = milliwatts * 1e-3;
    if (watts > gpu.ceiling.value) {
      // A reading no GPU can draw: both intervals it would bound are unknown.
      gpu.primed = false;
      gpu.ever_failed = true;
      gpu.problem = fmt::format(
          "nvmlDeviceGetPowerUsage read {:.4g} W, more than the GPU can draw (at most {:.4g} W): a "
          "glitch, not power",
          watts, gpu.ceiling.value);
      return {Joules(gpu.joules), false, gpu.problem, now};
    }
    if (!gpu.primed) {
      gpu.primed = true;
      gpu.last_watts = watts;
      gpu.last_time = now;
      if (gpu.ever_failed) return {Joules(gpu.joules), false, "power readable again: the interval before is lost", now};
      return {Joules(gpu.joules), true, {}, now};
    }
    gpu.joules += 0.5 * (gpu.last_watts + watts) * Seconds(now - gpu.last_time).count();
    gpu.last_watts = watts;
    gpu.last_time = now;
    return {Joules(gpu.joules), true, {}, now};
  }

  std::string_view remember(Gpu& gpu, const char* call, nvmlReturn_t status) {
    gpu.problem = fmt::format("{}: {}", call, error_text(status));
    return gpu.problem;
  }

  std::string error_text(nvmlReturn_t status) const {
    const char* text = api_.error_string ? api_.error_string(status) : nullptr;
    return text ? fmt::format("{} (NVML error {})", text, status) : fmt::format("NVML error {}", status);
  }

  void discover_devices() {
    std::array<char, 96> text{};
    if (api_.driver_version && api_.driver_version(text.data(), text.size()) == NVML_SUCCESS) {
      report_.properties.emplace_back("driver_version", text.data());
    }
    unsigned int count = 0;
    if (const nvmlReturn_t status = api_.device_count(&count); status != NVML_SUCCESS) {
      report_.status = SourceStatus::error;
      report_.reason = fmt::format("nvmlDeviceGetCount_v2: {}", error_text(status));
      return;
    }
    std::vector<std::string> problems;
    for (unsigned int index = 0; index < count; ++index) {
      Gpu gpu;
      if (const nvmlReturn_t status = api_.device_handle(index, &gpu.handle); status != NVML_SUCCESS) {
        problems.push_back(fmt::format("GPU {}: {}", index, error_text(status)));
        continue;
      }
      std::string name = fmt::format("GPU {}", index);
      if (api_.device_name && api_.device_name(gpu.handle, text.data(), text.size()) == NVML_SUCCESS)
        name = text.data();
      const std::string prefix = fmt::format("gpu{}.", index);
      report_.properties.emplace_back(prefix + "name", name);
      if (api_.device_uuid && api_.device_uuid(gpu.handle, text.data(), text.size()) == NVML_SUCCESS) {
        report_.properties.emplace_back(prefix + "uuid", text.data());
      }
      unsigned int value = 0;
      std::optional<double> stated_w;  // the highest power limit the GPU states
      if (api_.power_limit && api_.power_limit(gpu.handle, &value) == NVML_SUCCESS) {
        report_.properties.emplace_back(prefix + "power_limit_w", fmt::format("{:g}", value * 1e-3));
        stated_w = value * 1e-3;
      }
      unsigned int min_limit = 0;
      unsigned int max_limit = 0;
      if (api_.power_limit_constraints &&
          api_.power_limit_constraints(gpu.handle, &min_limit, &max_limit) == NVML_SUCCESS) {
        report_.properties.emplace_back(prefix + "max_power_limit_w", fmt::format("{:g}", max_limit * 1e-3));
        stated_w = std::max(stated_w.value_or(0.0), max_limit * 1e-3);
      }
      gpu.ceiling = ceilings_.for_domain(Domain::gpu, stated_w);
      gpu.counter = detail::CounterTracker(1e-3, gpu.ceiling, kCounterUpdateSlack);
      if (api_.temperature && api_.temperature(gpu.handle, NVML_TEMPERATURE_GPU, &value) == NVML_SUCCESS) {
        report_.properties.emplace_back(prefix + "temperature_c", std::to_string(value));
      }
      if (api_.clock && api_.clock(gpu.handle, NVML_CLOCK_SM, &value) == NVML_SUCCESS) {
        report_.properties.emplace_back(prefix + "sm_clock_mhz", std::to_string(value));
      }
      if (api_.clock && api_.clock(gpu.handle, NVML_CLOCK_MEM, &value) == NVML_SUCCESS) {
        report_.properties.emplace_back(prefix + "memory_clock_mhz", std::to_string(value));
      }

      gpu.channel.domain = Domain::gpu;
      gpu.channel.device = static_cast<int>(index);
      gpu.channel.id = fmt::format("gpu-{}", index);
      gpu.channel.source = report_.name;
      unsigned long long millijoules = 0;
      unsigned int milliwatts = 0;
      if (api_.total_energy && api_.total_energy(gpu.handle, &millijoules) == NVML_SUCCESS) {
        gpu.channel.method = Method::counter;
        gpu.channel.origin = fmt::format("{}: nvmlDeviceGetTotalEnergyConsumption", name);
      } else if (api_.power_usage && api_.power_usage(gpu.handle, &milliwatts) == NVML_SUCCESS) {
        gpu.channel.method = Method::power_integration;
        gpu.channel.origin = fmt::format("{}: nvmlDeviceGetPowerUsage integrated over time (no energy counter)", name);
      } else {
        problems.push_back(fmt::format("{} reports neither an energy counter nor power", name));
        continue;
      }
      report_.properties.emplace_back(prefix + "energy_method", std::string(method_name(gpu.channel.method)));
      gpus_.add(std::move(gpu));
    }
    gpus_.finish();
    report_.channels.assign(gpus_.channels().begin(), gpus_.channels().end());
    if (!gpus_.items().empty()) {
      report_.status = SourceStatus::ok;
      if (!problems.empty()) report_.reason = problems.front();
    } else if (count == 0) {
      report_.status = SourceStatus::unavailable;
      report_.reason = "the NVIDIA driver reports no GPU";
    } else {
      report_.status = SourceStatus::error;
      report_.reason = problems.empty() ? "no usable GPU" : problems.front();
    }
  }

  SourceReport report_;
  PowerCeilings ceilings_;
  void* library_ = nullptr;
  NvmlApi api_;
  bool initialised_ = false;
  detail::ChannelList<Gpu> gpus_;
};

}  // namespace

std::unique_ptr<EnergySource> open_nvml(const SensorPaths& paths, const PowerCeilings& ceilings) {
  return std::make_unique<NvmlSource>(paths, ceilings);
}

}  // namespace joulebench
