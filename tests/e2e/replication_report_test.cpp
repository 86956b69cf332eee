// `joulebench report --reference`: the page's section beside a reference campaign. The ICSE 2022
// excerpt (tests/data/icse2022) is imported once and reported against itself (everything agrees),
// against itself with the frameworks swapped (every direction differs), and against labels that
// match nothing; the page is checked as text, and in a headless browser where chromium is installed.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fakes/browser.hpp"
#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::read_all;
using testing::Result;
using testing::Runner;
using testing::TempDir;

const fs::path kExcerpt = fs::path(JOULEBENCH_TEST_DATA) / "icse2022";
// The reference's title names its store: a folder whose name is HTML shows whether it is escaped.
constexpr const char* kAwkwardFolder = "<b>ref&co</b>";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

/// The page's <section id="replication">...</section>, or "" when it has none.
std::string replication_section(const std::string& page) {
  const auto begin = page.find("<section id=\"replication\">");
  if (begin == std::string::npos) return {};
  const auto end = page.find("</section>", begin);
  return end == std::string::npos ? page.substr(begin) : page.substr(begin, end + 10 - begin);
}

/// Every element that must be closed is closed as often as it is opened (the section holds no
/// nested section, so this is whether it is well-formed as far as the page's structure goes).
void expect_balanced(const std::string& html) {
  for (const std::string tag :
       {"section", "table", "thead", "tbody", "tr", "td", "th", "p", "figure", "figcaption", "strong", "code", "h2"}) {
    const std::size_t open = count(html, "<" + tag + ">") + count(html, "<" + tag + " ");
    EXPECT_EQ(open, count(html, "</" + tag + ">")) << "<" << tag << ">";
  }
}

/// What every report page must be: self-contained, every drawn figure embedded, nothing fetched.
void expect_valid_page(const std::string& page, const fs::path& figures) {
  EXPECT_TRUE(page.starts_with("<!DOCTYPE html>"));
  EXPECT_TRUE(page.ends_with("</body>\n</html>\n"));
  EXPECT_TRUE(contains(page, "default-src 'none'"));
  EXPECT_FALSE(contains(page, "http://")) << "nothing may be fetched";
  EXPECT_FALSE(contains(page, "https://"));
  EXPECT_FALSE(contains(page, "<script"));
  std::size_t drawn = 0;
  for (const auto& entry : fs::directory_iterator(figures)) drawn += entry.path().extension() == ".svg" ? 1 : 0;
  EXPECT_EQ(count(page, "src=\"data:image/svg+xml;base64,"), drawn);
  EXPECT_EQ(count(page, "<section"), count(page, "</section>"));
}

class ReplicationReport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    fs::create_directories(dir_->path() / kAwkwardFolder);
    db_ = dir_->path() / kAwkwardFolder / "ref.db";
    Runner runner;
    runner.deadline = std::chrono::seconds(60);
    const Result r = runner.run({"import", "--from", "icse2022", kExcerpt.string(), "--db", db_.string()});
    import_ok_ = r.exit_code == 0;
    import_err_ = r.err;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(import_ok_) << import_err_;
    runner_.deadline = std::chrono::seconds(60);
  }

  /// The store's report, with `extra` options (--reference, --map), written into a new folder.
  fs::path report(const std::vector<std::string>& extra) {
    const fs::path out = dir_->path() / fmt::format("report-{}", ++reports_);
    std::vector<std::string> args{"report", "--db", db_.string(), "-o", out.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const Result r = runner_.run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }
  /// The store reported against itself.
  fs::path report_against_itself() { return report({"--reference", db_.string()}); }

  static std::unique_ptr<TempDir> dir_;
  static fs::path db_;
  static bool import_ok_;
  static std::string import_err_;
  static int reports_;
  Runner runner_;
};

std::unique_ptr<TempDir> ReplicationReport::dir_;
fs::path ReplicationReport::db_;
bool ReplicationReport::import_ok_ = false;
std::string ReplicationReport::import_err_;
int ReplicationReport::reports_ = 0;

// The excerpt has 4 groups (model x phase), two frameworks each, and the report's tables compare
// time, cpu, dram and gpu energy and the total: 20 comparisons.
constexpr std::size_t kComparisons = 20;

