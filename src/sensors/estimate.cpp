// The estimate for machines with no energy sensor: Cloud Carbon Footprint's linear model of CPU
// power in utilisation, per logical CPU, and a constant DRAM power per installed gigabyte.
// Figures from here are always labelled estimated.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <charconv>

#include <fmt/format.h>

#include "joulebench/sensors.hpp"
#include "sysfs.hpp"

namespace joulebench {

MachineCpuReader::MachineCpuReader(const std::filesystem::path& procfs_root) {
  fd_ = ::open((procfs_root / "stat").c_str(), O_RDONLY | O_CLOEXEC);
  const long ticks = ::sysconf(_SC_CLK_TCK);
  if (ticks > 0) seconds_per_tick_ = 1.0 / static_cast<double>(ticks);
  if (const auto text = detail::read_text(procfs_root / "stat")) {
    std::size_t pos = 0;
    while ((pos = text->find("\ncpu", pos)) != std::string::npos) {
      pos += 4;
      if (pos < text->size() && text->at(pos) >= '0' && text->at(pos) <= '9') ++logical_cpus_;
    }
  }
}

MachineCpuReader::~MachineCpuReader() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<MachineCpuTimes> MachineCpuReader::read() {
  if (fd_ < 0) return std::nullopt;
  // The aggregate "cpu" line comes first; 512 bytes always hold it.
  std::array<char, 512> buffer{};
  const ssize_t n = ::pread(fd_, buffer.data(), buffer.size(), 0);
  if (n <= 4 || std::string_view(buffer.data(), 4) != "cpu ") return std::nullopt;
  const char* p = buffer.data() + 4;
  const char* end = buffer.data() + n;
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  std::array<std::uint64_t, 8> field{};
  std::size_t count = 0;
  for (; count < field.size(); ++count) {
    while (p < end && *p == ' ') ++p;
    const auto [next, ec] = std::from_chars(p, end, field[count]);
    if (ec != std::errc{}) break;
    p = next;
  }
  if (count < 4) return std::nullopt;
  const std::uint64_t busy = field[0] + field[1] + field[2] + field[5] + field[6];
  const std::uint64_t total = busy + field[3] + field[4] + field[7];
  return MachineCpuTimes{Seconds(static_cast<double>(busy) * seconds_per_tick_),
                         Seconds(static_cast<double>(total) * seconds_per_tick_)};
}

namespace {

class EstimateSource final : public EnergySource {
 public:
  EstimateSource(const SensorPaths& paths, const EstimateModel& model) : model_(model), cpu_(paths.procfs_root) {
    report_.name = "estimate";
    report_.resolution = "a model, not a measurement: exact integral of the model over the window";

    const auto first = cpu_.read();
    if (!first || cpu_.logical_cpus() == 0) {
      report_.status = SourceStatus::error;
      report_.reason = fmt::format("cannot parse {}", (paths.procfs_root / "stat").string());
      return;
    }
    add_channel(Domain::cpu, fmt::format("{}: {} logical CPUs, utilisation from {}", model_.describe(),
                                         cpu_.logical_cpus(), (paths.procfs_root / "stat").string()));

    if (const auto meminfo = detail::read_text(paths.procfs_root / "meminfo")) {
      const auto pos = meminfo->find("MemTotal:");
      if (pos != std::string::npos) {
        const auto line_end = meminfo->find('\n', pos);
        auto field = std::string_view(*meminfo).substr(
            pos + 9, line_end == std::string::npos ? std::string::npos : line_end - pos - 9);
        if (field.ends_with("kB")) field.remove_suffix(2);
        if (const auto kib = detail::parse_u64(field)) {
          const double gigabytes = static_cast<double>(*kib) * 1024.0 / 1e9;
          dram_power_ = Watts(gigabytes * model_.dram_w_per_gb);
          add_channel(Domain::dram, fmt::format("{}: {:.1f} GB installed ({})", model_.describe(), gigabytes,
                                                (paths.procfs_root / "meminfo").string()));
        }
      }
    }
    report_.status = SourceStatus::ok;
    report_.channels = channels_;
    report_.properties.emplace_back("model", model_.describe());
    report_.properties.emplace_back("logical_cpus", std::to_string(cpu_.logical_cpus()));
  }

  const SourceReport& report() const override { return report_; }
  std::span<const Channel> channels() const override { return channels_; }

  void drop_domains(DomainSet domains) override {
    std::erase_if(channels_, [&](const Channel& c) { return domains.test(static_cast<std::size_t>(c.domain)); });
  }

  void read(Clock::time_point now, std::span<ChannelReading> out) override {
    if (!started_) {
      started_ = true;
      start_ = now;
    }
    const Seconds elapsed = now - start_;
    for (std::size_t i = 0; i < channels_.size(); ++i) {
      if (channels_[i].domain == Domain::dram) {
        out[i] = {dram_power_ * elapsed, true, {}};
      } else {
        out[i] = read_cpu(elapsed);
      }
    }
  }

 private:
  void add_channel(Domain domain, std::string origin) {
    Channel c;
    c.id = fmt::format("{}-0", domain_name(domain));
    c.domain = domain;
    c.source = report_.name;
    c.method = Method::model;
    c.estimated = true;
    c.origin = std::move(origin);
    channels_.push_back(std::move(c));
  }

  // E = n * idle * t + (max - idle) * busy CPU-seconds: the model's power integrated exactly.
  ChannelReading read_cpu(Seconds elapsed) {
    const auto times = cpu_.read();
    if (!times) return {cpu_energy_, false, "/proc/stat could not be read"};
    if (!busy_start_) busy_start_ = times->busy;
    const double idle_part = model_.cpu_idle_w_per_thread * cpu_.logical_cpus() * elapsed.count();
    // /proc/stat counts in ticks, so busy time can run up to a tick per CPU ahead of the clock;
    // utilisation above 100 % is not physical, and the model's maximum is kept.
    const double busy = std::min((times->busy - *busy_start_).count(), cpu_.logical_cpus() * elapsed.count());
    const double busy_part = (model_.cpu_max_w_per_thread - model_.cpu_idle_w_per_thread) * busy;
    cpu_energy_ = std::max(cpu_energy_, Joules(idle_part + busy_part));
    return {cpu_energy_, true, {}};
  }

  EstimateModel model_;
  MachineCpuReader cpu_;
  SourceReport report_;
  std::vector<Channel> channels_;
  Watts dram_power_{0.0};
  bool started_ = false;
  Clock::time_point start_{};
  std::optional<Seconds> busy_start_;
  Joules cpu_energy_{0.0};
};

}  // namespace

std::unique_ptr<EnergySource> open_estimate(const SensorPaths& paths, const EstimateModel& model) {
  return std::make_unique<EstimateSource>(paths, model);
}

}  // namespace joulebench
