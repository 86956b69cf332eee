// The HTML report of a campaign: one page with the campaign's facts, per group the distributions,
// the power over a representative run, cost against quality, function profiles and the
// comparison table, and a CO2e conversion; figures drawn by gnuplot and kept beside the page.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/process.hpp"
#include "joulebench/report.hpp"
#include "joulebench/version.hpp"
#include "report/escape.hpp"
#include "report/figures.hpp"
#include "report/output_folder.hpp"
#include "report/table.hpp"

namespace joulebench {

namespace {

using report_detail::html_escape;
using report_detail::tex_escape;

/// A name that is safe as a file name: lowercase letters, digits and '-', from any label text.
std::string slug(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      out += static_cast<char>(std::tolower(u));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > 40) out.resize(40);
  return out.empty() ? "x" : out;
}

/// Figure names unique within a report: a second "ncf-train" becomes "ncf-train-2".
class FigureNames {
 public:
  std::string make(const std::string& base) {
    const std::size_t n = ++seen_[base];
    return n == 1 ? base : fmt::format("{}-{}", base, n);
  }

 private:
  std::map<std::string, std::size_t> seen_;
};

std::string group_title(const KeyValues& key) {
  if (key.empty()) return "all runs";
  std::vector<std::string> parts;
  for (const auto& [k, v] : key) parts.push_back(fmt::format("{}={}", k, v.empty() ? "(none)" : v));
  return fmt::format("{}", fmt::join(parts, " "));
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16U | static_cast<unsigned char>(bytes[i + 1]) << 8U |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[v >> 18U & 63U];
    out += kAlphabet[v >> 12U & 63U];
    out += kAlphabet[v >> 6U & 63U];
    out += kAlphabet[v & 63U];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16U;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8U;
    out += kAlphabet[v >> 18U & 63U];
    out += kAlphabet[v >> 12U & 63U];
    out += i + 1 < bytes.size() ? kAlphabet[v >> 6U & 63U] : '=';
    out += '=';
  }
  return out;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ReportError(fmt::format("gnuplot did not draw {}", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// A metric that says how good the model is, for cost against quality: the one asked for, else
/// the group's first metric without a unit that is not a loss (accuracy, hr@10).
std::string quality_metric(std::span<const RunRecord* const> runs, const std::string& wanted) {
  for (const RunRecord* run : runs) {
    for (const auto& m : run->metrics) {
      if (!wanted.empty() ? m.name == wanted : m.unit.empty() && m.name.find("loss") == std::string::npos)
        return m.name;
    }
  }
  return {};
}

std::optional<double> metric_value(const RunRecord& run, const std::string& name) {
  std::optional<double> value;
  for (const auto& m : run.metrics) {
    if (m.name == name && std::isfinite(m.value)) value = m.value;  // the last report wins, as in export
  }
  return value;
}

/// The run a side's power figure shows: the one with the median total energy (the lower middle of
/// an even count), or the median time where energy is missing.
const RunRecord* representative(std::span<const RunRecord* const> runs) {
  std::vector<std::pair<double, const RunRecord*>> ranked;
  for (const RunRecord* run : runs) {
    const auto* total = find_energy(run->energy, DomainId::total());
    ranked.emplace_back(total != nullptr ? total->energy_j : run->time_s, run);
  }
  if (ranked.empty()) return nullptr;
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first < b.first || (a.first == b.first && a.second->index < b.second->index);
  });
  return ranked[(ranked.size() - 1) / 2].second;
}

std::string mean_sd(std::span<const double> values, int digits = 3) {
  const auto d = stats::describe(values);
  if (!d) return "-";
  return d->sd ? fmt::format("{} ± {}", format_number(d->mean, digits), format_number(*d->sd, 2))
               : format_number(d->mean, digits);
}

/// One figure on the page: the drawn file, embedded, with its caption and where its script is.
struct PageFigure {
  std::string name;
  std::string caption;
  bool wide = false;  ///< a whole row of the page (timelines, function bars)
};

struct GroupSection {
  KeyValues key;
  std::vector<PageFigure> distributions;
  std::vector<PageFigure> power;
  std::vector<PageFigure> quality;
  std::vector<PageFigure> profiles;
  std::vector<std::string> notes;
};

/// A row of the per-side summary (tables/summary.*, the CO2e table).
struct SummaryRow {
  std::string group;
  std::string side;
  std::size_t runs = 0;
  std::vector<double> time_s;
  std::vector<double> energy_j;
  bool estimated = false;
  std::string quality_name;
  std::vector<double> quality;
};

class ReportBuilder {
 public:
  ReportBuilder(const Store& store, std::int64_t campaign, const HtmlReportOptions& options)
      : store_(store), campaign_(campaign), options_(options) {}

  HtmlReportResult build();

 private:
  void load();
  void build_group(const ComparedGroup& group);
  void build_power_figures();
  void build_replication_figure();
  std::string page() const;
  std::string replication_html() const;
  std::string campaign_html() const;
  std::string carbon_html() const;
  std::string figure_html(const PageFigure& figure) const;
  void write_tables();

  const Store& store_;
  std::int64_t campaign_;
  const HtmlReportOptions& options_;
  std::optional<report_detail::OutputFolder> out_;  ///< opened once the campaign is read
  const std::filesystem::path figures_{"figures"};  ///< inside out_
  const std::filesystem::path tables_{"tables"};

  CampaignInfo info_;
  KeyValues environment_;
  std::vector<IdleRecord> idles_;
  std::vector<RunRecord> runs_;      ///< measured and warm-up runs (not profiled)
  std::vector<RunRecord> profiled_;  ///< profiled runs with their profiles
  ComparisonTable table_;
  std::vector<ProfileGroup> profile_groups_;
  std::optional<ReplicationComparison> replication_;  ///< with a reference: the campaign beside it
  std::optional<PageFigure> replication_figure_;

