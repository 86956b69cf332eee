// RAPL through the powercap sysfs interface (/sys/class/powercap/intel-rapl:*), which Intel and
// AMD machines both expose. energy_uj is a microjoule counter that wraps at max_energy_range_uj;
// the source corrects wraps, which works as long as it is read at least once per wrap period.
#include <algorithm>
#include <cerrno>
#include <map>
#include <regex>

#include <fmt/format.h>

#include "joulebench/sensors.hpp"
#include "channel_list.hpp"
#include "counter_tracker.hpp"
#include "sysfs.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;

/// Used when a zone states no power limit: no CPU package or DIMM set draws this much, so a
/// decrease implying more is a glitch, not a wrap.
constexpr double kDefaultPlausibleWatts = 1000.0;

struct Zone {
  Channel channel;
  detail::CounterFile file;
  std::uint64_t max_range_uj = 0;
  double plausible_watts = kDefaultPlausibleWatts;
  detail::CounterTracker tracker;
};

std::optional<Domain> domain_of_zone(const std::string& name) {
  if (name.rfind("package-", 0) == 0) return Domain::cpu;
  if (name == "core") return Domain::core;
  if (name == "uncore") return Domain::uncore;
  if (name == "dram") return Domain::dram;
  if (name == "psys") return Domain::psys;
  return std::nullopt;
}

std::string permission_remedy(const fs::path& example) {
  return fmt::format(
      "energy_uj is readable by root only on kernels since 5.10 (a mitigation of the Platypus attack). Either: "
      "(1) run joulebench as root; "
      "(2) make the counters group-readable at boot: with sysfsutils, add lines such as "
      "'mode class/powercap/intel-rapl:0/energy_uj = 0440' and 'owner class/powercap/intel-rapl:0/energy_uj = root:power' "
      "to /etc/sysfs.conf, or a udev rule "
      "'SUBSYSTEM==\"powercap\", ACTION==\"add\", RUN+=\"/bin/chgrp power /sys%p/energy_uj\", RUN+=\"/bin/chmod g+r /sys%p/energy_uj\"' "
      "in /etc/udev/rules.d/70-joulebench-powercap.rules, and add your user to group 'power'; for this boot only: "
      "'sudo chmod o+r {}'; "
      "(3) use the rapl-perf source instead: 'sudo sysctl kernel.perf_event_paranoid=0', or "
      "'sudo setcap cap_perfmon+ep $(command -v joulebench)'",
      example.string());
}

class RaplPowercapSource final : public EnergySource {
 public:
  explicit RaplPowercapSource(const SensorPaths& paths) {
    report_.name = "rapl-powercap";
    const fs::path root = paths.sysfs_root / "class" / "powercap";
    discover(root);
  }

  const SourceReport& report() const override { return report_; }
  std::span<const Channel> channels() const override { return zones_.channels(); }
  void drop_domains(DomainSet domains) override { zones_.drop_domains(domains); }

  void read(Clock::time_point now, std::span<ChannelReading> out) override {
    auto& zones = zones_.items();
    for (std::size_t i = 0; i < zones.size(); ++i) out[i] = read_zone(zones[i], now);
  }

  Seconds max_read_interval() const override {
    Seconds shortest(3600.0);
    for (const auto& z : zones_.items()) {
      shortest = std::min(shortest, Seconds(static_cast<double>(z.max_range_uj) * 1e-6 / z.plausible_watts));
    }
    return shortest;
  }

 private:
  static ChannelReading read_zone(Zone& z, Clock::time_point now) {
    const auto update = z.tracker.update(z.file.read(), now);
    return {Joules(static_cast<double>(z.tracker.total()) * 1e-6), update.counted, update.problem};
  }

