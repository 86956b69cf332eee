// The report's building blocks: escaping for each output format, gnuplot string literals, the
// CO2e conversion, the figure scripts' data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"
#include "joulebench/report.hpp"
#include "report/escape.hpp"
#include "report/figures.hpp"

namespace joulebench {
namespace {

using report_detail::gnuplot_string;
using report_detail::html_escape;
using report_detail::md_escape;
using report_detail::tex_escape;
using testing::read_all;

TEST(ReportEscape, HtmlTextAndAttributes) {
  EXPECT_EQ(html_escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;");
  EXPECT_EQ(html_escape("plain text"), "plain text");
}

TEST(ReportEscape, GnuplotLiteralsCannotEndEarly) {
  EXPECT_EQ(gnuplot_string("it's"), "'it''s'");
  // A line break would end the command and start another.
  EXPECT_EQ(gnuplot_string("a\nset output '/etc/x'"), "'a set output ''/etc/x'''");
  EXPECT_EQ(gnuplot_string("back\\slash \"q\""), "'back\\slash \"q\"'");  // nothing is an escape in '...'
}

TEST(ReportEscape, MarkdownAndLatex) {
  EXPECT_EQ(md_escape("a|b\nc"), "a\\|b c");
  EXPECT_EQ(tex_escape("50% of a_b & $1 #2 {x} ~^\\"), "50\\% of a\\_b \\& \\$1 \\#2 \\{x\\} \\textasciitilde{}\\textasciicircum{}\\textbackslash{}");
}

TEST(ReportCarbon, KilowattHoursTimesPueTimesIntensity) {
  const CarbonConversion c{400, 1.5};
  EXPECT_DOUBLE_EQ(c.grams(3.6e6), 600.0);  // 1 kWh x 1.5 x 400 g/kWh
  EXPECT_DOUBLE_EQ(c.grams(0), 0.0);
}

TEST(ReportFigures, PowerDataAreStepsOfStackedChannels) {
  testing::TempDir dir;
  report_detail::write_power_plot(dir.path(), "p", "title", {0.1, 0.2}, {{"cpu-0", {10, 12}}, {"dram-0", {2, NAN}}},
                                  {{"train", 0.05, 0.2}});
  const auto lines = testing::lines_of(read_all(dir.path() / "p.dat"));
  ASSERT_EQ(lines.size(), 5U);  // a header, then each sample from its interval's start to its end
  EXPECT_EQ(lines[1], "0\t10\t12");
  EXPECT_EQ(lines[2], "0.1\t10\t12");
  EXPECT_EQ(lines[3], "0.1\t12\tNaN");  // an unmeasured channel leaves a gap, never a made-up 0
  EXPECT_EQ(lines[4], "0.2\t12\tNaN");
  const std::string gp = read_all(dir.path() / "p.gp");
  EXPECT_NE(gp.find("'train'"), std::string::npos);
  EXPECT_NE(gp.find("set output 'p.'.format"), std::string::npos);
}

TEST(ReportFigures, ALabelCannotAddDataPoints) {
  testing::TempDir dir;
  report_detail::write_box_plot(dir.path(), "b", "title", "J", {{"side\n1\t2", 0, {3}}});
  const auto lines = testing::lines_of(read_all(dir.path() / "b.dat"));
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "1\t2"), 0) << read_all(dir.path() / "b.dat");
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "3\t1"), 1);
  EXPECT_NE(read_all(dir.path() / "b.gp").find("'side 1 2'"), std::string::npos);
}

TEST(ReportFigures, FigureFormatNames) {
  EXPECT_EQ(parse_figure_format("svg"), FigureFormat::svg);
  EXPECT_EQ(parse_figure_format("pdf"), FigureFormat::pdf);
  EXPECT_EQ(parse_figure_format("png"), FigureFormat::png);
  EXPECT_FALSE(parse_figure_format("jpg"));
}

}  // namespace
}  // namespace joulebench