  FigureNames names_;
  std::vector<std::string> figure_names_;
  std::vector<GroupSection> sections_;
  std::vector<SummaryRow> summary_;
  /// Power figures wait for their runs' timelines, read in one query: figure name, caption, run.
  struct PendingPower {
    std::size_t section = 0;
    std::string name;
    std::string caption;
    std::size_t run_index = 0;
  };
  std::vector<PendingPower> pending_power_;
};

void ReportBuilder::load() {
  const auto info = store_.campaign(campaign_);
  if (!info) throw StoreError(fmt::format("{} has no campaign {}", store_.file().string(), campaign_));
  info_ = *info;
  environment_ = store_.environment(campaign_);
  idles_ = store_.idle_baselines(campaign_);
  runs_ = store_.runs(campaign_);
  RunFilter profiled;
  profiled.profiled = true;
  profiled_ = store_.runs(campaign_, profiled);
}

HtmlReportResult ReportBuilder::build() {
  load();
  out_.emplace(options_.directory, options_.force);

  CompareOptions compare = options_.compare;
  if (compare.metrics.empty()) {
    // The page's tables: time, each energy domain and the total, idle-adjusted total energy, and
    // the quality metrics; regions and throughputs are for `joulebench compare`.
    const MetricTable columns = metric_table(runs_);
    for (const auto& c : columns.columns) {
      const auto id = MetricId::parse(c.name);
      if (!id) continue;
      using K = MetricId::Kind;
      const bool dynamic_total = id->kind == K::dynamic_energy && id->domain.is_total();
      const bool quality = id->kind == K::metric && c.unit.empty() && id->name.find("loss") == std::string::npos;
      if (id->kind == K::time || id->kind == K::energy || dynamic_total || quality) compare.metrics.push_back(c.name);
    }
    if (compare.metrics.empty()) compare.metrics.emplace_back("time_s");
  }
  table_ = compare_runs(runs_, compare);
  // The reference is compared with the very options of the page's tables, metrics included.
  if (options_.reference) replication_ = compare_with_reference(runs_, options_.reference->runs, compare);
  profile_groups_ = group_profiles(profiled_, compare.group_by, compare.between, "");

  for (const auto& group : table_.groups) build_group(group);
  build_power_figures();
  build_replication_figure();

  const std::string page_format = options_.figure_format == FigureFormat::png ? "png" : "svg";
  report_detail::draw_figures(*out_, figures_, figure_names_, page_format, options_.gnuplot);
  if (options_.figure_format == FigureFormat::pdf) {
    report_detail::draw_figures(*out_, figures_, figure_names_, "pdf", options_.gnuplot);
  }

  write_tables();
  HtmlReportResult result;
  result.index = options_.directory / "index.html";
  out_->write("index.html", page());
  // The earlier report's files that this one did not write again go only now, once it succeeded.
  out_->finish();
  result.figures = figure_names_.size();
  result.groups = sections_.size();
  return result;
}

void ReportBuilder::build_group(const ComparedGroup& group) {
  GroupSection section;
  section.key = group.key;
  std::string base;
  for (const auto& [k, v] : group.key) base += (base.empty() ? "" : "-") + slug(v);
  if (base.empty()) base = "all";
  const std::string title = group_title(group.key);

  // Runs per side, and each side's colour: its place among all sides of the table.
  std::vector<std::pair<std::string, std::vector<const RunRecord*>>> sides;
  for (const auto& [side, positions] : group.sides) {
    std::vector<const RunRecord*> runs;
    for (std::size_t p : positions) runs.push_back(&runs_[p]);
    sides.emplace_back(side, std::move(runs));
  }
  const auto colour_of = [&](const std::string& side) {
    return static_cast<std::size_t>(std::find(table_.sides.begin(), table_.sides.end(), side) - table_.sides.begin());
  };

  // Distributions: time, then each energy domain and the total, in the order the runs have them.
  std::vector<DomainId> domains;
  for (const auto& [side, runs] : sides) {
    for (const RunRecord* run : runs) {
      for (const auto& e : run->energy) {
        if (std::find(domains.begin(), domains.end(), e.domain) == domains.end()) domains.push_back(e.domain);
      }
    }
  }
  std::stable_partition(domains.begin(), domains.end(), [](const DomainId& d) { return !d.is_total(); });
  struct Measure {
    std::string key;                 ///< "time" or a domain
    std::string label;               ///< axis label
    std::optional<DomainId> domain;  ///< nothing: time
  };
  std::vector<Measure> measures{{"time", "time (s)", std::nullopt}};
  for (const auto& d : domains) measures.push_back({d.name(), fmt::format("{} energy (J)", d.name()), d});
  for (const auto& measure : measures) {
    std::vector<report_detail::BoxSeries> series;
    bool estimated = false;
    std::size_t incomplete = 0;
    for (const auto& [side, runs] : sides) {
      report_detail::BoxSeries s{side, colour_of(side), {}};
      for (const RunRecord* run : runs) {
        if (!measure.domain) {
          s.values.push_back(run->time_s);
          continue;
        }
        const auto* e = find_energy(run->energy, *measure.domain);
        if (e == nullptr) continue;
        if (!e->comparable()) {
          ++incomplete;  // a lower bound or nothing, not comparable: left out as the statistics leave it out
          continue;
        }
        s.values.push_back(e->energy_j);
        estimated = estimated || e->estimated;
      }
      series.push_back(std::move(s));
    }
    // A figure no run measured is listed once, with its reason (the campaign's energy sources),
    // never drawn empty.
    if (std::all_of(series.begin(), series.end(), [](const auto& s) { return s.values.empty(); })) continue;
    const std::string name = names_.make(fmt::format("box-{}-{}", base, slug(measure.key)));
    const std::string label = measure.label + (estimated ? " (estimated)" : "");
    report_detail::write_box_plot(*out_, figures_, name, fmt::format("{}: {}", title, label), label, series);
    figure_names_.push_back(name);
    std::string caption = fmt::format(
        "{}: {} per run, by {}; a box spans the quartiles, whiskers reach 1.5 IQR, every "
        "measured run is a point.",
        title, label, table_.options.between);
    if (incomplete > 0) caption += fmt::format(" {} run(s) with unmeasured intervals left out.", incomplete);
    if (estimated) caption += " Estimated from a model, not measured by a sensor.";
    section.distributions.push_back({name, caption});
  }

  // Power over one representative run per side; drawn once the timelines are read.
  for (const auto& [side, runs] : sides) {
    const RunRecord* run = representative(runs);
    if (run == nullptr) continue;
    const std::string name = names_.make(fmt::format("power-{}-{}", base, slug(side)));
    pending_power_.push_back(
        {sections_.size(), name,
         fmt::format("{}: power of {} over run {} (the median-energy run of {}), channels stacked: the top edge is the "
                     "total; regions shaded.",
                     title, side, run->index, runs.size()),
         run->index});
  }

  // Cost against quality.
  std::vector<const RunRecord*> all;
  for (const auto& [side, runs] : sides) all.insert(all.end(), runs.begin(), runs.end());
  const std::string quality = quality_metric(all, options_.quality_metric);
  if (quality.empty()) {
    section.notes.push_back(
        options_.quality_metric.empty()
            ? "No quality metric (a metric without a unit, such as accuracy): no cost-against-quality figure."
            : fmt::format("No run of this group reports the metric {}.", options_.quality_metric));
  } else {
    std::vector<report_detail::ScatterSeries> series;
    bool estimated = false;
    for (const auto& [side, runs] : sides) {
      report_detail::ScatterSeries s{side, colour_of(side), {}, {}};
      for (const RunRecord* run : runs) {
        const auto* total = find_energy(run->energy, DomainId::total());
        const auto value = metric_value(*run, quality);
        if (total == nullptr || !total->comparable() || !value) continue;
        s.x.push_back(total->energy_j);
        s.y.push_back(*value);
        estimated = estimated || total->estimated;
      }
      series.push_back(std::move(s));
    }
    if (std::all_of(series.begin(), series.end(), [](const auto& s) { return s.x.empty(); })) {
      section.notes.push_back(
          fmt::format("No run has both a measured total energy and {}: no cost-against-quality figure.", quality));
    } else {
      const std::string name = names_.make(fmt::format("quality-{}", base));
      const std::string x_label = estimated ? "total energy per run (J, estimated)" : "total energy per run (J)";
      report_detail::write_scatter_plot(*out_, figures_, name, fmt::format("{}: {} against energy", title, quality),
                                        x_label, quality, series);
      figure_names_.push_back(name);
      section.quality.push_back({name, fmt::format("{}: {} (higher is better for accuracy-like metrics) against total "
                                                   "energy, one point per measured run.",
                                                   title, quality)});
    }
  }

  // Summary rows.
  for (const auto& [side, runs] : sides) {
    SummaryRow row{title, side, runs.size(), {}, {}, false, quality, {}};
    for (const RunRecord* run : runs) {
      row.time_s.push_back(run->time_s);
      const auto* total = find_energy(run->energy, DomainId::total());
      if (total != nullptr && total->comparable()) {
        row.energy_j.push_back(total->energy_j);
        row.estimated = row.estimated || total->estimated;
      }
      if (!quality.empty()) {
        if (const auto value = metric_value(*run, quality)) row.quality.push_back(*value);
      }
    }
    summary_.push_back(std::move(row));
  }

  // Top functions of each profiled run of this group.
  for (const auto& pg : profile_groups_) {
    if (pg.key != group.key) continue;
    for (const auto& column : pg.columns) {
      const RunRecord& run = *column.run;
      const StoredProfile& profile = *run.profile;
      if (!profile.problem.empty()) {
        section.notes.push_back(fmt::format("The {} profile of {} failed: {}", pg.mode, column.side, profile.problem));
        continue;
      }
      const auto* total = find_energy(run.energy, DomainId::total());
      std::vector<report_detail::FunctionShare> shares;
      for (const auto& f : profile.functions) {
        if (shares.size() == options_.top_functions) break;
        const double energy_pct =
            f.energy_j && total != nullptr && total->energy_j > 0 ? 100 * *f.energy_j / total->energy_j : NAN;
        shares.push_back({f.name, run.time_s > 0 ? 100 * f.self_s / run.time_s : NAN, energy_pct});
      }
      const std::string name = names_.make(fmt::format("profile-{}-{}-{}", base, slug(pg.mode), slug(column.side)));
      report_detail::write_function_bars(
          *out_, figures_, name, fmt::format("{}: {}, {} profile (run {})", title, column.side, pg.mode, run.index),
          shares);
      figure_names_.push_back(name);
      section.profiles.push_back(
          {name,
           fmt::format("{}: the top {} functions of {} by self energy ({} mode, profiled run {}): share of the run's "
                       "time and of its energy{}{}.",
                       title, shares.size(), column.side, pg.mode, run.index,
                       profile.energy_rule.empty() ? "" : ", energy by the " + profile.energy_rule + " rule",
                       profile.estimated ? " (estimated energy)" : ""),
           true});
    }
  }
  sections_.push_back(std::move(section));
}

void ReportBuilder::build_power_figures() {
  if (pending_power_.empty()) return;
  RunFilter filter;
  filter.warmup = false;
  for (const auto& p : pending_power_) filter.indices.push_back(p.run_index);
  const std::vector<RunRecord> runs = store_.runs(campaign_, filter, true);
  for (const auto& p : pending_power_) {
    const auto it = std::find_if(runs.begin(), runs.end(), [&](const RunRecord& r) { return r.index == p.run_index; });
    if (it == runs.end() || it->timeline.time_s.empty()) {
      sections_[p.section].notes.push_back(fmt::format("Run {} has no power timeline: no power figure.", p.run_index));
      continue;
    }
    const StoredTimeline& t = it->timeline;
    // A run that names its GPUs: the others' channels are gpu-other, outside its total.
    std::optional<std::vector<std::string>> own_gpus;
    if (const std::string listed = value_of(it->metadata, kGpusMetadata); !listed.empty()) {
      own_gpus.emplace();
      std::istringstream indices(listed);
      for (std::string index; std::getline(indices, index, ',');) own_gpus->push_back("gpu-" + index);
    }
    std::vector<report_detail::PowerChannel> channels;
    std::vector<std::string> unmeasured;
    bool other_gpus = false;
    for (std::size_t c = 0; c < t.channels.size(); ++c) {
      const std::string& id = t.channels[c];
      const auto domain = parse_domain(id.substr(0, id.find('-')));
      const bool other_gpu =
          domain == Domain::gpu && own_gpus && std::find(own_gpus->begin(), own_gpus->end(), id) == own_gpus->end();
      other_gpus = other_gpus || other_gpu;
      report_detail::PowerChannel channel{id, {}, (!domain || counts_toward_total(*domain)) && !other_gpu};
      channel.watts.reserve(t.time_s.size());
      for (std::size_t i = 0; i < t.time_s.size(); ++i) channel.watts.push_back(t.power_w[i * t.channels.size() + c]);
      if (std::none_of(channel.watts.begin(), channel.watts.end(), [](double w) { return std::isfinite(w); })) {
        unmeasured.push_back(id);  // nothing to draw
        continue;
      }
      channels.push_back(std::move(channel));
    }
    std::vector<report_detail::ShadedRegion> regions;
    for (const auto& r : it->regions) regions.push_back({r.name, r.start_s, r.end_s});
    bool estimated = false;
    for (const auto& e : it->energy) estimated = estimated || e.estimated;
    report_detail::write_power_plot(*out_, figures_, p.name,
                                    fmt::format("{}: run {}{}", group_title(sections_[p.section].key), p.run_index,
                                                estimated ? " (estimated power)" : ""),
                                    t.time_s, channels, regions);
    figure_names_.push_back(p.name);
    std::string caption = p.caption;
    if (std::any_of(channels.begin(), channels.end(), [](const auto& c) { return !c.stacked; })) {
      caption += fmt::format(
          " Lines: channels that lie inside the stacked ones or overlap them (cores, integrated GPU, "
          "platform){}, not added to the total.",
          other_gpus ? ", and the GPUs the run did not use" : "");
    }
    if (!unmeasured.empty())
      caption += fmt::format(" Not measured in this run, not drawn: {}.", fmt::join(unmeasured, ", "));
    if (estimated) caption += " Estimated from a model, not measured.";
    sections_[p.section].power.push_back({p.name, caption});
  }
}

void ReportBuilder::build_replication_figure() {
  if (!replication_) return;
  std::vector<report_detail::RatioPoint> points;
  std::size_t left_out = 0;
  for (std::size_t i = 0; i < replication_->rows.size(); ++i) {
    const ReplicationRow& row = replication_->rows[i];
    if (!row.compared()) continue;
    const stats::RatioInterval& c = row.current->ratio;
    const stats::RatioInterval& r = row.reference->ratio;
    bool drawable = true;
    for (const double v : {r.estimate, r.lower, r.upper, c.estimate, c.lower, c.upper}) {
      drawable = drawable && std::isfinite(v) && v > 0;
    }
    if (!drawable) {
      ++left_out;  // a log axis has no place for it
      continue;
    }
    points.push_back({.reference = r.estimate,
                      .reference_lower = r.lower,
                      .reference_upper = r.upper,
                      .current = c.estimate,
                      .current_lower = c.lower,
                      .current_upper = c.upper,
                      .number = i + 1,
                      .direction_agrees = row.direction_agrees});
  }
  if (points.empty()) return;
  const std::string name = names_.make("replication");
  report_detail::write_ratio_scatter(*out_, figures_, name, "The campaign's ratios against the reference's",
                                     "the reference's ratio (second / first)", "the campaign's ratio (second / first)",
                                     points);
  figure_names_.push_back(name);
  const auto& o = replication_->options;
  std::string caption = fmt::format(
      "The campaign's ratio (up) against the reference's (across), second / first side in name order, one point per "
      "comparison in both campaigns, numbered as the rows below; log scales; the bars are each ratio's {:g}% {} "
      "bootstrap interval. On the dashed diagonal both found the same ratio; left of 1 and below it, or right of it "
      "and above, the same side is cheaper in both. Green dots: the direction agrees; orange squares: it differs.",
      o.bootstrap.confidence * 100, o.bootstrap.method == stats::BootstrapMethod::bca ? "BCa" : "percentile");
  if (left_out > 0) caption += fmt::format(" {} comparison(s) with a ratio not above zero left out.", left_out);
  replication_figure_ = PageFigure{name, caption, false};
}

std::string ReportBuilder::replication_html() const {
  const ReplicationComparison& c = *replication_;
  std::string method = html_escape(replication_method(c, options_.reference->title));
  for (std::size_t at; (at = method.find("`compare`")) != std::string::npos;) {
    method.replace(at, 9, "<code>compare</code>");
  }
  std::string out = "<section id=\"replication\">\n<h2>Beside the reference</h2>\n<p class=\"method\">" + method +
                    "</p>\n<p class=\"replication-summary\"><strong>" + html_escape(replication_summary(c)) +
                    "</strong></p>\n";
  if (replication_figure_) {
    out += figure_html(*replication_figure_);
  } else {
    out += "<p class=\"note\">No comparison has a ratio in both campaigns: no figure.</p>\n";
  }
  out +=
      "<table class=\"replication\">\n<thead><tr><th>#</th><th>group</th><th>sides (second / first)</th><th>metric</th>"
      "<th>campaign: ratio [interval]</th><th>reference: ratio [interval]</th><th>cheaper (campaign / reference)</th>"
      "<th>direction</th><th>significance</th><th>intervals overlap</th><th>ratio of ratios</th></tr></thead>\n"
      "<tbody>\n";
  for (std::size_t i = 0; i < c.rows.size(); ++i) {
    const ReplicationRow& row = c.rows[i];
    const bool compared = row.compared();
    const auto cheaper = [](const std::optional<OrientedRatio>& r) {
      return r && !r->cheaper.empty() ? r->cheaper : std::string("-");
    };
    const auto verdict = [&](bool agrees) {
      return !compared ? std::string("<td>-</td>")
             : agrees  ? std::string("<td class=\"verdict\">agrees</td>")
                       : std::string("<td class=\"verdict bad\">DIFFERS</td>");
    };
    const std::string metric = row.metric.description.empty() ? row.metric.name : row.metric.description;
    // The row's class: whether the same side is cheaper in both (the page shades those that differ).
    const char* kind = !compared ? "not-compared" : row.direction_agrees ? "agrees" : "differs";
    const char* overlap = !compared ? "-" : row.intervals_overlap ? "yes" : "no";
    out += fmt::format(
        "<tr class=\"{}\"><td class=\"num\">{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td>{}</td>{}{}<td>{}</td><td{}>{}</td></tr>\n",
        kind, i + 1, html_escape(group_title(row.group)), html_escape(row.second), html_escape(row.first),
        html_escape(metric), html_escape(replication_ratio_text(row.current)),
        html_escape(replication_ratio_text(row.reference)),
        html_escape(fmt::format("{} / {}", cheaper(row.current), cheaper(row.reference))),
        verdict(row.direction_agrees), verdict(row.significance_agrees), overlap,
        row.ratio_of_ratios ? " class=\"num\"" : "",
        row.ratio_of_ratios ? html_escape(format_number(*row.ratio_of_ratios)) : html_escape(row.problem));
  }
  out +=
      "</tbody>\n</table>\n<p>* significant in that campaign. The direction agrees where the same side is cheaper "
      "in both; the significance, where both are significant the same way or neither is. Tables: "
      "<code>tables/replication.md</code>, <code>tables/replication.tex</code>.</p>\n";
  for (const auto& note : c.notes) out += "<p class=\"note\">" + html_escape(note) + "</p>\n";
  return out + "</section>\n";
}

std::string ReportBuilder::figure_html(const PageFigure& figure) const {
  const bool png = options_.figure_format == FigureFormat::png;
  const std::string file = figure.name + (png ? ".png" : ".svg");
  const std::filesystem::path drawn = out_->path() / figures_ / file;
  const std::string data = read_file(drawn);
  if (data.empty()) throw ReportError(fmt::format("gnuplot drew an empty {}", drawn.string()));
  std::string kept = "figures/" + figure.name + ".gp";
  if (options_.figure_format == FigureFormat::pdf) kept += ", figures/" + figure.name + ".pdf";
  return fmt::format(
      "<figure{}><img alt=\"{}\" src=\"data:{};base64,{}\"><figcaption>{} <span class=\"files\">({})</span>"
      "</figcaption></figure>\n",
      figure.wide ? " class=\"wide\"" : "", html_escape(figure.caption), png ? "image/png" : "image/svg+xml",
      base64(data), html_escape(figure.caption), html_escape(kept));
}

std::string ReportBuilder::campaign_html() const {
  std::string out = "<section id=\"campaign\">\n<h2>The campaign</h2>\n";
  out += fmt::format(
      "<table class=\"facts\">\n<tr><th>name</th><td>{}</td></tr>\n<tr><th>store</th><td>{}</td></tr>\n"
      "<tr><th>created</th><td>{}</td></tr>\n<tr><th>plan</th><td>{} ({})</td></tr>\n"
      "<tr><th>seed</th><td>{}</td></tr>\n<tr><th>shard</th><td>{}</td></tr>\n"
      "<tr><th>finished</th><td>{}</td></tr>\n</table>\n",
      html_escape(info_.name), html_escape(store_.file().string()), html_escape(info_.created_at),
      html_escape(info_.plan_path), html_escape(info_.plan_hash), info_.seed, html_escape(info_.shard.text()),
      info_.finished ? "yes" : "no (interrupted or still running: the report shows the runs recorded so far)");

  // Protocol: what the plan asked for (and what `run` overrode), then what was done per workload.
  out += "<h3>Protocol</h3>\n<ul>\n";
  try {
    const CampaignPlan plan = parse_plan(info_.plan_text, info_.plan_path);
    out += fmt::format("<li>run order: {}, seed {}</li>\n", html_escape(std::string(run_order_name(plan.order))),
                       plan.seed);
    out += plan.cooldown.kind == Cooldown::Kind::fixed
               ? fmt::format("<li>cool-down: {:g} s between runs</li>\n", plan.cooldown.fixed.count())
               : fmt::format(
                     "<li>cool-down: until total power varies by less than {:g}% over {:g} s (at most {:g} s)</li>\n",
                     plan.cooldown.max_cv * 100, plan.cooldown.window.count(), plan.cooldown.max.count());
    out += fmt::format("<li>idle baseline: {:g} s before the campaign{}</li>\n", plan.idle.count(),
                       plan.idle_every_runs ? fmt::format(", again every {} runs", *plan.idle_every_runs) : "");
    out += fmt::format("<li>power timeline: a sample every {:g} ms</li>\n", plan.interval.count() * 1000);
  } catch (const std::exception& e) {
    out += "<li>the stored plan could not be read again: " + html_escape(e.what()) + "</li>\n";
  }
  const auto overrides = info_.plan_text.find("# run with: ");
  if (overrides != std::string::npos) {
    const auto end = info_.plan_text.find('\n', overrides);
    out += "<li>overridden when run: <code>" +
           html_escape(info_.plan_text.substr(overrides + 12, end - overrides - 12)) +
           "</code> (these replace the plan's values above)</li>\n";
  }
  out += "</ul>\n";

  // Runs per workload: measured ok, failed, warm-ups, profiled, and the cool-downs taken.
  struct Counts {
    std::size_t ok = 0, failed = 0, warmup = 0, profiled = 0;
    std::vector<double> cooldown_s;
  };
  std::map<std::string, Counts> counts;
  std::vector<std::string> order;
  std::size_t failed = 0;
  std::size_t warmups = 0;
  for (const auto& run : runs_) {
    if (!counts.contains(run.workload)) order.push_back(run.workload);
    auto& c = counts[run.workload];
    if (run.warmup) {
      ++c.warmup;
      ++warmups;
    } else if (run.status == RunStatus::ok) {
      ++c.ok;
    } else {
      ++c.failed;
      ++failed;
    }
    c.cooldown_s.push_back(run.cooldown_s);
  }
  for (const auto& run : profiled_) {
    if (!counts.contains(run.workload)) order.push_back(run.workload);
    ++counts[run.workload].profiled;
  }
  const std::size_t recorded = runs_.size() + profiled_.size();
  out += fmt::format(
      "<p>{} run(s) planned, {} recorded: {} measured and ok, {} failed or not run (excluded), {} warm-up "
      "(excluded), {} profiled (excluded).{}</p>\n",
      info_.planned_runs, recorded, runs_.size() - failed - warmups, failed, warmups, profiled_.size(),
      recorded < info_.planned_runs ? " The campaign is not complete: resume it with joulebench run." : "");
  out +=
      "<table>\n<thead><tr><th>workload</th><th>ok</th><th>failed</th><th>warm-up</th><th>profiled</th>"
      "<th>median cool-down (s)</th></tr></thead>\n<tbody>\n";
  for (const auto& w : order) {
    const auto& c = counts[w];
    const auto d = stats::describe(c.cooldown_s);
    out += fmt::format(
        "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num{}\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
        html_escape(w), c.ok, c.failed > 0 ? " bad" : "", c.failed, c.warmup, c.profiled,
        d ? format_number(d->median) : "-");
  }
  out += "</tbody>\n</table>\n";
  std::vector<const RunRecord*> failures;
  for (const auto& run : runs_) {
    if (!run.warmup && run.status != RunStatus::ok) failures.push_back(&run);
  }
  if (!failures.empty()) {
    out += "<ul class=\"failures\">\n";
    for (const RunRecord* run : failures) {
      out += fmt::format("<li>run {} of {} (repetition {}): {}{}</li>\n", run->index, html_escape(run->workload),
                         run->repetition, html_escape(std::string(run_status_name(run->status))),
                         run->reason.empty() ? "" : ": " + html_escape(run->reason));
    }
    out += "</ul>\n";
  }

  // Energy sources per domain, from the runs themselves; estimated ones with their model.
  std::map<std::string, std::set<std::string>> sources;
  for (const auto& run : runs_) {
    for (const auto& e : run.energy) {
      if (e.domain.is_total()) continue;
      sources[e.domain.name()].insert(
          fmt::format("{} ({}){}", e.source, method_name(e.method), e.estimated ? ", ESTIMATED" : ""));
    }
  }
  const std::vector<UnmeasuredDomain> unmeasured = unmeasured_domains(runs_);
  out +=
      "<h3>Energy sources</h3>\n<table>\n<thead><tr><th>domain</th><th>source "
      "(method)</th><th>measured</th></tr></thead>\n"
      "<tbody>\n";
  for (const auto& [domain_key, list] : sources) {
    // A plain reference: lambdas may not capture structured bindings before clang 16 (the fuzzers' compiler).
    const auto& domain = domain_key;
    std::vector<std::string> escaped;
    for (const auto& s : list) escaped.push_back(html_escape(s));
    const bool measured = std::none_of(unmeasured.begin(), unmeasured.end(),
                                       [&](const UnmeasuredDomain& u) { return u.domain.name() == domain; });
    out +=
        fmt::format("<tr><td>{}</td><td{}>{}</td><td{}>{}</td></tr>\n", html_escape(domain),
                    std::any_of(list.begin(), list.end(), [](const std::string& s) { return s.ends_with("ESTIMATED"); })
                        ? " class=\"estimated\""
                        : "",
                    fmt::join(escaped, "; "), measured ? "" : " class=\"bad\"",
                    measured ? std::string("yes")
                             : html_escape(describe_unmeasured(*std::find_if(
                                   unmeasured.begin(), unmeasured.end(),
                                   [&](const UnmeasuredDomain& u) { return u.domain.name() == domain; }))));
  }
  out += "</tbody>\n</table>\n";
  for (const auto& [k, v] : environment_) {
    if (k.starts_with("source.estimate.model")) {
      out += "<p class=\"estimated\">Estimated energy comes from a model, not a sensor: " + html_escape(v) + ".</p>\n";
    }
  }

  if (!idles_.empty()) {
    out += "<h3>Idle baselines</h3>\n<ul>\n";
    for (const auto& idle : idles_) {
      std::vector<std::string> parts;
      for (const auto& [domain, watts] : idle.power_w)
        parts.push_back(fmt::format("{} {} W", html_escape(domain), format_number(watts)));
      // A domain the runs have but the baseline has no power for: too little of it was measured.
      std::vector<std::string> missing;
      for (const auto& entry : sources) {
        const std::string& domain = entry.first;
        const bool has =
            std::any_of(idle.power_w.begin(), idle.power_w.end(), [&](const auto& p) { return p.first == domain; });
        if (!has) missing.push_back(html_escape(domain));
      }
      out += fmt::format("<li>{} s: {}{}{}</li>\n", format_number(idle.duration_s), fmt::join(parts, ", "),
                         idle.complete ? "" : " (some intervals unmeasured)",
                         missing.empty() ? "" : fmt::format("; not measured: {}", fmt::join(missing, ", ")));
    }
    out += "</ul>\n";
  }

  out += "<h3>Machine and environment</h3>\n<table class=\"facts\">\n";
  for (const auto& [k, v] : environment_)
    out += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", html_escape(k), html_escape(v));
  out += "</table>\n";
  out += "<details><summary>The plan, as run</summary>\n<pre>" + html_escape(info_.plan_text) + "</pre>\n</details>\n";
  return out + "</section>\n";
}

std::string ReportBuilder::carbon_html() const {
  std::string out = "<section id=\"carbon\">\n<h2>Energy as CO<sub>2</sub>e</h2>\n";
  if (!options_.carbon) {
    return out +
           "<p>Not converted: give the grid's carbon intensity (and the facility's PUE) with <code>joulebench report "
           "--carbon-intensity G_PER_KWH --pue X</code>. joulebench assumes no intensity of its own.</p>\n</section>\n";
  }
  const CarbonConversion& c = *options_.carbon;
  double campaign_j = 0;
  bool estimated = false;
  for (const auto* list : {&runs_, &profiled_}) {
    for (const auto& run : *list) {
      if (const auto* total = find_energy(run.energy, DomainId::total());
          total != nullptr && !total->measured_nothing) {
        campaign_j += total->energy_j;
        estimated = estimated || total->estimated;
      }
    }
  }
  out += fmt::format(
      "<p class=\"conversion\">A conversion, not a measurement: CO<sub>2</sub>e = energy (kWh) &times; PUE {:g} "
      "&times; "
      "{:g} g CO<sub>2</sub>e/kWh, factors given by the user. It covers the energy joulebench measured{} in the "
      "workloads' "
      "runs, not the machine's idle draw between them.</p>\n",
      c.pue, c.grid_g_per_kwh, estimated ? " (here estimated from a model)" : "");
  out += fmt::format(
      "<p>The whole campaign ({} recorded runs, warm-up, failed and profiled runs included): {} J = {} kWh "
      "&rarr; <strong>{} g CO<sub>2</sub>e</strong>.</p>\n",
      runs_.size() + profiled_.size(), format_number(campaign_j), format_number(campaign_j / 3.6e6),
      format_number(c.grams(campaign_j)));
  out +=
      "<table>\n<thead><tr><th>group</th><th>side</th><th>n</th><th>energy per run (J)</th><th>g CO<sub>2</sub>e per "
      "run</th><th>g CO<sub>2</sub>e per 1,000 runs</th></tr></thead>\n<tbody>\n";
  for (const auto& row : summary_) {
    const auto d = stats::describe(row.energy_j);
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td></tr>\n",
        html_escape(row.group), html_escape(row.side), row.energy_j.size(), d ? format_number(d->mean) : "-",
        d ? format_number(c.grams(d->mean)) : "-", d ? format_number(c.grams(d->mean) * 1000) : "-");
  }
  return out + "</tbody>\n</table>\n</section>\n";
}

