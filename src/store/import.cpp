// `joulebench import`: a tidy CSV with export's columns becomes a campaign in the store, so
// published or externally measured runs are compared exactly like joulebench's own.
#include <csv.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/store.hpp"
#include "report/escape.hpp"

namespace joulebench {

namespace {

using report_detail::csv_unguard;

struct CsvRow {
  std::size_t line = 0;                            ///< where the row starts (1-based)
  std::vector<std::optional<std::string>> fields;  ///< nullopt: an empty, unquoted field
};

/// Reads every row with libcsv (RFC 4180, strict quoting), remembering the line each starts on.
/// Throws ImportError on malformed quoting, naming the line.
std::vector<CsvRow> read_csv(const std::string& text, const std::string& file) {
  struct State {
    std::vector<CsvRow> rows;
    CsvRow current;
    std::size_t line = 1;
    bool in_row = false;
  } state;
  const auto on_field = [](void* data, std::size_t size, void* raw) {
    auto& s = *static_cast<State*>(raw);
    if (!s.in_row) {
      // The field is complete on the line being read; a quoted field may have begun lines before.
      const char* field = static_cast<const char*>(data);
      s.current.line = s.line - (field ? static_cast<std::size_t>(std::count(field, field + size, '\n')) : 0);
      s.in_row = true;
    }
    if (data == nullptr) {
      s.current.fields.emplace_back(std::nullopt);
    } else {
      s.current.fields.emplace_back(std::string(static_cast<const char*>(data), size));
    }
  };
  const auto on_row = [](int, void* raw) {
    auto& s = *static_cast<State*>(raw);
    s.rows.push_back(std::move(s.current));
    s.current = {};
    s.in_row = false;
  };

  csv_parser parser{};
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL) != 0) {
    throw ImportError(file, {"cannot initialise the CSV parser"});
  }
  const std::unique_ptr<csv_parser, void (*)(csv_parser*)> guard(&parser, csv_free);
  // Fed a line at a time, so every row knows the line it started on.
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end + 1;
    if (csv_parse(&parser, text.data() + start, end - start, on_field, on_row, &state) != end - start) {
      throw ImportError(file, {fmt::format("line {}: {}", state.line, csv_strerror(csv_error(&parser)))});
    }
    ++state.line;
    start = end;
  }
  if (csv_fini(&parser, on_field, on_row, &state) != 0) {
    throw ImportError(file, {fmt::format("line {}: {} (an unterminated quote?)",
                                         state.rows.empty() ? 1 : state.line - 1, csv_strerror(csv_error(&parser)))});
  }
  return state.rows;
}

/// What a column holds.
struct ColumnRole {
  enum class Kind {
    campaign,
    workload,
    repetition,
    status,
    warmup,
    time,
    exit_code,
    signal,
    user_cpu,
    system_cpu,
    max_rss,
    peak_memory,
    cooldown,
    energy,
    energy_estimated,
    energy_complete,
    dynamic_energy,
    metric,
    region_time,
    region_energy,
    label,
  };
  Kind kind = Kind::label;
  std::string name;  ///< the domain, metric, region or label key
};

bool is_measured(ColumnRole::Kind k) {
  using K = ColumnRole::Kind;
  return k == K::time || k == K::energy || k == K::dynamic_energy || k == K::metric || k == K::region_time ||
         k == K::region_energy;
}

