// The report's figures: each one a gnuplot script and its data files, written side by side so a
// researcher can restyle one for a paper, then drawn by gnuplot. Every writer takes the report's
// output folder and a folder inside it (figures/). Only numbers go into data files;
// every text (a side's name, a function's) goes into the script as a string literal (escape.hpp).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "report/output_folder.hpp"

namespace joulebench::report_detail {

/// One side's values in a box plot, with the campaign positions of the runs they come from.
struct BoxSeries {
  std::string side;
  std::size_t colour = 0;  ///< the side's place among all sides, so a side keeps its colour
  std::vector<double> values;
};
/// A box per side (median, quartiles, whiskers to 1.5 IQR) with every run drawn over it.
void write_box_plot(OutputFolder& out, const std::filesystem::path& folder, const std::string& name,
                    const std::string& title, const std::string& y_label, const std::vector<BoxSeries>& series);

struct PowerChannel {
  std::string name;           ///< "cpu-0"
  std::vector<double> watts;  ///< per sample; NaN: not measured
  /// Counts toward the total (cpu, dram, gpu): stacked. Others lie inside those or overlap them
  /// (cores, integrated GPU, the platform): drawn as lines, so the top edge stays the total.
  bool stacked = true;
};
struct ShadedRegion {
  std::string name;
  double start_s = 0;
  double end_s = 0;
};
/// Power over a run: the stacked channels filled (the top edge is the total), the others as lines,
/// regions shaded.
void write_power_plot(OutputFolder& out, const std::filesystem::path& folder, const std::string& name,
                      const std::string& title, const std::vector<double>& time_s,
                      const std::vector<PowerChannel>& channels, const std::vector<ShadedRegion>& regions);

struct ScatterSeries {
  std::string side;
  std::size_t colour = 0;
  std::vector<double> x;
  std::vector<double> y;
};
/// Points per side, x against y.
void write_scatter_plot(OutputFolder& out, const std::filesystem::path& folder, const std::string& name,
                        const std::string& title, const std::string& x_label, const std::string& y_label,
                        const std::vector<ScatterSeries>& series);

/// One comparison in both campaigns: each ratio with its interval (all > 0: the axes are
/// logarithmic), and the number that names it on the page.
struct RatioPoint {
  double reference = 0;  ///< x
  double reference_lower = 0;
  double reference_upper = 0;
  double current = 0;  ///< y
  double current_lower = 0;
  double current_upper = 0;
  std::size_t number = 0;        ///< its row on the page, written beside the point
  bool direction_agrees = true;  ///< false: drawn apart, as a differing point
};
/// The campaign's ratios (y) against the reference's (x) on log-log axes, both intervals as error
/// bars, each point's number beside it, the diagonal y = x, and the lines x = 1 and y = 1 (a point
/// lower left or upper right of where they cross has the same side cheaper in both); the points
/// whose direction differs are drawn in another colour and shape. Both axes share one range, which
/// holds every interval and 1. A point with a value that is not finite and > 0 is not drawn.
void write_ratio_scatter(OutputFolder& out, const std::filesystem::path& folder, const std::string& name,
                         const std::string& title, const std::string& x_label, const std::string& y_label,
                         const std::vector<RatioPoint>& points);

struct FunctionShare {
  std::string function;
  double time_percent = 0;    ///< of the run's time
  double energy_percent = 0;  ///< of the run's energy; NaN when the profile has no energy
};
/// Horizontal bars, two per function: its share of the run's time and of its energy.
void write_function_bars(OutputFolder& out, const std::filesystem::path& folder, const std::string& name,
                         const std::string& title, const std::vector<FunctionShare>& functions);

/// Draws the named figures (NAME.gp in `folder`, relative to `out`) in `format` ("svg", "png",
/// "pdf") with one gnuplot process, through a script `draw_all.gp` that is kept for the user.
/// Throws ReportError when gnuplot cannot be started or fails, with its message.
void draw_figures(OutputFolder& out, const std::filesystem::path& folder, const std::vector<std::string>& names,
                  const std::string& format, const std::string& gnuplot);

}  // namespace joulebench::report_detail
