// gnuplot scripts and data for the report's figures, and drawing them.
#include "report/figures.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/process.hpp"
#include "joulebench/report.hpp"
#include "report/escape.hpp"

namespace joulebench::report_detail {

namespace {

/// Colour-blind-safe qualitative colours (ColorBrewer "Dark2"), by a side's place among all sides.
constexpr std::array<const char*, 8> kColours{"#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                              "#66a61e", "#e6ab02", "#a6761d", "#666666"};

std::string colour(std::size_t index) { return gnuplot_string(kColours[index % kColours.size()]); }

/// Every script starts alike: the output format is a variable (svg unless given with
/// `gnuplot -e "format='pdf'"`), the terminal is chosen from it, text is never "enhanced" (so `_`
/// and `^` in a label stay themselves).
std::string preamble(const std::string& name, const std::string& title, int width_px, int height_px) {
  const double width_in = width_px / 128.0;
  const double height_in = height_px / 128.0;
  return fmt::format(
      "# {title}\n"
      "# Drawn by joulebench report. Redraw: gnuplot {name}.gp (SVG); gnuplot -e \"format='pdf'\" {name}.gp (or png).\n"
      "reset\n"
      "if (!exists(\"format\")) format = 'svg'\n"
      "set encoding utf8\n"
      "if (format eq 'png') {{\n"
      "  set terminal pngcairo size {w2},{h2} font 'sans,20' noenhanced background rgb 'white'\n"
      "}} else {{\n"
      "  if (format eq 'pdf') {{\n"
      "    set terminal pdfcairo size {wi:.2f}in,{hi:.2f}in font 'sans,8' noenhanced\n"
      "  }} else {{\n"
      "    set terminal svg size {w},{h} font 'sans,11' noenhanced background rgb 'white'\n"
      "  }}\n"
      "}}\n"
      "set output '{name}.'.format\n"
      "set title {quoted_title}\n"
      "set border 3\n"
      "set tics nomirror\n",
      fmt::arg("title", gnuplot_string(title)), fmt::arg("name", name), fmt::arg("w", width_px),
      fmt::arg("h", height_px), fmt::arg("w2", 2 * width_px), fmt::arg("h2", 2 * height_px), fmt::arg("wi", width_in),
      fmt::arg("hi", height_in), fmt::arg("quoted_title", gnuplot_string(title)));
}

/// The plot command of a figure's curves; a figure with none draws empty axes (with fixed ranges:
/// gnuplot refuses to autoscale a plot without a single point).
std::string plot_command(const std::vector<std::string>& plots) {
  if (plots.empty()) return "set yrange [0:1]\nset xrange [0:1]\nplot NaN notitle\n";
  std::string out = "plot ";
  out += fmt::format("{}", fmt::join(plots, ", \\\n     "));
  out += "\n";
  return out;
}

/// Text for a data file's comment line: a line break in a label would start a data line.
std::string comment_text(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

/// A number for a data file: NaN is gnuplot's missing value.
std::string number(double value) { return std::isfinite(value) ? fmt::format("{:.9g}", value) : "NaN"; }

}  // namespace

void write_box_plot(OutputFolder& out, const std::filesystem::path& folder, const std::string& name,
                    const std::string& title, const std::string& y_label, const std::vector<BoxSeries>& series) {
  // One data block per side (blocks are separated by two blank lines: gnuplot's `index`); the
  // second column places each run's point across the box, spread evenly and reproducibly.
  std::string data = "# value\tx (the side's position, spread so runs do not hide each other)\n";
  for (std::size_t s = 0; s < series.size(); ++s) {
    const auto& values = series[s].values;
    data += fmt::format("# {}\n", comment_text(series[s].side));
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double spread =
          values.size() > 1 ? (static_cast<double>(i) / static_cast<double>(values.size() - 1) - 0.5) * 0.3 : 0;
      data += fmt::format("{}\t{}\n", number(values[i]), number(static_cast<double>(s + 1) + spread));
    }
    data += "\n\n";
  }
  out.write(folder / (name + ".dat"), data);

  std::string gp = preamble(name, title, 640, 400);
  std::string tics;
  for (std::size_t s = 0; s < series.size(); ++s) {
    tics += fmt::format("{}{} {}", s == 0 ? "" : ", ", gnuplot_tic_label(series[s].side), s + 1);
  }
  gp += fmt::format(
      "set ylabel {}\n"
      "set xrange [0.4:{}]\n"
      "set xtics ({})\n"
      "set grid ytics\n"
      "set key off\n"
      "set style fill solid 0.25 border\n"
      "set style boxplot nooutliers\n"
      "set boxwidth 0.5\n",
      gnuplot_string(y_label), number(static_cast<double>(series.size()) + 0.6), tics);
  std::vector<std::string> plots;
  for (std::size_t s = 0; s < series.size(); ++s) {
    if (series[s].values.empty()) continue;
    plots.push_back(
        fmt::format("'{}.dat' index {} using ({}):1 with boxplot lc rgb {}", name, s, s + 1, colour(series[s].colour)));
    plots.push_back(fmt::format("'{}.dat' index {} using 2:1 with points pt 7 ps 0.5 lc rgb {}", name, s,
                                colour(series[s].colour)));
  }
  gp += plot_command(plots);
  out.write(folder / (name + ".gp"), gp);
}

void write_power_plot(OutputFolder& out, const std::filesystem::path& folder, const std::string& name,
                      const std::string& title, const std::vector<double>& time_s,
                      const std::vector<PowerChannel>& channels, const std::vector<ShadedRegion>& regions) {
  // Column 1 is the time; then, for the k-th stacked channel, the sum of stacked channels 1..k, so
  // each filled band is a channel and the top edge is the total; then each line channel as it is.
  // A sample is the average power over its interval, so it is drawn flat from the interval's start
  // to its end (two rows). An unmeasured interval leaves a gap.
  std::vector<const PowerChannel*> order;
  for (const auto& c : channels) {
    if (c.stacked) order.push_back(&c);
  }
  const std::size_t stacked = order.size();
  for (const auto& c : channels) {
    if (!c.stacked) order.push_back(&c);
  }
  std::string data = "# time_s";
  for (std::size_t k = 0; k < order.size(); ++k) {
    data += (k < stacked ? "\tup to " : "\t") + comment_text(order[k]->name) + " (W)";
  }
  data += "\n";
  for (std::size_t i = 0; i < time_s.size(); ++i) {
    std::string row;
    double sum = 0;
    for (std::size_t k = 0; k < order.size(); ++k) {
      const double watts = i < order[k]->watts.size() ? order[k]->watts[i] : NAN;
      sum += watts;
      row += '\t';
      row += number(k < stacked ? sum : watts);
    }
    data += number(i == 0 ? 0.0 : time_s[i - 1]) + row + "\n" + number(time_s[i]) + row + "\n";
  }
  out.write(folder / (name + ".dat"), data);

  std::string gp = preamble(name, title, 800, 360);
  gp +=
      "set xlabel 'time since the run started (s)'\nset ylabel 'power (W)'\nset yrange [0:*]\n"
      "set key outside right top\nset style fill solid 0.6 noborder\n";
  for (std::size_t r = 0; r < regions.size(); ++r) {
    const auto& region = regions[r];
    gp += fmt::format(
        "set object {} rect from {}, graph 0 to {}, graph 1 behind fillcolor rgb '{}' fillstyle solid 1.0 noborder\n"
        "set label {} {} at {}, graph 0.96 center front\n",
        r + 1, number(region.start_s), number(region.end_s), r % 2 == 0 ? "#eeeeee" : "#dddddd", r + 1,
        gnuplot_string(region.name), number((region.start_s + region.end_s) / 2));
  }
  std::vector<std::string> plots;
  for (std::size_t k = stacked; k-- > 0;) {
    const std::string below = k == 0 ? "(0)" : fmt::format("{}", k + 1);
    plots.push_back(fmt::format("'{}.dat' using 1:{}:{} with filledcurves lc rgb {} title {}", name, below, k + 2,
                                colour(k), gnuplot_string(order[k]->name)));
  }
  for (std::size_t k = stacked; k < order.size(); ++k) {
    plots.push_back(fmt::format("'{}.dat' using 1:{} with lines lw 2 dt 2 lc rgb {} title {}", name, k + 2, colour(k),
                                gnuplot_string(order[k]->name)));
  }
  gp += plot_command(plots);
  out.write(folder / (name + ".gp"), gp);
}

void write_scatter_plot(OutputFolder& out, const std::filesystem::path& folder, const std::string& name,
                        const std::string& title, const std::string& x_label, const std::string& y_label,
                        const std::vector<ScatterSeries>& series) {
  std::string data = "# x\ty\n";
  for (const auto& s : series) {
    data += fmt::format("# {}\n", comment_text(s.side));
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      data += number(s.x[i]) + "\t" + number(s.y[i]) + "\n";
    data += "\n\n";
  }
  out.write(folder / (name + ".dat"), data);

  std::string gp = preamble(name, title, 640, 400);
  gp += fmt::format("set xlabel {}\nset ylabel {}\nset grid\nset key outside right top\n", gnuplot_string(x_label),
                    gnuplot_string(y_label));
  std::vector<std::string> plots;
  for (std::size_t s = 0; s < series.size(); ++s) {
    if (series[s].x.empty()) continue;
    plots.push_back(fmt::format("'{}.dat' index {} using 1:2 with points pt 7 ps 0.8 lc rgb {} title {}", name, s,
                                colour(series[s].colour), gnuplot_string(series[s].side)));
  }
  gp += plot_command(plots);
  out.write(folder / (name + ".gp"), gp);
}

namespace {

/// Tics for a logarithmic axis over [low, high]: decades where the range spans several, else
/// 1-2-5 steps or finer ones, so that a narrow range still has a few numbered tics; empty (gnuplot
/// chooses) when none fit.
std::string log_tics(double low, double high) {
  const std::vector<std::vector<double>> steps{
      {1}, {1, 2, 5}, {1, 1.5, 2, 3, 5, 7}, {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9}};
  std::vector<double> tics;
  for (const auto& mantissas : steps) {
    tics.clear();
    for (int e = static_cast<int>(std::floor(std::log10(low))); e <= static_cast<int>(std::ceil(std::log10(high)));
         ++e) {
      for (const double m : mantissas) {
        const double v = m * std::pow(10.0, e);
        if (v >= low && v <= high) tics.push_back(v);
      }
    }
    if (tics.size() >= 4) break;
  }
  if (tics.size() < 2) return {};
  std::vector<std::string> parts;
  for (const double v : tics) parts.push_back(fmt::format("'{:g}' {}", v, number(v)));
  return fmt::format("({})", fmt::join(parts, ", "));
}

bool drawable(const RatioPoint& p) {
  for (const double v :
       {p.reference, p.reference_lower, p.reference_upper, p.current, p.current_lower, p.current_upper}) {
    if (!std::isfinite(v) || v <= 0) return false;
  }
  return true;
}

}  // namespace

void write_ratio_scatter(OutputFolder& out, const std::filesystem::path& folder, const std::string& name,
                         const std::string& title, const std::string& x_label, const std::string& y_label,
                         const std::vector<RatioPoint>& points) {
  // A block per kind of point that has any (gnuplot's `index` counts the blocks written), so an
  // empty kind is neither a block nor a curve.
  struct Kind {
    bool agrees;
    const char* title;
    const char* point;
    std::size_t colour;
  };
  constexpr std::array<Kind, 2> kKinds{
      {{true, "direction agrees", "pt 7 ps 0.8", 0}, {false, "direction differs", "pt 5 ps 1", 1}}};
  double low = 1;
  double high = 1;
  std::string data =
      "# reference ratio\treference lower\treference upper\tcampaign ratio\tcampaign lower\tcampaign upper\t"
      "row on the page\n";
  std::vector<std::string> plots{"x with lines dt 2 lw 1 lc rgb '#555555' title 'y = x'"};
  std::size_t block = 0;
  for (const auto& kind : kKinds) {
    std::string rows;
    for (const auto& p : points) {
      if (p.direction_agrees != kind.agrees || !drawable(p)) continue;
      low = std::min({low, p.reference_lower, p.current_lower, p.reference, p.current});
      high = std::max({high, p.reference_upper, p.current_upper, p.reference, p.current});
      rows += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\n", number(p.reference), number(p.reference_lower),
                          number(p.reference_upper), number(p.current), number(p.current_lower),
                          number(p.current_upper), p.number);
    }
    if (rows.empty()) continue;
    data += fmt::format("# {}\n", kind.title) + rows + "\n\n";
    plots.push_back(fmt::format("'{}.dat' index {} using 1:4:2:3:5:6 with xyerrorbars {} lc rgb {} title {}", name,
                                block, kind.point, colour(kind.colour), gnuplot_string(kind.title)));
    plots.push_back(
        fmt::format("'{}.dat' index {} using 1:4:7 with labels offset char 0.9,0.6 font ',8' tc rgb {} notitle", name,
                    block, colour(kind.colour)));
    ++block;
  }
  out.write(folder / (name + ".dat"), data);