ColumnRole role_of(const std::string& column) {
  using K = ColumnRole::Kind;
  static const std::map<std::string, K, std::less<>> fixed{
      {"campaign", K::campaign},       {"workload", K::workload},   {"repetition", K::repetition},
      {"status", K::status},           {"warmup", K::warmup},       {"time_s", K::time},
      {"exit_code", K::exit_code},     {"signal", K::signal},       {"user_cpu_s", K::user_cpu},
      {"system_cpu_s", K::system_cpu}, {"max_rss_kib", K::max_rss}, {"peak_memory_kib", K::peak_memory},
      {"cooldown_s", K::cooldown},
  };
  if (const auto it = fixed.find(column); it != fixed.end()) return {it->second, column};
  if (const auto id = MetricId::parse(column)) {
    using M = MetricId::Kind;
    switch (id->kind) {
      case M::time: return {K::time, column};
      case M::energy: return {K::energy, id->domain.name()};
      case M::dynamic_energy: return {K::dynamic_energy, id->domain.name()};
      case M::energy_estimated: return {K::energy_estimated, id->domain.name()};
      case M::energy_complete: return {K::energy_complete, id->domain.name()};
      case M::metric: return {K::metric, id->name};
      case M::region_time: return {K::region_time, id->name};
      case M::region_energy: return {K::region_energy, id->name};
    }
  }
  if (column.starts_with("label_") && column.size() > 6) return {K::label, column.substr(6)};
  return {K::label, column};
}

std::optional<double> parse_real(const std::string& text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<bool> parse_flag(const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "TRUE" || text == "True") return true;
  if (text == "false" || text == "0" || text == "no" || text == "FALSE" || text == "False") return false;
  return std::nullopt;
}

EnergyFigure& energy_of(RunRecord& run, const std::string& domain_name) {
  const DomainId domain = *DomainId::parse(domain_name);  // a column's part between its prefix and suffix: never empty
  for (auto& e : run.energy) {
    if (e.domain == domain) return e;
  }
  EnergyFigure e;
  e.domain = domain;
  e.energy_j = std::nan("");
  e.source = "imported";
  e.method = FigureMethod::imported;
  run.energy.push_back(e);
  return run.energy.back();
}

StoredRegion& region_of(RunRecord& run, const std::string& name) {
  for (auto& r : run.regions) {
    if (r.name == name) return r;
  }
  run.regions.push_back({name, 0.0, std::nan(""), {}});
  return run.regions.back();
}

}  // namespace

ImportError::ImportError(const std::string& file, std::vector<std::string> problems)
    : StoreError([&] {
        std::string text = fmt::format("{}: cannot import: ", file);
        const std::size_t shown = std::min<std::size_t>(problems.size(), 20);
        text += fmt::format("{}", fmt::join(problems.begin(), problems.begin() + static_cast<long>(shown), "\n  "));
        if (problems.size() > shown) text += fmt::format("\n  ... and {} more", problems.size() - shown);
        return text;
      }()),
      problems_(std::move(problems)) {}

/// The header's columns and what each holds; problems (a nameless column, one named twice, no
/// measured column) are added to `problems`.
std::vector<ColumnRole> header_roles(const CsvRow& header, std::vector<std::string>& problems) {
  std::vector<ColumnRole> roles;
  bool any_measured = false;
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < header.fields.size(); ++i) {
    // Text cells (names here, and campaign, workload and label values below) lose the ' that export
    // puts before text a spreadsheet would run as a formula.
    const std::string name = csv_unguard(header.fields[i].value_or(""));
    if (name.empty()) problems.push_back(fmt::format("line {}: column {} has no name", header.line, i + 1));
    if (name.find('\0') != std::string::npos) {
      problems.push_back(
          fmt::format("line {}: column {}'s name holds a NUL byte, which names never may", header.line, i + 1));
    }
    if (!seen.emplace(name, i).second)
      problems.push_back(fmt::format("line {}: column '{}' appears twice", header.line, name));
    roles.push_back(role_of(name));
    any_measured = any_measured || is_measured(roles.back().kind);
  }
  if (!any_measured) {
    problems.push_back(fmt::format(
        "line {}: no measured column: at least one of time_s, energy_<domain>_j, dynamic_energy_<domain>_j, "
        "metric_<name>, region_<name>_time_s is needed",
        header.line));
  }
  return roles;
}

/// What one data row says, read into a run; every malformed cell is added to `problems`.
struct RowReading {
  RunRecord run;
  std::optional<int> repetition;  ///< the row's repetition column, when it has one
  bool ok = true;
};