void ReportBuilder::write_tables() {
  out_->write(tables_ / "comparison.md", comparison_report(table_, TableFormat::markdown));
  out_->write(tables_ / "comparison.tex", comparison_report(table_, TableFormat::latex));
  if (replication_) {
    const std::string& reference = options_.reference->title;
    out_->write(tables_ / "replication.md", replication_report(*replication_, TableFormat::markdown, reference));
    out_->write(tables_ / "replication.tex", replication_report(*replication_, TableFormat::latex, reference));
  }

  // Per side: n, time, energy, quality and (with a conversion) CO2e per run.
  const bool carbon = options_.carbon.has_value();
  using report_detail::ColumnAlign;
  using report_detail::TableCell;
  std::vector<report_detail::TableColumn> columns{{"group", ColumnAlign::left, {}},
                                                  {"side", ColumnAlign::left, {}},
                                                  {"n", ColumnAlign::right, "$n$"},
                                                  {"time (s)", ColumnAlign::right, {}},
                                                  {"total energy (J)", ColumnAlign::right, {}},
                                                  {"quality", ColumnAlign::left, {}}};
  if (carbon) columns.push_back({"g CO2e per run", ColumnAlign::right, "g CO$_2$e per run"});
  report_detail::Table summary(std::move(columns));
  bool estimated = false;
  for (const auto& row : summary_) {
    const std::string quality = row.quality_name.empty() ? "-" : row.quality_name + " " + mean_sd(row.quality);
    const auto energy = stats::describe(row.energy_j);
    const std::string grams = carbon && energy ? format_number(options_.carbon->grams(energy->mean)) : "-";
    const std::string mark = row.estimated ? "*" : "";
    estimated = estimated || row.estimated;
    std::vector<TableCell> cells{
        TableCell::text(row.group),
        TableCell::text(row.side),
        TableCell::integer(static_cast<long long>(row.runs)),
        TableCell::text(mean_sd(row.time_s)),
        TableCell::latex(tex_escape(mean_sd(row.energy_j)) + mark, mean_sd(row.energy_j) + mark),
        TableCell::text(quality)};
    if (carbon) cells.push_back(TableCell::formatted(grams));
    summary.add_row(std::move(cells));
  }
  std::string md = summary.markdown();
  std::string tex = "% Generated by joulebench report; needs \\usepackage{booktabs}.\n" + summary.latex();
  const std::string notes = std::string("Mean ± sd over the measured runs.") +
                            (estimated ? " *: estimated from a model, not measured." : "") +
                            (carbon ? fmt::format(" CO2e: a conversion at {:g} g/kWh and PUE {:g}.",
                                                  options_.carbon->grid_g_per_kwh, options_.carbon->pue)
                                    : "");
  md += "\n" + notes + "\n";
  tex += "% " + notes + "\n";
  // LaTeX reads ± as text only with inputenc/utf8 (the default since 2018).
  out_->write(tables_ / "summary.md", md);
  out_->write(tables_ / "summary.tex", tex);
}