  // One range for both axes, so the diagonal runs corner to corner; at least a factor 1.5 wide,
  // with a margin, and always holding 1.
  double factor = std::pow(high / low, 0.06);
  low /= factor;
  high *= factor;
  if (high / low < 1.5) {
    factor = std::sqrt(1.5 / (high / low));
    low /= factor;
    high *= factor;
  }
  const std::string tics = log_tics(low, high);
  std::string gp = preamble(name, title, 600, 620);
  gp += fmt::format(
      "set xlabel {}\n"
      "set ylabel {}\n"
      "set logscale xy\n"
      "set xrange [{lo}:{hi}]\n"
      "set yrange [{lo}:{hi}]\n"
      "set size square\n"
      "{tics}"
      "set grid\n"
      "set key outside center top horizontal samplen 2\n"
      "set samples 50\n"
      "set arrow 1 from 1, graph 0 to 1, graph 1 nohead back lw 1.5 lc rgb '#aaaaaa'\n"
      "set arrow 2 from graph 0, first 1 to graph 1, first 1 nohead back lw 1.5 lc rgb '#aaaaaa'\n",
      gnuplot_string(x_label), gnuplot_string(y_label), fmt::arg("lo", number(low)), fmt::arg("hi", number(high)),
      fmt::arg("tics", tics.empty() ? "" : fmt::format("set xtics {0}\nset ytics {0}\n", tics)));
  gp += plot_command(plots);
  out.write(folder / (name + ".gp"), gp);
}

void write_function_bars(OutputFolder& out, const std::filesystem::path& folder, const std::string& name,
                         const std::string& title, const std::vector<FunctionShare>& functions) {
  // Names stay in the script (as tic labels), the data file holds only the numbers.
  constexpr std::size_t kNameChars = 60;
  std::string data = "# rank (0 = top)\t% of run time\t% of run energy\n";
  std::string tics;
  std::size_t widest = 10;
  for (std::size_t i = 0; i < functions.size(); ++i) {
    std::string label = functions[i].function;
    if (label.size() > kNameChars) {
      // Cut at a character's start: half a UTF-8 sequence would make the SVG unreadable.
      std::size_t cut = kNameChars - 3;
      while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0) == 0x80) --cut;
      label = label.substr(0, cut) + "...";
    }
    widest = std::max(widest, label.size());
    tics += fmt::format("{}{} {}", i == 0 ? "" : ", ", gnuplot_tic_label(label), i);
    data += fmt::format("{}\t{}\t{}\n", i, number(functions[i].time_percent), number(functions[i].energy_percent));
  }
  out.write(folder / (name + ".dat"), data);

  const int height = 110 + 26 * static_cast<int>(std::max<std::size_t>(functions.size(), 1));
  std::string gp = preamble(name, title, 960, height);
  gp += fmt::format(
      "set xlabel 'share of the profiled run (%)'\n"
      "set yrange [{}:-0.6]\n"
      "set ytics ({}) font ',9'\n"
      "set xrange [0:*]\n"
      "set grid xtics\n"
      "set lmargin {}\n"
      "set key outside right top\n"
      "set style fill solid 0.7 noborder\n",
      number(static_cast<double>(functions.size()) - 0.4), tics.empty() ? "'' 0" : tics, widest * 6 / 10 + 4);
  gp += functions.empty()
            ? plot_command({})
            : fmt::format(
                  "plot '{0}.dat' using (0):($1-0.19):(0):2:($1-0.38):($1) with boxxyerror lc rgb '#4c72b0' "
                  "title 'time', \\\n     '{0}.dat' using (0):($1+0.19):(0):3:($1):($1+0.38) with boxxyerror lc rgb "
                  "'#dd8452' title 'energy'\n",
                  name);
  out.write(folder / (name + ".gp"), gp);
}

