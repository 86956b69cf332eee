// The report's building blocks: escaping for each output format, gnuplot string literals, the
// CO2e conversion, the figure scripts' data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"
#include "joulebench/report.hpp"
#include "joulebench/run.hpp"
#include "joulebench/store.hpp"
#include "report/escape.hpp"
#include "report/figures.hpp"
#include "report/output_folder.hpp"

namespace joulebench {
namespace {

using report_detail::csv_field;
using report_detail::csv_unguard;
using report_detail::gnuplot_string;
using report_detail::gnuplot_tic_label;
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
  EXPECT_EQ(tex_escape("50% of a_b & $1 #2 {x} ~^\\"),
            "50\\% of a\\_b \\& \\$1 \\#2 \\{x\\} \\textasciitilde{}\\textasciicircum{}\\textbackslash{}");
}

TEST(ReportEscape, MarkdownMakesHtmlInertAndKeepsPlainNamesReadable) {
  EXPECT_EQ(md_escape("ncf-libtorch-train"), "ncf-libtorch-train");
  EXPECT_EQ(md_escape("resnet_50 v1.2 (fast)"), "resnet_50 v1.2 (fast)");  // an underscore inside a word is no emphasis
  EXPECT_EQ(md_escape("</script><img src=x onerror=alert(1)>"), "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;");
  EXPECT_EQ(md_escape("a &amp; b"), "a &amp;amp; b");  // an entity in a label shows as written
  EXPECT_EQ(md_escape("__init__ *x* `y` ~z~"), "\\_\\_init\\_\\_ \\*x\\* \\`y\\` \\~z\\~");
  EXPECT_EQ(md_escape("[click](javascript:alert(1))"), "[click]\\(javascript:alert(1))");  // no link
  EXPECT_EQ(md_escape("1.21x [1.15, 1.27] (tf higher)"), "1.21x [1.15, 1.27] (tf higher)");
  EXPECT_EQ(md_escape("a\\|b\r\nc"), "a\\\\\\|b  c");  // the backslash cannot unescape the pipe
}

TEST(ReportEscape, CsvGuardsTextASpreadsheetWouldRun) {
  EXPECT_EQ(csv_field("=1+1"), "'=1+1");
  EXPECT_EQ(csv_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
  EXPECT_EQ(csv_field("+1"), "'+1");
  EXPECT_EQ(csv_field("-x"), "'-x");
  EXPECT_EQ(csv_field("-"), "'-");  // any text cell starting so, even a lone dash
  EXPECT_EQ(csv_field("-3.5"), "'-3.5") << "text that looks like a number is still text; numbers never come here";
  EXPECT_EQ(csv_field("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(csv_field("\tx"), "'\tx");
  EXPECT_EQ(csv_field("\rx"), "\"'\rx\"");
  EXPECT_EQ(csv_field("=a,b"), "\"'=a,b\"");  // guarded, then quoted
  EXPECT_EQ(csv_field("'=x"), "''=x");        // one more quote, so import gives '=x back
  EXPECT_EQ(csv_field("'plain"), "'plain");
  EXPECT_EQ(csv_field("ncf-libtorch-train"), "ncf-libtorch-train");
  EXPECT_EQ(csv_field("a \"b\", c"), "\"a \"\"b\"\", c\"");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("=1+1", false), "=1+1") << "export --raw";
}

TEST(ReportEscape, ImportTakesTheCsvGuardOffExactly) {
  EXPECT_EQ(csv_unguard("'=x"), "=x");
  EXPECT_EQ(csv_unguard("'-3.5"), "-3.5");
  EXPECT_EQ(csv_unguard("''=x"), "'=x");
  EXPECT_EQ(csv_unguard("'plain"), "'plain");
  EXPECT_EQ(csv_unguard("'"), "'");
  EXPECT_EQ(csv_unguard("-3.5"), "-3.5");
  for (const std::string text : {"=x", "'=x", "''-x", "'", "''", "'a", "-", "+", "@", "\t", "\r", "a=b", "", "'\t"}) {
    const std::string cell = csv_field(text);
    const auto fields = testing::csv_fields(cell);  // RFC 4180 quoting undone, as import's parser does
    ASSERT_EQ(fields.size(), 1U) << cell;
    EXPECT_EQ(csv_unguard(fields[0]), text) << cell;
  }
}

TEST(ReportEscape, GnuplotTicLabelsDoublePercent) {
  // gnuplot formats a tic's position with its label as with printf: a lone % fails the script.
  EXPECT_EQ(gnuplot_tic_label("50% <b>&\"'\\@"), "'50%% <b>&\"''\\@'");
  EXPECT_EQ(gnuplot_tic_label("100%%"), "'100%%%%'");
  EXPECT_EQ(gnuplot_string("50%"), "'50%'") << "titles and labels are no formats";
}

TEST(ReportFigures, LongFunctionNamesAreCutBetweenCharacters) {
  testing::TempDir dir;
  std::string name = "a";
  for (int i = 0; i < 30; ++i) name += "计";  // 3 bytes each: byte 57 falls inside one
  report_detail::OutputFolder out(dir.path(), false);
  report_detail::write_function_bars(out, "", "f", "title", {{name, 50, 50}});
  std::string cut = "a";
  for (int i = 0; i < 18; ++i) cut += "计";
  EXPECT_NE(read_all(dir.path() / "f.gp").find("set ytics ('" + cut + "...' 0)"), std::string::npos)
      << read_all(dir.path() / "f.gp");
}

TEST(ReportEscape, CsvQuotesSpaceAtTheEdgesWhichReadersTrim) {
  // libcsv (import) and spreadsheets drop spaces and tabs around an unquoted field.
  EXPECT_EQ(report_detail::csv_field(" padded\t"), "\" padded\t\"");
  EXPECT_EQ(report_detail::csv_field("in side"), "in side");
}

TEST(ReportEscape, MeasureCsvGuardsTheCommand) {
  CommandMeasurement m;
  m.command = {"=calc", "x"};
  const auto lines = testing::lines_of(measurement_csv(m));
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(testing::csv_fields(lines[1]).at(0), "'=calc x");
}

TEST(ReportEscape, ProfilesCsvAndMarkdownEscapeNames) {
  RunRecord run;
  run.workload = "-w";
  run.labels = {{"framework", "@side"}, {"model", "<b>m</b>"}, {"phase", "train"}};
  run.time_s = 2;
  StoredProfile profile;
  profile.mode = "python";
  StoredProfileFunction formula;
  formula.name = "=HYPERLINK(\"x\")";
  formula.energy_j = -0.5;
  StoredProfileFunction html;
  html.name = "<img src=x onerror=alert(1)>|__init__";
  profile.functions = {formula, html};
  run.profile = profile;
  const std::vector<RunRecord> runs{run};
  const auto groups = group_profiles(runs, {"model", "phase"}, "framework", "");
  const std::string csv = profiles_report(groups, {"model", "phase"}, 0, TableFormat::csv);
  const auto lines = testing::lines_of(csv);
  ASSERT_EQ(lines.size(), 3U) << csv;
  const auto header = testing::csv_fields(lines[0]);
  const auto row = testing::csv_fields(lines[1]);
  ASSERT_EQ(header.size(), row.size()) << csv;
  std::map<std::string, std::string> cell;
  for (std::size_t i = 0; i < header.size(); ++i) cell[header[i]] = row[i];
  EXPECT_EQ(cell["side"], "'@side");
  EXPECT_EQ(cell["workload"], "'-w");
  EXPECT_EQ(cell["function"], "'=HYPERLINK(\"x\")");
  EXPECT_EQ(cell["energy_j"], "-0.5") << "a number is never guarded";
  EXPECT_EQ(cell["model"], "<b>m</b>");

  const std::string md = profiles_report(groups, {"model", "phase"}, 0, TableFormat::markdown);
  EXPECT_EQ(md.find('<'), std::string::npos) << md;
  EXPECT_NE(md.find("&lt;img src=x onerror=alert(1)&gt;\\|\\_\\_init\\_\\_"), std::string::npos) << md;
}

TEST(ReportCarbon, KilowattHoursTimesPueTimesIntensity) {
  const CarbonConversion c{400, 1.5};
  EXPECT_DOUBLE_EQ(c.grams(3.6e6), 600.0);  // 1 kWh x 1.5 x 400 g/kWh
  EXPECT_DOUBLE_EQ(c.grams(0), 0.0);
}

TEST(ReportFigures, PowerDataAreStepsOfStackedChannels) {
  testing::TempDir dir;
  report_detail::OutputFolder out(dir.path(), false);
  report_detail::write_power_plot(out, "", "p", "title", {0.1, 0.2}, {{"cpu-0", {10, 12}}, {"dram-0", {2, NAN}}},
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
  report_detail::OutputFolder out(dir.path(), false);
  report_detail::write_box_plot(out, "", "b", "title", "J", {{"side\n1\t2", 0, {3}}});
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
