// RAPL through the powercap sysfs interface (/sys/class/powercap/intel-rapl:*), which Intel and
// AMD machines both expose. energy_uj is a microjoule counter that wraps at max_energy_range_uj;
// the source corrects wraps, which works as long as it is read at least once per wrap period.
#include <algorithm>
#include <cerrno>
#include <map>
#include <regex>

#include <fmt/format.h>

#include "channel_list.hpp"
#include "counter_tracker.hpp"
#include "joulebench/sensors.hpp"
#include "powercap_zones.hpp"
#include "sysfs.hpp"

namespace joulebench {

namespace detail {

namespace {

std::optional<Domain> domain_of_zone(const std::string& name) {
  if (name.rfind("package-", 0) == 0) return Domain::cpu;
  if (name == "core") return Domain::core;
  if (name == "uncore") return Domain::uncore;
  if (name == "dram") return Domain::dram;
  if (name == "psys") return Domain::psys;
  return std::nullopt;
}

std::optional<int> package_number(const std::string& label) {
  if (label.rfind("package-", 0) != 0) return std::nullopt;
  const auto n = parse_u64(label.substr(8));
  return n ? std::optional<int>(static_cast<int>(*n)) : std::nullopt;
}

}  // namespace

std::vector<PowercapZone> list_powercap_zones(const std::filesystem::path& root) {
  static const std::regex zone_name(R"(intel-rapl:(\d+)(?::(\d+))?)");
  std::map<std::string, std::filesystem::path> entries;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, zone_name)) entries.emplace(name, entry.path());
  }
  std::vector<PowercapZone> zones;
  for (const auto& [name, dir] : entries) {
    const auto label = read_text(dir / "name");
    const auto domain = label ? domain_of_zone(*label) : std::nullopt;
    if (!domain) continue;
    // Packages are numbered by their zone names; a subzone belongs to its parent's package.
    std::optional<int> package = package_number(*label);
    if (const auto second_colon = name.find(':', name.find(':') + 1); !package && second_colon != std::string::npos) {
      if (const auto parent = read_text(root / name.substr(0, second_colon) / "name"))
        package = package_number(*parent);
    }
    zones.push_back({dir, *domain, package.value_or(0)});
  }
  return zones;
}

std::optional<double> powercap_stated_power_w(const std::filesystem::path& zone) {
  // A zone lists its constraints (long term, short term, peak) in order; the highest limit or
  // maximum any of them states is what the zone may draw.
  std::optional<double> highest;
  for (int n = 0;; ++n) {
    bool any = false;
    for (const char* what : {"max_power_uw", "power_limit_uw"}) {
      const auto text = read_text(zone / fmt::format("constraint_{}_{}", n, what));
      if (!text) continue;
      any = true;
      if (const auto uw = parse_u64(*text); uw && *uw > 0) {
        highest = std::max(highest.value_or(0.0), static_cast<double>(*uw) * 1e-6);
      }
    }
    if (!any) return highest;
  }
}

}  // namespace detail

namespace {

namespace fs = std::filesystem;

struct Zone {
  Channel channel;
  detail::CounterFile file;
  std::uint64_t max_range_uj = 0;
  Watts ceiling;
  detail::CounterTracker tracker;
};

std::string permission_remedy(const fs::path& example) {
  return fmt::format(
      "energy_uj is readable by root only on kernels since 5.10 (a mitigation of the Platypus attack). Either: "
      "(1) run joulebench as root; "
      "(2) make the counters group-readable at boot: with sysfsutils, add lines such as "
      "'mode class/powercap/intel-rapl:0/energy_uj = 0440' and 'owner class/powercap/intel-rapl:0/energy_uj = "
      "root:power' "
      "to /etc/sysfs.conf, or a udev rule "
      "'SUBSYSTEM==\"powercap\", ACTION==\"add\", RUN+=\"/bin/chgrp power /sys%p/energy_uj\", RUN+=\"/bin/chmod g+r "
      "/sys%p/energy_uj\"' "
      "in /etc/udev/rules.d/70-joulebench-powercap.rules, and add your user to group 'power'; for this boot only: "
      "'sudo chmod o+r {}'; "
      "(3) use the rapl-perf source instead: 'sudo sysctl kernel.perf_event_paranoid=0', or "
      "'sudo setcap cap_perfmon+ep $(command -v joulebench)'",
      example.string());
}

class RaplPowercapSource final : public EnergySource {
 public:
  RaplPowercapSource(const SensorPaths& paths, const PowerCeilings& ceilings) {
    report_.name = "rapl-powercap";
    const fs::path root = paths.sysfs_root / "class" / "powercap";
    discover(root, ceilings);
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
      shortest = std::min(shortest, Seconds(static_cast<double>(z.max_range_uj) * 1e-6 / z.ceiling.value));
    }
    return shortest;
  }

 private:
  static ChannelReading read_zone(Zone& z, Clock::time_point now) {
    const auto update = z.tracker.update(z.file.read(), now);
    return {Joules(static_cast<double>(z.tracker.total()) * 1e-6), update.counted, update.problem,
            update.unchanged_since};
  }

  void discover(const fs::path& root, const PowerCeilings& ceilings) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      report_.status = SourceStatus::unavailable;
      report_.reason = fmt::format("{} does not exist: the kernel exposes no powercap zones", root.string());
      report_.remedy =
          "on bare-metal Intel or AMD machines load the driver: 'sudo modprobe intel_rapl_msr'; "
          "virtual machines and containers usually have no RAPL";
      return;
    }
    const std::vector<detail::PowercapZone> found = detail::list_powercap_zones(root);
    if (found.empty()) {
      report_.status = SourceStatus::unavailable;
      report_.reason = fmt::format("no intel-rapl zones under {}", root.string());
      report_.remedy = "on bare-metal Intel or AMD machines load the driver: 'sudo modprobe intel_rapl_msr'";
      return;
    }

    std::vector<std::string> denied;
    std::vector<std::string> broken;
    for (const auto& zone : found) {
      const fs::path& dir = zone.directory;
      Zone z;
      z.channel.domain = zone.domain;
      z.channel.device = zone.package;
      z.channel.id = fmt::format("{}-{}", domain_name(zone.domain), zone.package);
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
      z.ceiling = ceilings.for_domain(zone.domain, detail::powercap_stated_power_w(dir));
      z.tracker = detail::CounterTracker(1e-6, z.ceiling, detail::CounterTracker::kRaplUpdateSlack, z.max_range_uj);
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
      report_.reason = denied.size() == 1 ? fmt::format("permission denied reading {}", denied.front())
                                          : fmt::format("permission denied reading {} and {} other zone(s)",
                                                        denied.front(), denied.size() - 1);
      report_.remedy = permission_remedy(denied.front());
    } else {
      report_.status = SourceStatus::error;
      report_.reason = broken.empty() ? "no usable RAPL zones" : broken.front();
    }
  }

  SourceReport report_;
  detail::ChannelList<Zone> zones_;
};

}  // namespace

std::unique_ptr<EnergySource> open_rapl_powercap(const SensorPaths& paths, const PowerCeilings& ceilings) {
  return std::make_unique<RaplPowercapSource>(paths, ceilings);
}

}  // namespace joulebench
