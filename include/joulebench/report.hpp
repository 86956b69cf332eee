// Reporters: turn measurements and sensor reports into text for people (terminal) and machines
// (JSON, CSV). Kept apart from measuring, so a new format never touches the meter.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "joulebench/analysis.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/profile.hpp"
#include "joulebench/replication.hpp"
#include "joulebench/run.hpp"
#include "joulebench/sensors.hpp"
#include "joulebench/store.hpp"

namespace joulebench {

/// Every source tried, its status, domains and, when not ok, why and what to change. With
/// `watched` (a window metered with nothing started, at least kStalledCounterTime long), each
/// channel in use also shows what it measured: its power, or that it is frozen or unmeasured; a
/// source whose channels are all frozen shows as frozen.
std::string sensors_text(const SensorSet& sensors, const MeterWindow* watched = nullptr);
std::string sensors_json(const SensorSet& sensors, const MeterWindow* watched = nullptr);

/// A measurement for the terminal: times, then a table of domains; estimated figures marked.
std::string measurement_text(const CommandMeasurement& m);
/// Everything measured, channels included.
std::string measurement_json(const CommandMeasurement& m);
/// A header and one row, with the column names `joulebench export` uses: time_s,
/// energy_<domain>_j, energy_<domain>_estimated, dynamic_energy_<domain>_j, energy_total_j...
std::string measurement_csv(const CommandMeasurement& m);

/// Writes the power timeline as CSV while it is measured: time_s, interval_s, then one
/// <channel>_w column per channel; an interval that could not be measured is an empty cell.
class CsvTimelineWriter final : public TimelineSink {
 public:
  /// Throws std::runtime_error if the file cannot be created.
  explicit CsvTimelineWriter(const std::filesystem::path& path);
  ~CsvTimelineWriter() override;
  CsvTimelineWriter(const CsvTimelineWriter&) = delete;
  CsvTimelineWriter& operator=(const CsvTimelineWriter&) = delete;