void draw_figures(OutputFolder& out, const std::filesystem::path& folder, const std::vector<std::string>& names,
                  const std::string& format, const std::string& gnuplot) {
  if (names.empty()) return;
  std::string all =
      "# Draws every figure of the report: gnuplot draw_all.gp (SVG), or gnuplot -e \"format='pdf'\" draw_all.gp\n";
  for (const auto& name : names) {
    all += fmt::format("load '{}.gp'\n", name);
    // gnuplot opens its outputs itself: each is first made a regular file of joulebench's, never a link.
    out.claim(folder / (name + "." + format));
  }
  out.write(folder / "draw_all.gp", all);

  // gnuplot's messages go to an anonymous file: nothing of them lands in the output folder.
  const int messages = ::memfd_create("gnuplot-messages", MFD_CLOEXEC);
  if (messages < 0) throw ReportError(fmt::format("cannot capture gnuplot's messages: {}", std::strerror(errno)));
  SpawnOptions spawn;
  spawn.argv = {gnuplot, "-e", fmt::format("format='{}'", format), "draw_all.gp"};
  spawn.working_directory = out.path() / folder;
  spawn.foreground = false;
  spawn.stderr_fd = messages;
  spawn.stdout_fd = messages;
  ProcessOutcome outcome;
  try {
    auto child = ChildProcess::start(spawn);
    outcome = child.wait();
  } catch (const LaunchError& e) {
    ::close(messages);
    throw ReportError(fmt::format("cannot draw the figures: {} (on Debian: apt-get install gnuplot-nox)", e.what()));
  }
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::pread(messages, buffer, sizeof buffer, static_cast<off_t>(text.size()))) > 0;) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(messages);
  if (outcome.status.signaled || outcome.status.code != 0) {
    throw ReportError(fmt::format("gnuplot failed ({}) drawing {}:\n{}", outcome.status.describe(),
                                  (out.path() / folder / "draw_all.gp").string(), text));
  }
}

}  // namespace joulebench::report_detail