RowReading read_row(const CsvRow& row, const CsvRow& header, const std::vector<ColumnRole>& roles,
                    std::string& campaign_name, std::vector<std::string>& problems) {
  using K = ColumnRole::Kind;
  RowReading reading;
  RunRecord& run = reading.run;
  run.time_s = std::nan("");
  run.user_cpu_s = std::nan("");
  run.system_cpu_s = std::nan("");
  run.max_rss_kib.reset();  // unknown unless the file says
  std::optional<int>& repetition = reading.repetition;
  bool& row_ok = reading.ok;
  const auto bad = [&](std::size_t column, const std::string& why) {
    problems.push_back(fmt::format("line {}, column '{}': {}", row.line, header.fields[column].value_or(""), why));
    row_ok = false;
  };
  for (std::size_t c = 0; c < roles.size(); ++c) {
    if (!row.fields[c]) continue;  // empty: absent
    const std::string& value = *row.fields[c];
    const ColumnRole& role = roles[c];
    if (value.find('\0') != std::string::npos) {
      bad(c, "holds a NUL byte, which names, labels and values never may");
      continue;
    }
    const auto real = [&](bool non_negative) -> std::optional<double> {
      const auto v = parse_real(value);
      if (!v) {
        bad(c, fmt::format("'{}' is not a finite number", value));
      } else if (non_negative && *v < 0) {
        bad(c, fmt::format("{} is negative", value));
        return std::nullopt;
      }
      return v;
    };
    const auto integer = [&]() -> std::optional<long long> {
      long long v = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (error != std::errc() || end != value.data() + value.size()) {
        bad(c, fmt::format("'{}' is not an integer", value));
        return std::nullopt;
      }
      return v;
    };
    const auto flag = [&]() -> std::optional<bool> {
      const auto v = parse_flag(value);
      if (!v) bad(c, fmt::format("'{}' is not true or false", value));
      return v;
    };
    switch (role.kind) {
      case K::campaign:
        if (campaign_name.empty()) campaign_name = csv_unguard(value);
        break;
      case K::workload: run.workload = csv_unguard(value); break;
      case K::repetition:
        if (auto v = integer()) {
          if (*v < 1) bad(c, "a repetition counts from 1");
          else repetition = static_cast<int>(*v);
        }
        break;
      case K::status:
        if (auto s = parse_run_status(value)) run.status = *s;
        else bad(c, fmt::format("'{}' is not a status (ok, failed, signaled, timed-out, not-run)", value));
        break;
      case K::warmup:
        if (auto v = flag()) run.warmup = *v;
        break;
      case K::time:
        if (auto v = real(true)) run.time_s = *v;
        break;
      case K::exit_code:
        if (auto v = integer()) run.exit_code = static_cast<int>(*v);
        break;
      case K::signal:
        if (auto v = integer()) run.signal = static_cast<int>(*v);
        break;
      case K::user_cpu:
        if (auto v = real(true)) run.user_cpu_s = *v;
        break;
      case K::system_cpu:
        if (auto v = real(true)) run.system_cpu_s = *v;
        break;
      case K::max_rss: run.max_rss_kib = integer(); break;
      case K::peak_memory: run.peak_memory_kib = integer(); break;
      case K::cooldown:
        if (auto v = real(true)) run.cooldown_s = *v;
        break;
      case K::energy:
        if (auto v = real(true)) energy_of(run, role.name).energy_j = *v;
        break;
      case K::energy_estimated:
        if (auto v = flag()) energy_of(run, role.name).estimated = *v;
        break;
      case K::energy_complete:
        if (auto v = flag()) energy_of(run, role.name).complete = *v;
        break;
      case K::dynamic_energy:
        // Idle-adjusted energy may not be negative either: a figure below idle is 0 (DESIGN.md).
        if (auto v = real(true)) energy_of(run, role.name).dynamic_energy_j = *v;
        break;
      case K::metric:
        if (auto v = real(false)) run.metrics.push_back({role.name, *v, "", "import"});
        break;
      case K::region_time:
        if (auto v = real(true)) region_of(run, role.name).end_s = *v;
        break;
      case K::region_energy:
        if (auto v = real(true)) {
          EnergyFigure total;
          total.domain = DomainId::total();
          total.energy_j = *v;
          total.source = "imported";
          total.method = FigureMethod::imported;
          region_of(run, role.name).energy.push_back(total);
        }
        break;
      case K::label: run.labels.emplace_back(role.name, csv_unguard(value)); break;
    }
  }
  if (!row_ok) return reading;
  if (run.workload.empty()) {
    // No workload column: the labels name it ("pytorch/ncf/train"), as plans name matrix workloads.
    std::vector<std::string> values;
    for (const auto& label : run.labels) values.push_back(label.second);
    run.workload = fmt::format("{}", fmt::join(values, "/"));
    if (run.workload.empty()) run.workload = "imported";
  }
  // An incomplete figure without a value is one that measured nothing (export leaves its cell empty).
  for (auto& e : run.energy) {
    if (std::isnan(e.energy_j) && !e.complete) {
      e.energy_j = 0;
      e.measured_nothing = true;
      e.problem = "not measured (an empty, incomplete figure in the imported file)";
    }
  }
  // Energy figures need a domain a figure is in; the total is kept as the store's total row, last.
  std::stable_partition(run.energy.begin(), run.energy.end(),
                        [](const EnergyFigure& e) { return !e.domain.is_total(); });
  return reading;
}