  void begin(std::span<const Channel> channels) override;
  void add(const TimelineSample& sample) override;
  /// Flushes and closes; throws std::runtime_error if writing failed (a full disk).
  void close();

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace joulebench

// --- Export: one tidy row per run, for pandas, R or a spreadsheet -------------------------------
// (`joulebench import` reads the same columns)

namespace joulebench {

struct ExportOptions {
  /// Guard text cells a spreadsheet would run as formulas; `joulebench export --raw` turns it off.
  bool guard_formulas = true;
};

/// The runs of a campaign (those the filter selects, in campaign order) as CSV: a header, then one
/// row per run. Columns, in this order:
///   campaign (its name), workload, repetition, status, warmup (true/false);
///   the labels: the union of the runs' label keys, in first-seen order (a key that would shadow
///     one of the fixed columns above or below is written label_<key>);
///   time_s;
///   energy_<domain>_j for each domain present (cpu, core, uncore, dram, psys, gpu, then any other
///     in first-seen order), then energy_total_j;
///   energy_<domain>_estimated ... energy_total_estimated (true/false);
///   dynamic_energy_<domain>_j ... dynamic_energy_total_j;
///   metric_<name> for each metric name, in first-seen order (a metric reported several times in a
///     run: its last value);
///   exit_code, signal, user_cpu_s, system_cpu_s, max_rss_kib, cooldown_s;
///   energy_<domain>_complete ... energy_total_complete (true/false);
///   region_<name>_time_s, region_<name>_energy_total_j for each region name in first-seen order
///     (a region entered several times in a run: the sum of its visits).
/// A missing value (a domain a run lacks, a not-run run's times, NaN) is an empty cell. Fields are
/// quoted as RFC 4180 says (lines end with "\n"); numbers are written with the fewest digits that
/// read back as the same double. A text cell (a name, a label, the header) that a spreadsheet
/// would run as a formula (it starts with = + - @, a tab or a carriage return) gets a leading ',
/// unless the options say not to; `joulebench import` takes it off again. Throws StoreError if the
/// campaign does not exist.
std::string export_csv(const Store& store, std::int64_t campaign, const RunFilter& filter = {},
                       const ExportOptions& options = {});
/// The same rows as a JSON array of objects (keys in the column order above; one object per
/// line); a missing value is null.
std::string export_json(const Store& store, std::int64_t campaign, const RunFilter& filter = {});

}  // namespace joulebench

// --- Comparisons: what `joulebench compare` and `joulebench bench` print ------------------------

namespace joulebench {

enum class TableFormat : std::uint8_t {
  text,      ///< for a terminal: a block per group and pair of sides, verdicts under each
  markdown,  ///< one table for a README or an issue, verdicts as a list
  csv,       ///< one row per comparison, every number unrounded
  json,      ///< everything, nested
  latex,     ///< a booktabs table for a paper
};
/// "table", "md", "csv", "json", "latex" into a format; std::nullopt for anything else.
std::optional<TableFormat> parse_table_format(std::string_view name);

/// The comparison in the chosen format. Estimated figures are marked in every format; excluded
/// runs (warm-up, failed) are counted; the win summary and the notes follow the comparisons.
std::string comparison_report(const ComparisonTable& table, TableFormat format);

/// How the table was computed and which runs it read, in one paragraph.
std::string comparison_method(const ComparisonTable& table);

/// A campaign beside a reference one (`compare --reference`): per group, metric and pair of sides,
/// both ratios (second / first) with their intervals, the cheaper side in each, whether direction
/// and significance agree, whether the intervals overlap, and the ratio of ratios; then how many
/// agree. `reference` names the reference ("icse2022 (campaign 1 of ref.db)").
std::string replication_report(const ReplicationComparison& comparison, TableFormat format,
                               const std::string& reference);
/// How the comparison beside the reference was made, in one paragraph (both campaigns' runs, the
/// test, correction, ratio and interval); the text report and the HTML page open with it.
std::string replication_method(const ReplicationComparison& comparison, const std::string& reference);
/// How many comparisons agree on direction and significance and how many intervals overlap, with
/// their shares, and how many rows were not compared; one sentence or two.
std::string replication_summary(const ReplicationComparison& comparison);
/// "1.43 [1.11, 1.76] *": a campaign's oriented ratio with its interval, * where significant in
/// that campaign; "-" where it has none.
std::string replication_ratio_text(const std::optional<OrientedRatio>& ratio);
/// One group's comparisons as an HTML fragment (every text escaped): a table, its verdicts, the
/// omnibus test; for the report page, which places each group's table beside its figures.
std::string comparison_group_html(const ComparisonTable& table, const KeyValues& group);
/// The win summary as an HTML table (empty when there is none).
std::string comparison_wins_html(const ComparisonTable& table);

}  // namespace joulebench

// --- A bench's commands on their own: what `joulebench bench` prints and exports --------------

namespace joulebench {

/// One command of a bench: as given (its parameters put in) and its measured runs summarised.
struct BenchResult {
  std::string command;
  KeyValues parameters;  ///< -P/-L names and this command's values, in the order given
  WorkloadSummary summary;
};

enum class BenchFormat : std::uint8_t {
  text,      ///< for a terminal, a block per command as hyperfine prints it
  json,      ///< hyperfine's --export-json shape, with energy per result and per run
  csv,       ///< hyperfine's --export-csv columns, with energy columns after them
  markdown,  ///< hyperfine's --export-markdown table, with energy columns
};
std::string bench_report(std::span<const BenchResult> results, BenchFormat format);

}  // namespace joulebench

// --- One profile: what `joulebench profile` prints --------------------------------------------

namespace joulebench {

enum class ProfileFormat : std::uint8_t { table, md, csv, json, folded };
std::optional<ProfileFormat> parse_profile_format(std::string_view name);
/// The profile as a table, Markdown, CSV or JSON (rows as profile_rows chooses them), or folded
/// stacks ("stack weight" lines: self time in microseconds, or energy in microjoules).
std::string format_profile(const Profile& profile, ProfileFormat format, std::size_t top, double threshold,
                           bool folded_by_energy = false);

}  // namespace joulebench

// --- Profiles side by side: what `joulebench profiles` prints -----------------------------------

namespace joulebench {

/// One profiled run, as a column of the side-by-side table.
struct ProfileColumn {
  std::string side;                ///< the value of the `between` label (the framework)
  const RunRecord* run = nullptr;  ///< not owned; its `profile` is set
};

/// The profiled runs of one group (e.g. model=ncf phase=train) and one profile mode.
struct ProfileGroup {
  KeyValues key;  ///< the group's labels and values
  std::string mode;
  std::vector<ProfileColumn> columns;  ///< sorted by side
};

/// Groups the profiled runs among `runs` by the `group_by` labels and the profile mode, one column
/// per value of `between`; `mode`, unless empty, keeps only profiles of that mode.
std::vector<ProfileGroup> group_profiles(const std::vector<RunRecord>& runs, const std::vector<std::string>& group_by,
                                         const std::string& between, const std::string& mode);

/// Each group's top functions per side: name, self time, energy (estimated energy marked). Text
/// and Markdown put the sides side by side; CSV has one row per function; JSON everything.
/// `top` = 0 keeps every function. LaTeX is not offered (text is returned).
std::string profiles_report(const std::vector<ProfileGroup>& groups, const std::vector<std::string>& group_by,
                            std::size_t top, TableFormat format);

}  // namespace joulebench

// --- The HTML report: what `joulebench report` writes -------------------------------------------

namespace joulebench {

/// The report cannot be written (gnuplot missing or failing, the folder not writable).
class ReportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The report's folder holds files joulebench did not write, and the options do not force it.
class FolderNotEmpty : public ReportError {
 public:
  using ReportError::ReportError;
};

/// Writes a file whole (replacing it); throws ReportError naming the file when it cannot be written.
void write_text_file(const std::filesystem::path& path, std::string_view text);

enum class FigureFormat : std::uint8_t { svg, png, pdf };
/// "svg", "png", "pdf"; std::nullopt for anything else.
std::optional<FigureFormat> parse_figure_format(std::string_view name);

/// Energy into grams of CO2-equivalent: a conversion with factors the user gives, not a measurement.
struct CarbonConversion {
  double grid_g_per_kwh = 0;  ///< the grid's carbon intensity, g CO2e per kWh
  double pue = 1.0;           ///< power usage effectiveness: facility energy / IT energy (>= 1)
  /// joules / 3.6e6 kWh x PUE x grid intensity.
  double grams(double joules) const { return joules / 3.6e6 * pue * grid_g_per_kwh; }
};

/// The file in a report's folder that lists what joulebench wrote there.
inline constexpr const char* kReportManifest = ".joulebench-report";

struct HtmlReportOptions {
  /// Created if missing. Only files joulebench wrote there are replaced or removed (a manifest,
  /// .joulebench-report, lists them); nothing is written through a symbolic link inside it; a
  /// non-empty folder without that manifest is refused unless `force`.
  std::filesystem::path directory;
  bool force = false;
  /// The kept figure files; the page embeds SVG (PNG when png is chosen), a PDF is drawn beside.
  FigureFormat figure_format = FigureFormat::svg;
  std::optional<CarbonConversion> carbon;  ///< absent: the page says how to convert
  CompareOptions compare;                  ///< groups, sides and statistics of the tables
  std::string quality_metric;  ///< metric name for cost against quality; empty: each group's first unitless metric
  std::size_t top_functions = 10;
  std::string gnuplot = "gnuplot";  ///< the program that draws the figures
  /// A campaign to put this one beside (`report --reference`): a section compares both with the
  /// page's own options (compare_with_reference), with a figure of one's ratios against the other's.
  struct Reference {
    std::vector<RunRecord> runs;  ///< its runs, labels already mapped to this campaign's spelling
    std::string title;            ///< "icse2022 (campaign 1 of ref.db)"
  };
  std::optional<Reference> reference;
};

struct HtmlReportResult {
  std::filesystem::path index;  ///< directory / "index.html"
  std::size_t figures = 0;
  std::size_t groups = 0;
};

/// Writes the report of one campaign of `store`:
///   index.html         one page, self-contained: figures embedded as data, no script, no network;
///   figures/NAME.gp    a gnuplot script per figure, with its data NAME*.dat and the drawn figure
///                      (NAME.svg, .png or .pdf); `cd figures && gnuplot NAME.gp` redraws it, and
///                      `gnuplot -e "format='pdf'" NAME.gp` in another format;
///   tables/*.md, *.tex the comparison and the per-side summary as Markdown and LaTeX (booktabs);
///                      with a reference, the comparison beside it too (replication.md, .tex).
/// Throws ReportError (gnuplot missing or failing, a file not writable), StoreError, and
/// std::invalid_argument for comparison options that cannot work on the campaign or the reference.
HtmlReportResult write_html_report(const Store& store, std::int64_t campaign, const HtmlReportOptions& options);

}  // namespace joulebench
