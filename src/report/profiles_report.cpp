// The profiled runs of a campaign side by side: per group (e.g. model x phase), each framework's
// top functions, with their time and energy. What `joulebench profiles` prints.
#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "joulebench/json_output.hpp"
#include "joulebench/report.hpp"
#include "report/escape.hpp"
#include "report/table.hpp"

namespace joulebench {

namespace {

using report_detail::md_escape;

/// Function names in the terminal table are cut to this many characters.
constexpr std::size_t kNameWidth = 48;

std::optional<double> total_energy(const RunRecord& run) {
  const EnergyFigure* total = find_energy(run.energy, DomainId::total());
  return total != nullptr ? std::optional<double>(total->energy_j) : std::nullopt;
}

std::string group_title(const ProfileGroup& g) {
  std::string title;
  for (const auto& [k, v] : g.key) title += fmt::format("{}{}={}", title.empty() ? "" : " ", k, v);
  return fmt::format("{}{}{} mode", title, title.empty() ? "" : ", ", g.mode);
}

std::string energy_cell(const StoredProfile& p, const StoredProfileFunction& f) {
  if (!f.energy_j) return "-";
  return fmt::format("{:.3f}{}", *f.energy_j, p.estimated ? "*" : "");
}

std::string side_by_side(const std::vector<ProfileGroup>& groups, std::size_t top, bool markdown) {
  std::string out;
  bool estimated = false;
  for (const auto& g : groups) {
    // Header rows, then one row per rank; each column: function, self s, energy J.
    std::vector<std::vector<std::string>> grid;
    std::vector<std::string> sides{"#"};
    std::vector<std::string> header{""};
    for (const auto& c : g.columns) {
      const StoredProfile& p = *c.run->profile;
      estimated = estimated || p.estimated;
      const auto energy = total_energy(*c.run);
      sides.push_back(
          fmt::format("{} (run {}, {:.3f} s{})", c.side, c.run->index, c.run->time_s,
                      energy ? fmt::format(", {:.3f} J{}", *energy, p.estimated ? "*" : "") : std::string()));
      sides.emplace_back("");
      sides.emplace_back("");
      header.emplace_back("function");
      header.emplace_back("self s");
      header.emplace_back(p.energy_rule == "average power" ? "energy J (avg)" : "energy J");
    }
    grid.push_back(sides);
    grid.push_back(header);
    std::size_t ranks = 0;
    for (const auto& c : g.columns)
      ranks = std::max(ranks,
                       std::min(top == 0 ? c.run->profile->functions.size() : top, c.run->profile->functions.size()));
    for (std::size_t r = 0; r < ranks; ++r) {
      std::vector<std::string> row{std::to_string(r + 1)};
      for (const auto& c : g.columns) {
        const StoredProfile& p = *c.run->profile;
        if (r < p.functions.size()) {
          const auto& f = p.functions[r];
          std::string name = f.name;
          if (!markdown && name.size() > kNameWidth) name = name.substr(0, kNameWidth - 3) + "...";
          row.push_back(name);
          row.push_back(fmt::format("{:.3f}", f.self_s));
          row.push_back(energy_cell(p, f));
        } else {
          row.insert(row.end(), {"", "", ""});
        }
      }
      grid.push_back(std::move(row));
    }
    out += markdown ? "### " + md_escape(group_title(g)) + "\n\n" : group_title(g) + "\n\n";
    for (const auto& c : g.columns) {
      if (c.run->profile->problem.empty()) continue;
      const std::string problem = fmt::format("{}: no profile: {}", c.side, c.run->profile->problem);
      out += (markdown ? md_escape(problem) : problem) + "\n";
    }
    if (markdown) {
      // The sides head the table; the second line names each side's three columns.
      std::vector<report_detail::TableColumn> columns;
      for (std::size_t k = 0; k < grid[0].size(); ++k) {
        columns.push_back(
            {grid[0][k], k % 3 == 1 ? report_detail::ColumnAlign::left : report_detail::ColumnAlign::right, {}});
      }
      report_detail::Table table(std::move(columns));
      for (std::size_t i = 1; i < grid.size(); ++i) {
        std::vector<report_detail::TableCell> row;
        for (const auto& cell : grid[i]) row.push_back(report_detail::TableCell::text(cell));
        table.add_row(std::move(row));
      }
      out += table.markdown();
    } else {
      std::vector<std::size_t> width(grid[1].size(), 0);
      for (std::size_t i = 1; i < grid.size(); ++i) {
        for (std::size_t k = 0; k < grid[i].size(); ++k) width[k] = std::max(width[k], grid[i][k].size());
      }
      for (std::size_t i = 0; i < grid.size(); ++i) {
        std::string line;
        for (std::size_t k = 0; k < grid[i].size(); ++k) {
          const bool name = k % 3 == 1;
          // The side's title spans its three columns.
          if (i == 0) {
            if (k == 0 || name)
              line +=
                  fmt::format("{:<{}}  ", grid[i][k], k == 0 ? width[0] : width[k] + width[k + 1] + width[k + 2] + 4);
            continue;
          }
          line += name || k == 0 ? fmt::format("{:<{}}  ", grid[i][k], width[k])
                                 : fmt::format("{:>{}}  ", grid[i][k], width[k]);
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
      }
    }
    out += "\n";
  }
  if (groups.empty())
    out += "no profiled runs (a plan's workload asks for them with profile = [\"python\", \"perf\"])\n";
  if (estimated) out += "*: estimated energy (from a model, not a sensor)\n";
  return out;
}

std::string as_csv(const std::vector<ProfileGroup>& groups, const std::vector<std::string>& group_by, std::size_t top) {
  using report_detail::TableCell;
  std::vector<report_detail::TableColumn> columns;
  for (const auto& key : group_by) columns.push_back({key, report_detail::ColumnAlign::left, {}});
  for (const char* name : {"mode", "side", "workload", "run", "rank", "function", "calls", "self_s", "total_s",
                           "energy_j", "energy_pct", "total_energy_j", "energy_estimated", "energy_rule"}) {
    columns.push_back({name, report_detail::ColumnAlign::left, {}});
  }
  report_detail::Table table(std::move(columns));
  for (const auto& g : groups) {
    for (const auto& c : g.columns) {
      const StoredProfile& p = *c.run->profile;
      const auto energy = total_energy(*c.run);
      for (std::size_t r = 0; r < p.functions.size() && (top == 0 || r < top); ++r) {
        const auto& f = p.functions[r];
        std::vector<TableCell> row;
        for (const auto& [k, v] : g.key) row.push_back(TableCell::text(v));
        const std::optional<double> pct =
            f.energy_j && energy && *energy > 0 ? std::optional<double>(100 * *f.energy_j / *energy) : std::nullopt;
        row.insert(row.end(), {TableCell::text(g.mode), TableCell::text(c.side), TableCell::text(c.run->workload),
                               TableCell::integer(static_cast<long long>(c.run->index)),
                               TableCell::integer(static_cast<long long>(r + 1)), TableCell::text(f.name),
                               f.calls ? TableCell::integer(static_cast<long long>(*f.calls)) : TableCell(),
                               TableCell::number(f.self_s), TableCell::number(f.total_s), TableCell::number(f.energy_j),
                               TableCell::number(pct), TableCell::number(f.total_energy_j),
                               TableCell::flag(p.estimated), TableCell::text(p.energy_rule)});
        table.add_row(std::move(row));
      }
    }
  }
  return table.csv();
}

std::string as_json(const std::vector<ProfileGroup>& groups, std::size_t top) {
  Json document = json_document(JsonSchema::profiles);
  document["groups"] = Json::array();
  for (const auto& g : groups) {
    Json group{{"mode", g.mode}, {"group", Json::object()}, {"sides", Json::array()}};
    for (const auto& [k, v] : g.key) group["group"][k] = v;
    for (const auto& c : g.columns) {
      const StoredProfile& p = *c.run->profile;
      const auto energy = total_energy(*c.run);
      Json side{{"side", c.side},
                {"workload", c.run->workload},
                {"run", c.run->index},
                {"time_s", c.run->time_s},
                {"energy_j", energy ? Json(*energy) : Json(nullptr)},
                {"estimated", p.estimated},
                {"energy_rule", p.energy_rule},
                {"problem", p.problem},
                {"functions", Json::array()}};
      for (std::size_t r = 0; r < p.functions.size() && (top == 0 || r < top); ++r) {
        side["functions"].push_back(profile_function_json(p.functions[r]));
      }
      group["sides"].push_back(std::move(side));
    }
    document["groups"].push_back(std::move(group));
  }
  return dump_json(document);
}

}  // namespace

std::vector<ProfileGroup> group_profiles(const std::vector<RunRecord>& runs, const std::vector<std::string>& group_by,
                                         const std::string& between, const std::string& mode) {
  std::map<std::pair<std::vector<std::string>, std::string>, ProfileGroup> groups;
  for (const auto& run : runs) {
    if (!run.profile || (!mode.empty() && run.profile->mode != mode)) continue;
    std::vector<std::string> values;
    ProfileGroup g;
    for (const auto& key : group_by) {
      values.push_back(std::string(label_value(run, key)));
      g.key.emplace_back(key, values.back());
    }
    g.mode = run.profile->mode;
    auto [it, added] = groups.try_emplace({values, g.mode}, std::move(g));
    std::string side(label_value(run, between));
    it->second.columns.push_back({side.empty() ? run.workload : side, &run});
  }
  std::vector<ProfileGroup> out;
  for (auto& [key, g] : groups) {
    std::stable_sort(g.columns.begin(), g.columns.end(),
                     [](const ProfileColumn& a, const ProfileColumn& b) { return a.side < b.side; });
    // Two runs of one side in a group (matrix variants): name them by workload too.
    for (std::size_t i = 0; i < g.columns.size(); ++i) {
      const bool shared = (i > 0 && g.columns[i - 1].side == g.columns[i].side) ||
                          (i + 1 < g.columns.size() && g.columns[i + 1].side == g.columns[i].side);
      if (shared) g.columns[i].side += " (" + g.columns[i].run->workload + ")";
    }
    out.push_back(std::move(g));
  }
  return out;
}

std::string profiles_report(const std::vector<ProfileGroup>& groups, const std::vector<std::string>& group_by,
                            std::size_t top, TableFormat format) {
  switch (format) {
    case TableFormat::csv: return as_csv(groups, group_by, top);
    case TableFormat::json: return as_json(groups, top);
    case TableFormat::markdown: return side_by_side(groups, top, true);
    case TableFormat::text:
    case TableFormat::latex: break;
  }
  return side_by_side(groups, top, false);
}

}  // namespace joulebench