TEST_F(ReplicationReport, AgainstItselfEveryComparisonAgrees) {
  const fs::path out = report_against_itself();
  const std::string page = read_all(out / "index.html");
  expect_valid_page(page, out / "figures");
  const std::string section = replication_section(page);
  ASSERT_FALSE(section.empty()) << "no replication section";
  EXPECT_TRUE(contains(section, "<h2>Beside the reference</h2>"));
  EXPECT_TRUE(contains(page, "<a href=\"#replication\">"));
  expect_balanced(section);
  EXPECT_TRUE(contains(section, "16 run(s) read against its 16")) << section.substr(0, 2000);
  EXPECT_TRUE(contains(section, fmt::format("{0} comparison(s) in both campaigns: the direction agrees in {0} (100 %), "
                                            "the significance in {0} (100 %); the intervals overlap in {0} (100 %).",
                                            kComparisons)))
      << section.substr(0, 3000);
  EXPECT_EQ(count(section, "<tr class=\"agrees\">"), kComparisons);
  EXPECT_EQ(count(section, "<tr class=\"differs\">"), 0U);
  EXPECT_EQ(count(section, "<tr class=\"not-compared\">"), 0U);
  EXPECT_FALSE(contains(section, "DIFFERS"));
  // The reference's title (its store's path) is text, never markup.
  EXPECT_FALSE(contains(page, kAwkwardFolder));
  EXPECT_TRUE(contains(section, "&lt;b&gt;ref&amp;co&lt;/b&gt;")) << section.substr(0, 2000);

  // The figure: its script and data kept, drawn, and embedded in the section.
  const fs::path figures = out / "figures";
  for (const std::string ext : {".gp", ".dat", ".svg"}) {
    EXPECT_TRUE(fs::exists(figures / ("replication" + ext))) << ext;
  }
  EXPECT_EQ(count(section, "src=\"data:image/svg+xml;base64,"), 1U);
  const std::string svg = read_all(figures / "replication.svg");
  EXPECT_TRUE(contains(svg, "<svg"));
  EXPECT_TRUE(contains(svg, "<path"));
  const std::string gp = read_all(figures / "replication.gp");
  EXPECT_TRUE(contains(gp, "set logscale xy")) << gp;
  EXPECT_TRUE(contains(gp, "with xyerrorbars")) << gp;
  EXPECT_TRUE(contains(gp, "title 'y = x'")) << gp;
  EXPECT_FALSE(contains(gp, "direction differs")) << gp;
  // One data line per comparison; against itself each point lies on the diagonal.
  std::size_t points = 0;
  for (const auto& line : testing::lines_of(read_all(figures / "replication.dat"))) {
    if (line.empty() || line[0] == '#') continue;
    ++points;
    double x = 0, x_low = 0, x_high = 0, y = 0, y_low = 0, y_high = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%lf %lf %lf %lf %lf %lf", &x, &x_low, &x_high, &y, &y_low, &y_high), 6)
        << line;
    EXPECT_EQ(x, y) << line;
    EXPECT_LE(x_low, x) << line;
    EXPECT_GE(x_high, x) << line;
  }
  EXPECT_EQ(points, kComparisons);

  // The tables beside the others.
  EXPECT_TRUE(contains(read_all(out / "tables" / "replication.tex"), "\\toprule"));
  const std::string md = read_all(out / "tables" / "replication.md");
  EXPECT_TRUE(contains(md, "| model | phase | metric |")) << md.substr(0, 2000);
  EXPECT_TRUE(
      contains(md, fmt::format("{0} comparison(s) in both campaigns: the direction agrees in {0}", kComparisons)));
}