constexpr const char* kStyle =
    R"(body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
thead th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}td.significant{font-weight:bold}
td.bad{color:#b00020}.estimated{color:#8a5a00}.conversion{background:#f7f7e8;padding:.5em;border-left:4px solid #c9c26b}
figure{margin:1em 1% 1em 0;display:inline-block;vertical-align:top;width:48%}figure.wide{width:98%}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444;max-width:800px}.files{color:#888}.note{color:#8a5a00}
pre{background:#f7f7f7;padding:.5em;overflow:auto;font-size:.85em}nav a{margin-right:1em}ul.verdicts{font-size:.9em}
tr.differs td{background:#fbeee6}td.verdict.bad{color:#b00020;font-weight:bold}tr.not-compared td{color:#777})";

std::string ReportBuilder::page() const {
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      // Everything is in this file: no request may leave it, and nothing in it may run.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src "
      "'unsafe-inline'\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>joulebench report: {}</title>\n<style>{}</style>\n</head>\n<body>\n"
      "<h1>joulebench report: {}</h1>\n<p>Written by joulebench {} from {}. Figures and their gnuplot scripts and data "
      "are in "
      "<code>figures/</code>, tables as Markdown and LaTeX in <code>tables/</code>.</p>\n",
      html_escape(info_.name), kStyle, html_escape(info_.name), html_escape(std::string(kVersion)),
      html_escape(store_.file().string()));
  out +=
      "<nav><a href=\"#campaign\">campaign</a><a href=\"#groups\">groups</a><a href=\"#summary\">summary</a><a "
      "href=\"#carbon\">CO<sub>2</sub>e</a>";
  if (replication_) out += "<a href=\"#replication\">beside the reference</a>";
  out += "</nav>\n";
  out += campaign_html();

  out += "<section id=\"groups\">\n<h2>Groups</h2>\n<p class=\"method\">" + html_escape(comparison_method(table_)) +
         "</p>\n";
  for (const auto& note : table_.notes) {
    // Unmeasured figures are listed once, in the campaign's energy sources.
    const bool unmeasured =
        std::any_of(table_.unmeasured.begin(), table_.unmeasured.end(),
                    [&](const UnmeasuredDomain& u) { return !u.domain.is_total() && describe_unmeasured(u) == note; });
    if (!unmeasured) out += "<p class=\"note\">" + html_escape(note) + "</p>\n";
  }
  for (std::size_t s = 0; s < sections_.size(); ++s) {
    const GroupSection& section = sections_[s];
    out += fmt::format("<section class=\"group\" id=\"group-{}\">\n<h3>{}</h3>\n", s + 1,
                       html_escape(group_title(section.key)));
    out += "<h4>Distributions</h4>\n";
    for (const auto& f : section.distributions) out += figure_html(f);
    out += "<h4>Comparisons</h4>\n" + comparison_group_html(table_, section.key);
    if (!section.power.empty()) {
      out += "<h4>Power over a representative run</h4>\n";
      for (const auto& f : section.power) out += figure_html(f);
    }
    if (!section.quality.empty()) {
      out += "<h4>Cost against quality</h4>\n";
      for (const auto& f : section.quality) out += figure_html(f);
    }
    if (!section.profiles.empty()) {
      out += "<h4>Where the time and energy go (function profiles)</h4>\n";
      for (const auto& f : section.profiles) out += figure_html(f);
    }
    for (const auto& note : section.notes) out += "<p class=\"note\">" + html_escape(note) + "</p>\n";
    out += "</section>\n";
  }
  if (sections_.empty()) out += "<p>No measured run to show yet.</p>\n";
  const std::string wins = comparison_wins_html(table_);
  if (!wins.empty()) out += "<h3>Wins on cost (time and energy)</h3>\n" + wins;
  out += "</section>\n";
  if (replication_) out += replication_html();

  out +=
      "<section id=\"summary\">\n<h2>Summary per side</h2>\n<table>\n<thead><tr><th>group</th><th>side</th><th>n</th>"
      "<th>time (s)</th><th>total energy (J)</th><th>quality</th></tr></thead>\n<tbody>\n";
  for (const auto& row : summary_) {
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num{}\">{}{}</td>"
        "<td>{}</td></tr>\n",
        html_escape(row.group), html_escape(row.side), row.runs, html_escape(mean_sd(row.time_s)),
        row.estimated ? " estimated" : "", html_escape(mean_sd(row.energy_j)), row.estimated ? " (estimated)" : "",
        row.quality_name.empty() ? "-" : html_escape(row.quality_name + " " + mean_sd(row.quality)));
  }
  out +=
      "</tbody>\n</table>\n<p>Mean &plusmn; sd over the measured runs that count (ok, not warm-up).</p>\n</section>\n";
  out += carbon_html();
  return out + "</body>\n</html>\n";
}

}  // namespace

void write_text_file(const std::filesystem::path& path, std::string_view text) {
  try {
    write_file_for_invoking_user(path, text);
  } catch (const std::runtime_error& e) {
    throw ReportError(e.what());
  }
}

std::optional<FigureFormat> parse_figure_format(std::string_view name) {
  if (name == "svg") return FigureFormat::svg;
  if (name == "png") return FigureFormat::png;
  if (name == "pdf") return FigureFormat::pdf;
  return std::nullopt;
}

HtmlReportResult write_html_report(const Store& store, std::int64_t campaign, const HtmlReportOptions& options) {
  if (options.carbon && (!(options.carbon->grid_g_per_kwh >= 0) || !(options.carbon->pue >= 1))) {
    throw ReportError("the carbon intensity must be >= 0 g/kWh and the PUE >= 1");
  }
  ReportBuilder builder(store, campaign, options);
  return builder.build();
}

}  // namespace joulebench
