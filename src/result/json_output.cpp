// The one JSON serialiser (json_output.hpp).
#include "joulebench/json_output.hpp"

#include <array>
#include <cmath>

#include <fmt/format.h>

#include "joulebench/version.hpp"

namespace joulebench {

namespace {

struct SchemaName {
  std::string_view name;
  int version;
};
/// measure 2 and runs 2: one run object for both (1 was each its own shape); the others gained
/// only the two leading keys.
constexpr std::array<SchemaName, 8> kSchemas{{
    {"measure", 2},
    {"runs", 2},
    {"compare", 2},
    {"sensors", 2},
    {"profile", 2},
    {"profiles", 2},
    {"bench", 1},
    {"replication", 1},
}};

template <class T>
Json optional_json(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

Json key_values(const KeyValues& values) {
  Json out = Json::object();
  for (const auto& [key, value] : values) out[key] = value;
  return out;
}

Json figures_json(const std::vector<EnergyFigure>& figures, double duration_s) {
  Json out = Json::array();
  for (const auto& f : figures) out.push_back(figure_json(f, duration_s));
  return out;
}

Json profile_json(const StoredProfile& p) {
  Json functions = Json::array();
  for (const auto& f : p.functions) functions.push_back(profile_function_json(f));
  Json out = {{"mode", p.mode},
              {"energy_rule", p.energy_rule},
              {"estimated", p.estimated},
              {"interval_s", p.interval_s},
              {"functions", functions}};
  if (!p.problem.empty()) out["problem"] = p.problem;
  return out;
}

}  // namespace

Json profile_function_json(const StoredProfileFunction& f) {
  return {{"name", f.name},
          {"calls", optional_json(f.calls)},
          {"self_s", f.self_s},
          {"total_s", f.total_s},
          {"energy_j", optional_json(f.energy_j)},
          {"total_energy_j", optional_json(f.total_energy_j)},
          {"idle_energy_j", optional_json(f.idle_energy_j)},
          {"dynamic_energy_j", optional_json(f.dynamic_energy_j)}};
}

Json number_or_null(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

Json json_document(JsonSchema schema) {
  const auto& s = kSchemas[static_cast<std::size_t>(schema)];
  return Json{{"schema", fmt::format("{}/{}", s.name, s.version)}, {"joulebench_version", kVersion}};
}

std::string dump_json(const Json& document) {
  return document.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

Json figure_json(const EnergyFigure& f, double duration_s) {
  const bool has_value = !f.measured_nothing && std::isfinite(f.energy_j);
  Json j = {{"domain", f.domain.name()},
            {"energy_j", has_value ? Json(f.energy_j) : Json(nullptr)},
            {"average_power_w", has_value && duration_s > 0 ? Json(f.energy_j / duration_s) : Json(nullptr)},
            {"measured", !f.measured_nothing},
            {"source", f.source},
            {"method", method_name(f.method)},
            {"estimated", f.estimated},
            {"complete", f.complete},
            {"unmeasured_s", f.unmeasured_s},
            {"counted_in_total", f.domain.counts_toward_total()}};
  if (f.domain.is_total()) j["partly_estimated"] = f.partly_estimated;
  if (!f.problem.empty()) j["problem"] = f.problem;
  if (f.idle_power_w) j["idle_power_w"] = *f.idle_power_w;
  if (f.dynamic_energy_j) {
    j["dynamic_energy_j"] = *f.dynamic_energy_j;
    j["below_idle"] = f.below_idle;
  }
  if (f.attributed_energy_j) j["attributed_energy_j"] = *f.attributed_energy_j;
  return j;
}

Json region_json(const StoredRegion& r) {
  return {{"name", r.name},
          {"start_s", number_or_null(r.start_s)},
          {"end_s", number_or_null(r.end_s)},
          {"energy", figures_json(r.energy, r.end_s - r.start_s)}};
}

Json run_json(const RunRecord& run, std::optional<double> window_s) {
  Json regions = Json::array();
  for (const auto& r : run.regions) regions.push_back(region_json(r));
  Json metrics = Json::array();
  for (const auto& m : run.metrics) {
    metrics.push_back({{"name", m.name}, {"value", number_or_null(m.value)}, {"unit", m.unit}, {"origin", m.origin}});
  }
  Json warnings = Json::array();
  for (const auto& w : run.warnings) warnings.push_back({{"kind", w.kind}, {"message", w.message}});
  const bool measured = run.status != RunStatus::not_run;
  Json out = {{"index", run.index},
              {"workload", run.workload},
              {"labels", key_values(run.labels)},
              {"repetition", run.repetition},
              {"warmup", run.warmup},
              {"status", run_status_name(run.status)},
              {"exit_code", optional_json(run.exit_code)},
              {"signal", optional_json(run.signal)},
              {"reason", run.reason},
              {"started_unix_s", number_or_null(run.started_unix_s)},
              {"time_s", measured ? number_or_null(run.time_s) : Json(nullptr)},
              {"user_cpu_s", measured ? number_or_null(run.user_cpu_s) : Json(nullptr)},
              {"system_cpu_s", measured ? number_or_null(run.system_cpu_s) : Json(nullptr)},
              {"max_rss_kib", measured ? optional_json(run.max_rss_kib) : Json(nullptr)},
              {"peak_memory_kib", measured ? optional_json(run.peak_memory_kib) : Json(nullptr)},
              {"cooldown_s", number_or_null(run.cooldown_s)},
              {"energy", figures_json(run.energy, window_s.value_or(run.time_s))},
              {"regions", regions},
              {"metrics", metrics},
              {"metadata", key_values(run.metadata)},
              {"warnings", warnings},
              {"other_cpu_before_cores", optional_json(run.other_cpu_before_cores)},
              {"other_cpu_cores", optional_json(run.other_cpu_cores)},
              {"malformed_events", run.malformed_events}};
  if (run.profile) out["profile"] = profile_json(*run.profile);
  return out;
}

}  // namespace joulebench