TEST_F(ReplicationReport, SwappedFrameworksDifferEverywhereAndAreDrawnApart) {
  // The reference's pytorch is called tensorflow and its tensorflow pytorch (through a name of
  // neither: the mappings apply in turn), so each ratio is the other's inverse.
  const fs::path out = report(
      {"--reference", db_.string(), "--map", "framework=pytorch:tensorflow", "--map", "framework=tensorflow:pytorch"});
  const std::string page = read_all(out / "index.html");
  expect_valid_page(page, out / "figures");
  const std::string section = replication_section(page);
  ASSERT_FALSE(section.empty());
  expect_balanced(section);
  EXPECT_TRUE(contains(
      section, fmt::format("{} comparison(s) in both campaigns: the direction agrees in 0 (0 %)", kComparisons)))
      << section.substr(0, 3000);
  EXPECT_EQ(count(section, "<tr class=\"differs\">"), kComparisons);
  EXPECT_EQ(count(section, "<tr class=\"agrees\">"), 0U);
  EXPECT_EQ(count(section, "<td class=\"verdict bad\">DIFFERS</td>"), kComparisons) << "the direction's cells";
  const std::string gp = read_all(out / "figures" / "replication.gp");
  EXPECT_TRUE(contains(gp, "title 'direction differs'")) << gp;
  EXPECT_FALSE(contains(gp, "title 'direction agrees'")) << gp;
  // Each point is (r, 1/r): on the other side of 1 on each axis.
  for (const auto& line : testing::lines_of(read_all(out / "figures" / "replication.dat"))) {
    if (line.empty() || line[0] == '#') continue;
    double x = 0, y = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%lf %*f %*f %lf", &x, &y), 2) << line;
    EXPECT_NEAR(x * y, 1.0, 1e-6) << line;
  }
}

TEST_F(ReplicationReport, NothingInCommonIsSaidAndNotDrawn) {
  const fs::path out =
      report({"--reference", db_.string(), "--map", "framework=pytorch:a", "--map", "framework=tensorflow:b"});
  const std::string page = read_all(out / "index.html");
  expect_valid_page(page, out / "figures");
  const std::string section = replication_section(page);
  ASSERT_FALSE(section.empty());
  expect_balanced(section);
  EXPECT_TRUE(contains(section, "0 comparison(s) in both campaigns")) << section.substr(0, 3000);
  EXPECT_TRUE(contains(section, "no figure")) << section.substr(0, 3000);
  EXPECT_TRUE(contains(section, "--map KEY=FROM:TO")) << "the note says what to do";
  EXPECT_EQ(count(section, "<tr class=\"not-compared\">"), 2 * kComparisons) << "each side's rows, listed";
  EXPECT_FALSE(fs::exists(out / "figures" / "replication.gp"));
}

TEST_F(ReplicationReport, WithoutAReferenceThereIsNoSection) {
  const fs::path out = report({});
  const std::string page = read_all(out / "index.html");
  EXPECT_FALSE(contains(page, "id=\"replication\""));
  EXPECT_FALSE(contains(page, "#replication"));
  EXPECT_FALSE(fs::exists(out / "tables" / "replication.md"));

  const Result r =
      runner_.run({"report", "--db", db_.string(), "-o", (dir_->path() / "none").string(), "--map", "framework=a:b"});
  EXPECT_EQ(r.exit_code, 2) << "--map needs --reference";
  EXPECT_TRUE(contains(r.err, "--reference")) << r.err;
  const Result bad = runner_.run({"report", "--db", db_.string(), "-o", (dir_->path() / "none").string(), "--reference",
                                  db_.string(), "--map", "framework"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, "KEY=FROM:TO")) << bad.err;
}

TEST_F(ReplicationReport, PageLoadsInAHeadlessBrowser) {
  if (!testing::chromium_available()) GTEST_SKIP() << "chromium is not installed (scripts/setup installs it)";
  const fs::path out = report(
      {"--reference", db_.string(), "--map", "framework=pytorch:tensorflow", "--map", "framework=tensorflow:pytorch"});
  const testing::PageCheck check = testing::check_page(out / "index.html", out / "screenshot.png");
  ASSERT_TRUE(check.started) << check.problem;
  EXPECT_TRUE(check.console_errors.empty()) << fmt::format("{}", fmt::join(check.console_errors, "\n"));
  std::size_t drawn = 0;
  for (const auto& entry : fs::directory_iterator(out / "figures")) drawn += entry.path().extension() == ".svg" ? 1 : 0;
  EXPECT_EQ(check.images, drawn);
  EXPECT_TRUE(check.broken_images.empty()) << fmt::format("{}", fmt::join(check.broken_images, "\n"));
  EXPECT_TRUE(check.screenshot_written);
  EXPECT_TRUE(contains(check.body_text, "Beside the reference")) << check.body_text.substr(0, 2000);
  EXPECT_TRUE(contains(check.body_text, kAwkwardFolder)) << "the escaped path shows as text";
  EXPECT_TRUE(contains(check.body_text, "DIFFERS"));
}

}  // namespace
}  // namespace joulebench
