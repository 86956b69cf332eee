// The machine a campaign ran on, recorded beside its results: what a reader of the figures needs
// to know to judge or repeat them.
#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "joulebench/campaign.hpp"
#include "joulebench/version.hpp"

namespace joulebench {

namespace {

namespace fs = std::filesystem;

std::string first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

/// The value of "key: value" in a /proc file such as cpuinfo or meminfo.
std::string proc_field(const fs::path& path, const std::string& key) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? std::string() : line.substr(start);
  }
  return {};
}

std::string os_release_name() {
  std::ifstream in("/etc/os-release");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string value = line.substr(12);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  return {};
}

}  // namespace

KeyValues capture_environment(const SensorSet& sensors, const SensorPaths& paths) {
  KeyValues env;
  auto add = [&](std::string key, std::string value) {
    if (!value.empty()) env.emplace_back(std::move(key), std::move(value));
  };
  add("joulebench.version", std::string(kVersion));

  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) add("host.name", host);
  utsname uts{};
  if (::uname(&uts) == 0) {
    add("kernel.release", uts.release);
    add("kernel.version", uts.version);
    add("machine", uts.machine);
  }
  add("os", os_release_name());

  add("cpu.model", proc_field(paths.procfs_root / "cpuinfo", "model name"));
  // Topology from sysfs: packages, physical cores (package, core) and logical CPUs online.
  std::set<std::string> packages;
  std::set<std::pair<std::string, std::string>> cores;
  int logical = 0;
  std::error_code ec;
  const fs::path cpus = paths.sysfs_root / "devices" / "system" / "cpu";
  for (const auto& entry : fs::directory_iterator(cpus, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() < 4 || name.rfind("cpu", 0) != 0 || name.find_first_not_of("0123456789", 3) != std::string::npos)
      continue;
    const std::string package = first_line(entry.path() / "topology" / "physical_package_id");
    if (package.empty()) continue;  // offline
    ++logical;
    packages.insert(package);
    cores.emplace(package, first_line(entry.path() / "topology" / "core_id"));
  }
  if (logical > 0) {
    add("cpu.sockets", std::to_string(packages.size()));
    add("cpu.cores", std::to_string(cores.size()));
    add("cpu.threads", std::to_string(logical));
  }
  add("cpu.governor", first_line(cpus / "cpu0" / "cpufreq" / "scaling_governor"));
  add("cpu.driver", first_line(cpus / "cpu0" / "cpufreq" / "scaling_driver"));
  if (const auto no_turbo = first_line(cpus / "intel_pstate" / "no_turbo"); !no_turbo.empty()) {
    add("cpu.turbo", no_turbo == "0" ? "on" : "off");
  } else if (const auto boost = first_line(cpus / "cpufreq" / "boost"); !boost.empty()) {
    add("cpu.turbo", boost == "1" ? "on" : "off");
  }
  const std::string memory = proc_field(paths.procfs_root / "meminfo", "MemTotal");
  if (!memory.empty()) {
    std::istringstream in(memory);
    double kib = 0;
    if (in >> kib) add("memory.total_gb", fmt::format("{:.1f}", kib * 1024.0 / 1e9));
  }

  for (std::size_t d = 0; d < kDomainCount; ++d) {
    const auto domain = static_cast<Domain>(d);
    add(fmt::format("energy.{}", domain_name(domain)), sensors.source_of(domain));
  }
  for (const SourceReport* report : sensors.reports()) {
    add(fmt::format("source.{}.status", report->name), std::string(status_name(report->status)));
    for (const auto& [key, value] : report->properties) add(fmt::format("source.{}.{}", report->name, key), value);
  }
  return env;
}

}  // namespace joulebench