  void discover(const fs::path& root) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      report_.status = SourceStatus::unavailable;
      report_.reason = fmt::format("{} does not exist: the kernel exposes no powercap zones", root.string());
      report_.remedy = "on bare-metal Intel or AMD machines load the driver: 'sudo modprobe intel_rapl_msr'; "
                       "virtual machines and containers usually have no RAPL";
      return;
    }
    // Top-level zones intel-rapl:N and subzones intel-rapl:N:M; intel-rapl-mmio:* duplicates the
    // package counter through another path and is skipped so nothing is counted twice.
    static const std::regex zone_name(R"(intel-rapl:(\d+)(?::(\d+))?)");
    std::map<std::string, fs::path> entries;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      const std::string name = entry.path().filename().string();
      if (std::regex_match(name, zone_name)) entries.emplace(name, entry.path());
    }
    if (entries.empty()) {
      report_.status = SourceStatus::unavailable;
      report_.reason = fmt::format("no intel-rapl zones under {}", root.string());
      report_.remedy = "on bare-metal Intel or AMD machines load the driver: 'sudo modprobe intel_rapl_msr'";
      return;
    }

    std::vector<std::string> denied;
    std::vector<std::string> broken;
    for (const auto& [name, dir] : entries) {
      const auto zone_label = detail::read_text(dir / "name");
      if (!zone_label) continue;
      const auto domain = domain_of_zone(*zone_label);
      if (!domain) continue;

      Zone z;
      z.channel.domain = *domain;
      z.channel.device = device_of(name, *zone_label, root);
      z.channel.id = fmt::format("{}-{}", domain_name(*domain), z.channel.device);
      z.channel.source = report_.name;
      z.channel.method = Method::counter;
      z.channel.origin = (dir / "energy_uj").string();

      const auto range = detail::read_text(dir / "max_energy_range_uj");
      const auto range_uj = range ? detail::parse_u64(*range) : std::nullopt;
      if (!range_uj || *range_uj == 0) {
        broken.push_back(fmt::format("{}: max_energy_range_uj unreadable", z.channel.origin));
        continue;
      }
      z.max_range_uj = *range_uj;
      if (const auto limit = detail::read_text(dir / "constraint_0_max_power_uw")) {
        if (const auto uw = detail::parse_u64(*limit); uw && *uw > 0) {
          z.plausible_watts = 2.0 * static_cast<double>(*uw) * 1e-6;
        }
      }
      // Energy in uJ per second is power in uW: a decrease is a wrap only below the plausible power.
      z.tracker = detail::CounterTracker(z.max_range_uj, z.plausible_watts * 1e6);
      if (const int error = z.file.open(dir / "energy_uj"); error != 0) {
        if (error == EACCES || error == EPERM) {
          denied.push_back(z.channel.origin);
        } else {
          broken.push_back(fmt::format("{}: {}", z.channel.origin, detail::errno_text(error)));
        }
        continue;
      }
      zones_.add(std::move(z));
    }

    zones_.finish();
    report_.channels.assign(zones_.channels().begin(), zones_.channels().end());
    report_.resolution = "1 uJ counter (hardware steps of about 15 uJ); wraps at max_energy_range_uj are corrected";

    if (!zones_.items().empty()) {
      report_.status = SourceStatus::ok;
      if (!denied.empty()) report_.reason = fmt::format("{} zone(s) not readable: {}", denied.size(), denied.front());
    } else if (!denied.empty()) {
      report_.status = SourceStatus::denied;
      report_.reason = denied.size() == 1
                           ? fmt::format("permission denied reading {}", denied.front())
                           : fmt::format("permission denied reading {} and {} other zone(s)", denied.front(), denied.size() - 1);
      report_.remedy = permission_remedy(denied.front());
    } else {
      report_.status = SourceStatus::error;
      report_.reason = broken.empty() ? "no usable RAPL zones" : broken.front();
    }
  }

  /// Packages are numbered by their zone names ("package-1"); a subzone belongs to its parent's
  /// package.
  static int device_of(const std::string& entry, const std::string& label, const fs::path& root) {
    auto package_number = [](const std::string& l) -> std::optional<int> {
      if (l.rfind("package-", 0) != 0) return std::nullopt;
      const auto n = detail::parse_u64(l.substr(8));
      return n ? std::optional<int>(static_cast<int>(*n)) : std::nullopt;
    };
    if (auto n = package_number(label)) return *n;
    const auto second_colon = entry.find(':', entry.find(':') + 1);
    if (second_colon != std::string::npos) {
      if (const auto parent = detail::read_text(root / entry.substr(0, second_colon) / "name")) {
        if (auto n = package_number(*parent)) return *n;
      }
    }
    return 0;
  }

  SourceReport report_;
  detail::ChannelList<Zone> zones_;
};

}  // namespace

std::unique_ptr<EnergySource> open_rapl_powercap(const SensorPaths& paths) {
  return std::make_unique<RaplPowercapSource>(paths);
}

}  // namespace joulebench
