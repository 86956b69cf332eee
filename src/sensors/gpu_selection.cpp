// The GPUs a run uses: selectors (NVML indices or UUIDs) resolved against the GPUs the NVML source
// found, from the facts its report records (gpu<index>.name, gpu<index>.uuid).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/sensors.hpp"

namespace joulebench {

namespace {

struct NvmlGpu {
  std::string name;
  std::string uuid;
};

/// The GPUs NVML gave a handle for, by index: every one that has a name in the report, measured
/// or not (a GPU without energy readings can still run the workload).
std::map<int, NvmlGpu> nvml_gpus(const SourceReport& report) {
  std::map<int, NvmlGpu> gpus;
  for (const auto& [key, value] : report.properties) {
    if (!key.starts_with("gpu")) continue;
    const auto dot = key.find('.');
    if (dot == std::string::npos) continue;
    int index = -1;
    const char* first = key.data() + 3;
    const char* last = key.data() + dot;
    if (auto [end, ec] = std::from_chars(first, last, index); ec != std::errc{} || end != last || first == last) {
      continue;
    }
    const std::string_view field = std::string_view(key).substr(dot + 1);
    if (field == "name") gpus[index].name = value;
    if (field == "uuid") gpus[index].uuid = value;
  }
  std::erase_if(gpus, [](const auto& gpu) { return gpu.second.name.empty(); });
  return gpus;
}

bool same_uuid(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string gpu_list(const std::map<int, NvmlGpu>& gpus) {
  std::vector<std::string> items;
  for (const auto& [index, gpu] : gpus) {
    items.push_back(fmt::format("{}: {} ({})", index, gpu.name, gpu.uuid.empty() ? "no UUID" : gpu.uuid));
  }
  return fmt::format("{}", fmt::join(items, "; "));
}

}  // namespace

SelectedGpus select_gpus(const SensorSet& sensors, const std::vector<std::string>& selectors) {
  SelectedGpus selected;
  if (selectors.empty()) return selected;

  const SourceReport* nvml = nullptr;
  for (const SourceReport* report : sensors.reports()) {
    if (report->name == "nvml") nvml = report;
  }
  const std::map<int, NvmlGpu> gpus = nvml ? nvml_gpus(*nvml) : std::map<int, NvmlGpu>{};
  if (gpus.empty()) {
    const std::string why = nvml == nullptr        ? std::string("the NVML source was not opened")
                            : nvml->reason.empty() ? std::string(status_name(nvml->status))
                                                   : fmt::format("{}: {}", status_name(nvml->status), nvml->reason);
    throw std::invalid_argument(
        fmt::format("GPU '{}' was asked for, but no NVIDIA GPU is available here (NVML {})", selectors.front(), why));
  }

  for (const std::string& selector : selectors) {
    std::optional<int> found;
    int index = -1;
    const char* first = selector.data();
    const char* last = selector.data() + selector.size();
    if (auto [end, ec] = std::from_chars(first, last, index); !selector.empty() && ec == std::errc{} && end == last) {
      if (gpus.contains(index)) found = index;
    } else {
      for (const auto& [i, gpu] : gpus) {
        if (!gpu.uuid.empty() && same_uuid(gpu.uuid, selector)) found = i;
      }
    }
    if (!found) {
      throw std::invalid_argument(
          fmt::format("no GPU '{}' here: a GPU is named by its NVML index or its UUID as nvidia-smi -L prints it "
                      "(GPU-...); the NVIDIA GPUs here are {}",
                      selector, gpu_list(gpus)));
    }
    if (std::find(selected.indices.begin(), selected.indices.end(), *found) != selected.indices.end()) continue;
    selected.indices.push_back(*found);
    selected.uuids.push_back(gpus.at(*found).uuid);
  }
  return selected;
}

}  // namespace joulebench
