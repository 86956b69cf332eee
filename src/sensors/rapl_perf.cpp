// RAPL through perf_event: the kernel's "power" PMU, described in
// /sys/bus/event_source/devices/power (type, cpumask, events/energy-*, .scale, .unit, format/).
// One counter per event per package, opened system-wide on the package's designated CPU. The
// kernel extends the 32-bit hardware counter to 64 bits, so no wrap handling is needed here.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "channel_list.hpp"
#include "counter_tracker.hpp"
#include "joulebench/sensors.hpp"
#include "powercap_zones.hpp"
#include "rapl_perf_pmu.hpp"
#include "sysfs.hpp"

namespace joulebench {
namespace detail {

namespace fs = std::filesystem;

std::optional<std::vector<int>> parse_cpu_list(std::string_view text) {
  std::vector<int> cpus;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = text.substr(0, comma);
    const auto dash = item.find('-');
    const auto first = parse_u64(item.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : parse_u64(item.substr(dash + 1));
    if (!first || !last || *last < *first) return std::nullopt;
    for (auto cpu = *first; cpu <= *last; ++cpu) cpus.push_back(static_cast<int>(cpu));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (cpus.empty()) return std::nullopt;
  return cpus;
}

namespace {

/// "config:0-7" or "config:3": where a term's bits go.
struct FormatField {
  int first_bit = 0;
  int last_bit = 0;
};

std::optional<FormatField> parse_format(std::string_view text) {
  if (!text.starts_with("config:")) return std::nullopt;
  text.remove_prefix(7);
  const auto dash = text.find('-');
  const auto first = parse_u64(text.substr(0, dash));
  const auto last = dash == std::string_view::npos ? first : parse_u64(text.substr(dash + 1));
  if (!first || !last || *last < *first || *last > 63) return std::nullopt;
  return FormatField{static_cast<int>(*first), static_cast<int>(*last)};
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  if (text.starts_with("0x") || text.starts_with("0X")) {
    std::uint64_t value = 0;
    text.remove_prefix(2);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
  }
  return parse_u64(text);
}

}  // namespace

std::optional<std::uint64_t> encode_event(const fs::path& pmu_dir, std::string_view description) {
  std::uint64_t config = 0;
  while (!description.empty()) {
    const auto comma = description.find(',');
    const auto term = description.substr(0, comma);
    const auto equals = term.find('=');
    if (equals == std::string_view::npos) return std::nullopt;
    const auto name = term.substr(0, equals);
    const auto value = parse_number(term.substr(equals + 1));
    const auto format_text = read_text(pmu_dir / "format" / std::string(name));
    // A PMU without a format directory uses the plain "event" term as the whole config.
    const auto field = format_text ? parse_format(*format_text)
                                   : (name == "event" ? std::optional<FormatField>(FormatField{0, 63}) : std::nullopt);
    if (!value || !field) return std::nullopt;
    const int width = field->last_bit - field->first_bit + 1;
    const std::uint64_t mask = width == 64 ? ~0ULL : ((1ULL << width) - 1);
    if ((*value & ~mask) != 0) return std::nullopt;
    config |= *value << field->first_bit;
    if (comma == std::string_view::npos) break;
    description.remove_prefix(comma + 1);
  }
  return config;
}

std::optional<PmuDescription> describe_power_pmu(const fs::path& sysfs_root, std::string* problem) {
  const fs::path dir = sysfs_root / "bus" / "event_source" / "devices" / "power";
  auto fail = [&](std::string why) -> std::optional<PmuDescription> {
    if (problem) *problem = std::move(why);
    return std::nullopt;
  };
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail(fmt::format("{} does not exist: the kernel has no RAPL perf PMU", dir.string()));

  PmuDescription pmu;
  pmu.directory = dir;
  const auto type = read_text(dir / "type");
  const auto type_value = type ? parse_u64(*type) : std::nullopt;
  if (!type_value) return fail(fmt::format("{} is missing or malformed", (dir / "type").string()));
  pmu.type = static_cast<std::uint32_t>(*type_value);

  const auto cpumask = read_text(dir / "cpumask");
  const auto cpus = cpumask ? parse_cpu_list(*cpumask) : std::nullopt;
  if (!cpus) return fail(fmt::format("{} is missing or malformed", (dir / "cpumask").string()));
  pmu.package_cpus = *cpus;

  static constexpr std::array<std::pair<std::string_view, Domain>, 5> kEvents = {{
      {"energy-pkg", Domain::cpu},
      {"energy-cores", Domain::core},
      {"energy-gpu", Domain::uncore},
      {"energy-ram", Domain::dram},
      {"energy-psys", Domain::psys},
  }};
  for (const auto& [name, domain] : kEvents) {
    const fs::path file = dir / "events" / std::string(name);
    const auto description = read_text(file);
    if (!description) continue;
    PmuEvent event;
    event.name = std::string(name);
    event.domain = domain;
    const auto config = encode_event(dir, *description);
    if (!config) return fail(fmt::format("cannot parse {}: '{}'", file.string(), *description));
    event.config = *config;
    const auto unit = read_text(fs::path(file.string() + ".unit"));
    if (unit && *unit != "Joules") {
      return fail(fmt::format("{}.unit is '{}', expected 'Joules'", file.string(), *unit));
    }
    const auto scale_text = read_text(fs::path(file.string() + ".scale"));
    if (!scale_text) return fail(fmt::format("{}.scale is missing", file.string()));
    char* end = nullptr;
    event.joules_per_count = std::strtod(scale_text->c_str(), &end);
    if (end == scale_text->c_str() || *end != '\0' || !(event.joules_per_count > 0.0)) {
      return fail(fmt::format("{}.scale is malformed: '{}'", file.string(), *scale_text));
    }
    pmu.events.push_back(event);
  }
  if (pmu.events.empty()) return fail(fmt::format("{} lists no energy-* events", (dir / "events").string()));
  return pmu;
}

}  // namespace detail

namespace {

namespace fs = std::filesystem;

int perf_event_open(perf_event_attr* attr, pid_t pid, int cpu) {
  return static_cast<int>(::syscall(SYS_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

struct Counter {
  Channel channel;
  detail::FileDescriptor fd;
  double joules_per_count = 0.0;
  detail::CounterTracker tracker;
};

class RaplPerfSource final : public EnergySource {
 public:
  RaplPerfSource(const SensorPaths& paths, const PowerCeilings& ceilings) {
    report_.name = "rapl-perf";
    std::string problem;
    const auto pmu = detail::describe_power_pmu(paths.sysfs_root, &problem);
    if (!pmu) {
      report_.status = SourceStatus::unavailable;
      report_.reason = problem;
      report_.remedy =
          "on bare-metal Intel or AMD machines the kernel's RAPL PMU (CONFIG_PERF_EVENTS_INTEL_RAPL or "
          "the AMD equivalent) provides it; virtual machines and containers usually have none";
      return;
    }
    open_counters(*pmu, paths, ceilings);
  }

  const SourceReport& report() const override { return report_; }
  std::span<const Channel> channels() const override { return counters_.channels(); }
  void drop_domains(DomainSet domains) override { counters_.drop_domains(domains); }

  void read(Clock::time_point now, std::span<ChannelReading> out) override {
    auto& counters = counters_.items();
    for (std::size_t i = 0; i < counters.size(); ++i) {
      Counter& c = counters[i];
      std::uint64_t value = 0;
      const bool ok = ::read(c.fd.get(), &value, sizeof value) == static_cast<ssize_t>(sizeof value);
      // The kernel keeps these counters 64-bit and monotonic: a decrease is never a wrap.
      const auto update = c.tracker.update(ok ? std::optional(value) : std::nullopt, now);
      out[i] = {Joules(static_cast<double>(c.tracker.total()) * c.joules_per_count), update.counted, update.problem,
                update.unchanged_since};
    }
  }

 private:
  void open_counters(const detail::PmuDescription& pmu, const SensorPaths& paths, const PowerCeilings& ceilings) {
    // The power limits the machine states for these counters, where it offers powercap too.
    const auto zones = detail::list_powercap_zones(paths.sysfs_root / "class" / "powercap");
    const auto stated_power_w = [&](Domain domain, int package) -> std::optional<double> {
      for (const auto& zone : zones) {
        if (zone.domain == domain && (zone.package == package || domain == Domain::psys)) {
          return detail::powercap_stated_power_w(zone.directory);
        }
      }
      return std::nullopt;
    };
    std::string denied_reason;
    std::string other_problem;
    for (std::size_t index = 0; index < pmu.package_cpus.size(); ++index) {
      const int cpu = pmu.package_cpus[index];
      int package = static_cast<int>(index);
      const auto id_file = paths.sysfs_root / "devices" / "system" / "cpu" / fmt::format("cpu{}", cpu) / "topology" /
                           "physical_package_id";
      if (const auto text = detail::read_text(id_file)) {
        if (const auto id = detail::parse_u64(*text)) package = static_cast<int>(*id);
      }
      for (const auto& event : pmu.events) {
        // The platform (psys) counter is one for the whole machine: read it once.
        if (event.domain == Domain::psys && index > 0) continue;
        perf_event_attr attr{};
        attr.type = pmu.type;
        attr.size = sizeof attr;
        attr.config = event.config;
        const int fd = perf_event_open(&attr, -1, cpu);
        if (fd < 0) {
          const int error = errno;
          if (error == EACCES || error == EPERM) {
            denied_reason = detail::errno_text(error);
          } else if (other_problem.empty()) {
            other_problem =
                fmt::format("perf_event_open({} on CPU {}): {}", event.name, cpu, detail::errno_text(error));
          }
          continue;
        }
        Counter c;
        c.fd = detail::FileDescriptor(fd);
        c.joules_per_count = event.joules_per_count;
        c.tracker = detail::CounterTracker(event.joules_per_count,
                                           ceilings.for_domain(event.domain, stated_power_w(event.domain, package)),
                                           detail::CounterTracker::kRaplUpdateSlack);
        c.channel.domain = event.domain;
        c.channel.device = package;
        c.channel.id = fmt::format("{}-{}", domain_name(event.domain), package);
        c.channel.source = report_.name;
        c.channel.method = Method::counter;
        c.channel.origin = fmt::format("perf event power/{}/ on CPU {}", event.name, cpu);
        counters_.add(std::move(c));
      }
    }
    counters_.finish();
    report_.channels.assign(counters_.channels().begin(), counters_.channels().end());
    if (!pmu.events.empty()) {
      report_.resolution = fmt::format("{:.3g} uJ per count; 64-bit counters kept by the kernel, no wrap to correct",
                                       pmu.events.front().joules_per_count * 1e6);
    }

    if (!counters_.items().empty()) {
      report_.status = SourceStatus::ok;
      return;
    }
    if (!denied_reason.empty()) {
      const auto paranoid = detail::read_text(paths.procfs_root / "sys" / "kernel" / "perf_event_paranoid");
      report_.status = SourceStatus::denied;
      report_.reason =
          fmt::format("perf_event_open refused system-wide RAPL counters ({}); kernel.perf_event_paranoid is {}",
                      denied_reason, paranoid.value_or("unknown"));
      report_.remedy =
          "allow system-wide perf counters: 'sudo sysctl kernel.perf_event_paranoid=0' (persist it in "
          "/etc/sysctl.d/), or give the binary the capability: "
          "'sudo setcap cap_perfmon+ep $(command -v joulebench)' (kernel 5.8 or later)";
      return;
    }
    report_.status = SourceStatus::error;
    report_.reason = other_problem.empty() ? "no counter could be opened" : other_problem;
  }

  SourceReport report_;
  detail::ChannelList<Counter> counters_;
};

}  // namespace

std::unique_ptr<EnergySource> open_rapl_perf(const SensorPaths& paths, const PowerCeilings& ceilings) {
  return std::make_unique<RaplPerfSource>(paths, ceilings);
}

}  // namespace joulebench
