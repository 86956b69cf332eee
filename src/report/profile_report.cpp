// Profiles for people (table, Markdown), machines (CSV, JSON) and flame-graph tools (folded).
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "joulebench/analysis.hpp"
#include "joulebench/json_output.hpp"
#include "joulebench/profile.hpp"
#include "joulebench/report.hpp"
#include "report/escape.hpp"
#include "report/regions.hpp"
#include "report/table.hpp"

namespace joulebench {

namespace {

using report_detail::md_escape;

/// Function names in the terminal table are cut to this many characters (other formats: whole).
constexpr std::size_t kTableNameWidth = 64;

std::string cut(const std::string& name) {
  if (name.size() <= kTableNameWidth) return name;
  return name.substr(0, kTableNameWidth - 3) + "...";
}

double percent(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0.0; }

struct Columns {
  std::string name;
  std::string calls;
  std::string self_s;
  std::string self_pct;
  std::string total_s;
  std::string total_pct;
  std::string energy;
  std::string energy_pct;
  std::string idle;
  std::string dynamic;
};

bool is_folded(const FunctionCost& f) { return f.functions != 1; }

Columns columns_of(const Profile& p, const FunctionCost& f) {
  const auto seconds = [](Seconds s) { return fmt::format("{:.3f}", s.count()); };
  const auto joules = [](const std::optional<Joules>& e) {
    return e ? fmt::format("{:.3f}", e->value) : std::string("-");
  };
  Columns c;
  c.name = f.name;
  c.calls = f.calls ? fmt::format("{}", *f.calls) : "-";
  c.self_s = seconds(f.self_time);
  c.self_pct = fmt::format("{:.1f}", percent(f.self_time.count(), p.run_time.count()));
  c.total_s = is_folded(f) ? "-" : seconds(f.total_time);
  c.total_pct = is_folded(f) ? "-" : fmt::format("{:.1f}", percent(f.total_time.count(), p.run_time.count()));
  c.energy = joules(f.energy);
  c.energy_pct = f.energy && p.run_energy ? fmt::format("{:.1f}", percent(f.energy->value, p.run_energy->value)) : "-";
  c.idle = joules(f.idle_energy);
  c.dynamic = joules(f.dynamic_energy);
  return c;
}

std::string heading(const Profile& p) {
  std::string what;
  switch (p.mode) {
    case ProfileMode::cprofile: what = fmt::format("{} functions (cProfile)", p.records); break;
    case ProfileMode::torch: what = fmt::format("{} operator intervals on {} thread(s)", p.records, p.threads); break;
    default:
      what = fmt::format("{} samples every {} ms on {} thread(s)", p.records,
                         format_number(p.interval.count() * 1e3, 3), p.threads);
  }
  std::string energy = "no energy measured";
  if (p.run_energy) {
    energy = fmt::format("{:.3f} J{} ({}), attributed by {}", p.run_energy->value, p.estimated ? " ESTIMATED" : "",
                         p.source, p.energy_rule == "timeline" ? "the power timeline" : p.energy_rule);
  }
  std::string idle = p.idle_power ? fmt::format("; idle power {:.3f} W", p.idle_power->value) : std::string();
  return fmt::format("profile: {} mode, {}; run {:.3f} s; energy {}{}", profile_mode_name(p.mode), what,
                     p.run_time.count(), energy, idle);
}

std::string energy_header(const Profile& p) { return p.estimated ? "energy J (estimated)" : "energy J"; }

std::string table(const Profile& p, const std::vector<FunctionCost>& rows) {
  std::vector<std::string> headers{"function", "calls",   "self s",         "self %",
                                   "total s",  "total %", energy_header(p), "energy %"};
  const bool idle = p.idle_power.has_value() && p.run_energy.has_value();
  if (idle) {
    headers.emplace_back("idle J");
    headers.emplace_back("dynamic J");
  }
  std::vector<std::vector<std::string>> cells;
  for (const auto& f : rows) {
    const Columns c = columns_of(p, f);
    std::vector<std::string> row{cut(c.name), c.calls,     c.self_s, c.self_pct,
                                 c.total_s,   c.total_pct, c.energy, c.energy_pct};
    if (idle) {
      row.push_back(c.idle);
      row.push_back(c.dynamic);
    }
    cells.push_back(std::move(row));
  }
  std::vector<std::size_t> width(headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& row : cells) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out = heading(p) + "\n\n";
  const auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (std::size_t i = 0; i < row.size(); ++i) {
      text += i == 0 ? fmt::format("{:<{}}", row[i], width[i]) : fmt::format("  {:>{}}", row[i], width[i]);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line(headers);
  for (const auto& row : cells) line(row);
  out +=
      "\nself: in the function itself; total: with what it called; % of the run's wall time (threads add up) and of "
      "its energy.\n";
  for (const auto& note : p.notes) out += note + "\n";
  out += report_detail::regions_text(p.regions);
  return out;
}

std::string markdown(const Profile& p, const std::vector<FunctionCost>& rows) {
  using report_detail::ColumnAlign;
  using report_detail::TableCell;
  std::vector<report_detail::TableColumn> columns{{"function", ColumnAlign::left, {}}};
  for (const std::string& name : std::vector<std::string>{"calls", "self s", "self %", "total s", "total %",
                                                          energy_header(p), "energy %", "idle J", "dynamic J"}) {
    columns.push_back({name, ColumnAlign::right, {}});
  }
  report_detail::Table table(std::move(columns));
  for (const auto& f : rows) {
    const Columns c = columns_of(p, f);
    table.add_row({TableCell::text(c.name), TableCell::formatted(c.calls), TableCell::formatted(c.self_s),
                   TableCell::formatted(c.self_pct), TableCell::formatted(c.total_s), TableCell::formatted(c.total_pct),
                   TableCell::formatted(c.energy), TableCell::formatted(c.energy_pct), TableCell::formatted(c.idle),
                   TableCell::formatted(c.dynamic)});
  }
  std::string out = heading(p) + "\n\n" + table.markdown();
  if (!p.notes.empty()) out += "\n";
  for (const auto& note : p.notes) out += "- " + md_escape(note) + "\n";
  return out;
}

std::optional<double> value(const std::optional<Joules>& e) {
  return e ? std::optional<double>(e->value) : std::nullopt;
}

std::string csv(const Profile& p, const std::vector<FunctionCost>& rows) {
  using report_detail::TableCell;
  std::vector<report_detail::TableColumn> columns;
  for (const char* name :
       {"mode", "function", "functions", "calls", "self_s", "self_pct", "total_s", "total_pct", "energy_j",
        "energy_pct", "total_energy_j", "idle_energy_j", "dynamic_energy_j", "energy_estimated", "energy_rule"}) {
    columns.push_back({name, report_detail::ColumnAlign::left, {}});
  }
  report_detail::Table table(std::move(columns));
  for (const auto& f : rows) {
    const std::optional<double> energy_pct =
        f.energy && p.run_energy ? std::optional<double>(percent(f.energy->value, p.run_energy->value)) : std::nullopt;
    table.add_row(
        {TableCell::text(std::string(profile_mode_name(p.mode))), TableCell::text(f.name),
         TableCell::integer(static_cast<long long>(f.functions)),
         f.calls ? TableCell::integer(static_cast<long long>(*f.calls)) : TableCell(),
         TableCell::number(f.self_time.count()), TableCell::number(percent(f.self_time.count(), p.run_time.count())),
         is_folded(f) ? TableCell() : TableCell::number(f.total_time.count()),
         is_folded(f) ? TableCell() : TableCell::number(percent(f.total_time.count(), p.run_time.count())),
         TableCell::number(value(f.energy)), TableCell::number(energy_pct), TableCell::number(value(f.total_energy)),
         TableCell::number(value(f.idle_energy)), TableCell::number(value(f.dynamic_energy)),
         TableCell::flag(p.estimated), TableCell::text(p.energy_rule)});
  }
  return table.csv();
}

nlohmann::json to_json(const Profile& p, const FunctionCost& f) {
  const auto joules = [](const std::optional<Joules>& e) {
    return e ? nlohmann::json(e->value) : nlohmann::json(nullptr);
  };
  nlohmann::json j{{"name", f.name},
                   {"functions", f.functions},
                   {"calls", f.calls ? nlohmann::json(*f.calls) : nlohmann::json(nullptr)},
                   {"self_s", f.self_time.count()},
                   {"self_pct", percent(f.self_time.count(), p.run_time.count())},
                   {"total_s", is_folded(f) ? nlohmann::json(nullptr) : nlohmann::json(f.total_time.count())},
                   {"energy_j", joules(f.energy)},
                   {"total_energy_j", joules(f.total_energy)},
                   {"idle_energy_j", joules(f.idle_energy)},
                   {"dynamic_energy_j", joules(f.dynamic_energy)},
                   {"energy_estimated", p.estimated}};
  j["energy_pct"] = f.energy && p.run_energy ? nlohmann::json(percent(f.energy->value, p.run_energy->value))
                                             : nlohmann::json(nullptr);
  return j;
}

std::string json(const Profile& p, const std::vector<FunctionCost>& rows) {
  nlohmann::json j{{"mode", profile_mode_name(p.mode)},
                   {"run_time_s", p.run_time.count()},
                   {"interval_s", p.interval.count()},
                   {"records", p.records},
                   {"threads", p.threads},
                   {"energy_rule", p.energy_rule},
                   {"run_energy_j", p.run_energy ? nlohmann::json(p.run_energy->value) : nlohmann::json(nullptr)},
                   {"idle_power_w", p.idle_power ? nlohmann::json(p.idle_power->value) : nlohmann::json(nullptr)},
                   {"estimated", p.estimated},
                   {"source", p.source},
                   {"notes", p.notes}};
  j["rows"] = nlohmann::json::array();
  for (const auto& f : rows) j["rows"].push_back(to_json(p, f));
  j["functions"] = nlohmann::json::array();
  for (const auto& f : p.functions) j["functions"].push_back(to_json(p, f));
  j["outside"] = to_json(p, p.outside);
  j["regions"] = nlohmann::json::array();
  for (const auto& r : p.regions) j["regions"].push_back(nlohmann::json(region_json(r)));
  Json document = json_document(JsonSchema::profile);
  document.update(Json(j));
  return dump_json(document);
}

std::string folded(const Profile& p, bool by_energy) {
  std::string out;
  for (const auto& s : p.folded) {
    const double weight = by_energy ? s.energy.value * 1e6 : s.time.count() * 1e6;
    const auto rounded = static_cast<long long>(std::llround(weight));
    if (rounded > 0) out += fmt::format("{} {}\n", s.stack, rounded);
  }
  return out;
}

}  // namespace

std::optional<ProfileFormat> parse_profile_format(std::string_view name) {
  if (name == "table") return ProfileFormat::table;
  if (name == "md") return ProfileFormat::md;
  if (name == "csv") return ProfileFormat::csv;
  if (name == "json") return ProfileFormat::json;
  if (name == "folded") return ProfileFormat::folded;
  return std::nullopt;
}

std::string format_profile(const Profile& profile, ProfileFormat format, std::size_t top, double threshold,
                           bool folded_by_energy) {
  if (format == ProfileFormat::folded) return folded(profile, folded_by_energy);
  const auto rows = profile_rows(profile, top, threshold);
  switch (format) {
    case ProfileFormat::table: return table(profile, rows);
    case ProfileFormat::md: return markdown(profile, rows);
    case ProfileFormat::csv: return csv(profile, rows);
    case ProfileFormat::json: return json(profile, rows);
    case ProfileFormat::folded: break;
  }
  return {};
}

}  // namespace joulebench