ImportResult import_csv(Store& store, const std::filesystem::path& csv, const ImportOptions& options) {
  const std::string file = csv.string();
  if (std::filesystem::is_directory(csv)) {
    throw ImportError(file, {"a folder, not a CSV file (a study's raw measurements: --from icse2022)"});
  }
  std::ifstream in(csv, std::ios::binary);
  if (!in) throw ImportError(file, {"cannot open the file"});
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();

  const std::vector<CsvRow> rows = read_csv(text, file);
  if (rows.empty()) throw ImportError(file, {"line 1: the file is empty (a header row is needed)"});
  std::vector<std::string> problems;
  const std::vector<ColumnRole> roles = header_roles(rows[0], problems);
  if (!problems.empty()) throw ImportError(file, std::move(problems));

  std::vector<RunRecord> runs;
  std::string campaign_name = options.campaign_name;
  std::map<std::pair<std::string, bool>, int> repetitions;  // (workload, warm-up) -> runs so far
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const CsvRow& row = rows[r];
    if (row.fields.size() == 1 && !row.fields[0]) continue;  // a blank line
    if (row.fields.size() != roles.size()) {
      problems.push_back(
          fmt::format("line {}: {} field(s), the header has {}", row.line, row.fields.size(), roles.size()));
      continue;
    }
    RowReading reading = read_row(row, rows[0], roles, campaign_name, problems);
    if (!reading.ok) continue;
    RunRecord& run = reading.run;
    run.index = runs.size();
    int& count = repetitions[{run.workload, run.warmup}];
    ++count;
    run.repetition = reading.repetition.value_or(count);
    runs.push_back(std::move(run));
  }
  if (!problems.empty()) throw ImportError(file, std::move(problems));
  if (runs.empty()) throw ImportError(file, {fmt::format("line {}: no rows after the header", rows[0].line)});

  CampaignPlan plan;
  plan.name = !campaign_name.empty() ? campaign_name : csv.stem().string();
  plan.path = csv;
  plan.text = text;
  plan.hash = plan_hash(text);
  plan.seed = 0;
  for (const auto& c : store.campaigns()) {
    if (c.plan_hash == plan.hash) {
      throw ImportError(file, {fmt::format("this file is already in the store as campaign {} ('{}')", c.id, c.name)});
    }
  }
  const std::int64_t id =
      store.create_campaign(plan, Shard{}, runs.size(), {{"imported_from", std::filesystem::absolute(csv).string()}});
  store.record_runs(id, runs);
  store.finish_campaign(id);
  return {id, runs.size(), plan.name};
}

}  // namespace joulebench
