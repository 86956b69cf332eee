// The result model's names: domains, methods, run statuses and metric ids are built and parsed
// here and nowhere else.
#include "joulebench/result.hpp"

#include <array>

#include <fmt/format.h>

namespace joulebench {

DomainId::DomainId(Domain domain) : name_(domain_name(domain)) {}

DomainId DomainId::total() { return DomainId(std::string(kTotalName)); }

std::optional<DomainId> DomainId::parse(std::string_view name) {
  if (name.empty()) return std::nullopt;
  return DomainId(std::string(name));
}

std::optional<Domain> DomainId::domain() const { return parse_domain(name_); }

bool DomainId::counts_toward_total() const {
  const auto d = domain();
  return d && joulebench::counts_toward_total(*d);
}

int DomainId::display_rank() const {
  if (is_total()) return static_cast<int>(kDomainCount) + 1;
  if (const auto d = domain()) return static_cast<int>(*d);
  return static_cast<int>(kDomainCount);
}

std::string DomainId::description() const {
  if (is_total()) return "total energy";
  if (const auto d = domain(); d == Domain::cpu || d == Domain::gpu || d == Domain::dram) {
    std::string upper = name_;
    for (char& c : upper) c = static_cast<char>(c - 'a' + 'A');
    return upper + " energy";
  }
  if (domain() == Domain::gpu_other) return "other GPUs' energy";
  // One GPU's figure, "gpu-<NVML index>", of a run that names its GPUs.
  if (const std::string_view prefix = "gpu-";
      name_.size() > prefix.size() && name_.starts_with(prefix) &&
      name_.find_first_not_of("0123456789", prefix.size()) == std::string::npos) {
    return fmt::format("GPU {} energy", name_.substr(prefix.size()));
  }
  return name_ + " energy";
}

const EnergyFigure* find_energy(std::span<const EnergyFigure> energy, const DomainId& domain) {
  for (const auto& e : energy) {
    if (e.domain == domain) return &e;
  }
  return nullptr;
}

FigureMethod figure_method(Method method) {
  switch (method) {
    case Method::counter: return FigureMethod::counter;
    case Method::power_integration: return FigureMethod::power_integration;
    case Method::model: return FigureMethod::model;
  }
  return FigureMethod::model;
}

namespace {
constexpr std::array<std::string_view, 7> kMethodNames{"counter", "power-integration", "model", "mixed", "imported",
                                                       "none",    "sample-sum"};
}  // namespace

std::string_view method_name(FigureMethod method) { return kMethodNames[static_cast<std::size_t>(method)]; }

std::optional<FigureMethod> parse_figure_method(std::string_view name) {
  if (name.empty()) return FigureMethod::none;  // how stores before the result model wrote "none"
  for (std::size_t i = 0; i < kMethodNames.size(); ++i) {
    if (kMethodNames[i] == name) return static_cast<FigureMethod>(i);
  }
  return std::nullopt;
}

std::string_view run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::ok: return "ok";
    case RunStatus::failed: return "failed";
    case RunStatus::signaled: return "signaled";
    case RunStatus::timed_out: return "timed-out";
    case RunStatus::not_run: return "not-run";
  }
  return "unknown";
}

std::optional<RunStatus> parse_run_status(std::string_view name) {
  if (name == "ok") return RunStatus::ok;
  if (name == "failed") return RunStatus::failed;
  if (name == "signaled") return RunStatus::signaled;
  if (name == "timed-out" || name == "timed_out") return RunStatus::timed_out;
  if (name == "not-run" || name == "not_run") return RunStatus::not_run;
  return std::nullopt;
}

std::string MetricId::column() const {
  switch (kind) {
    case Kind::time: return "time_s";
    case Kind::energy: return fmt::format("energy_{}_j", domain.name());
    case Kind::dynamic_energy: return fmt::format("dynamic_energy_{}_j", domain.name());
    case Kind::metric: return "metric_" + name;
    case Kind::region_time: return fmt::format("region_{}_time_s", name);
    case Kind::region_energy: return fmt::format("region_{}_energy_total_j", name);
    case Kind::energy_estimated: return fmt::format("energy_{}_estimated", domain.name());
    case Kind::energy_complete: return fmt::format("energy_{}_complete", domain.name());
  }
  return {};
}

std::optional<MetricId> MetricId::parse(std::string_view column) {
  if (column == "time_s") return time();
  const auto between = [&](std::string_view prefix, std::string_view suffix) -> std::optional<std::string> {
    if (column.size() > prefix.size() + suffix.size() && column.starts_with(prefix) && column.ends_with(suffix)) {
      return std::string(column.substr(prefix.size(), column.size() - prefix.size() - suffix.size()));
    }
    return std::nullopt;
  };
  const auto energy_kind = [&](Kind kind, std::string_view prefix, std::string_view suffix) -> std::optional<MetricId> {
    const auto d = between(prefix, suffix);
    if (!d) return std::nullopt;
    return MetricId{kind, *DomainId::parse(*d), {}};
  };
  // Longest prefixes first: dynamic_energy_ also ends in _j, energy_X_complete starts as energy_.
  if (auto m = energy_kind(Kind::dynamic_energy, "dynamic_energy_", "_j")) return m;
  if (auto m = energy_kind(Kind::energy_estimated, "energy_", "_estimated")) return m;
  if (auto m = energy_kind(Kind::energy_complete, "energy_", "_complete")) return m;
  if (auto m = energy_kind(Kind::energy, "energy_", "_j")) return m;
  if (auto r = between("region_", "_energy_total_j")) return region_energy(*r);
  if (auto r = between("region_", "_time_s")) return region_time(*r);
  if (auto m = between("metric_", "")) return metric(*m);
  return std::nullopt;
}

}  // namespace joulebench
