// End-to-end tests of `joulebench report`: a small real campaign (two models, two frameworks, a
// workload whose name and labels are HTML, a profiled workload) is run once, then reported. The
// page is checked as text here, and in a real headless browser where chromium is installed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fakes/browser.hpp"
#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::read_all;
using testing::Result;
using testing::Runner;
using testing::TempDir;
using testing::write_file;

const std::string kPython = JOULEBENCH_TEST_PYTHON;
constexpr const char* kEvil = "<script>alert(1)</script>";
constexpr const char* kEvilFramework = "<img src=x onerror=alert(2)>";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A workload that tells joulebench its regions and metrics through the events descriptor: it
// loads, trains (spins for its given time), evaluates, and reports an accuracy.
constexpr const char* kWorkload = R"(import os, sys, time
fd = int(os.environ["JOULEBENCH_EVENTS_FD"])
def event(text):
    os.write(fd, (text + "\n").encode())
def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
event('{"event":"begin","region":"load"}'); spin(0.03); event('{"event":"end","region":"load"}')
event('{"event":"begin","region":"train"}'); spin(float(sys.argv[1])); event('{"event":"end","region":"train"}')
event('{"event":"begin","region":"eval"}'); spin(0.03); event('{"event":"end","region":"eval"}')
event('{"event":"metric","name":"accuracy","value":%s}' % sys.argv[2])
event('{"event":"metric","name":"examples_per_s","value":1000,"unit":"examples/s"}')
)";

class ReportCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    write_file(dir_->path() / "work.py", kWorkload);
    std::string plan = R"([campaign]
name = "report test"
repetitions = 3
warmup = 1
cooldown = "0s"
idle = "0.3s"
interval = "10ms"
)";
    const auto workload = [&](const std::string& name, const std::string& framework, const std::string& model,
                              double seconds, double accuracy, bool profile) {
      plan += fmt::format(R"(
[[workload]]
name = "{}"
framework = "{}"
model = "{}"
phase = "train"
command = ["{}", "{}", "{}", "{}"]
{})",
                          name, framework, model, kPython, (dir_->path() / "work.py").string(), seconds, accuracy,
                          profile ? "profile = [\"python\"]\n" : "");
    };
    workload("a-fast", "fast", "a", 0.1, 0.80, true);
    workload("a-slow", "slow", "a", 0.25, 0.90, true);
    workload("b-fast", "fast", "b", 0.1, 0.70, false);
    workload(kEvil, kEvilFramework, "b", 0.15, 0.75, false);
    write_file(dir_->path() / "plan.toml", plan);
    db_ = dir_->path() / "campaign.db";
    Runner runner;
    runner.deadline = std::chrono::seconds(120);
    const Result r = runner.run({"run", (dir_->path() / "plan.toml").string(), "--db", db_.string()});
    campaign_ok_ = r.exit_code == 0;
    campaign_err_ = r.err;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(campaign_ok_) << campaign_err_;
    runner_.deadline = std::chrono::seconds(60);
  }

  /// Writes the report into a new folder and returns it.
  fs::path report(std::vector<std::string> extra = {}, Result* result = nullptr) {
    const fs::path out = dir_->path() / fmt::format("report-{}", ++reports_);
    std::vector<std::string> args{"report", "--db", db_.string(), "-o", out.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const Result r = runner_.run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (result != nullptr) *result = r;
    return out;
  }

  static std::unique_ptr<TempDir> dir_;
  static fs::path db_;
  static bool campaign_ok_;
  static std::string campaign_err_;
  static int reports_;
  Runner runner_;
};

std::unique_ptr<TempDir> ReportCli::dir_;
fs::path ReportCli::db_;
bool ReportCli::campaign_ok_ = false;
std::string ReportCli::campaign_err_;
int ReportCli::reports_ = 0;

TEST_F(ReportCli, FiguresExistForEveryGroupAndDomain) {
  Result r;
  const fs::path out = report({}, &r);
  EXPECT_TRUE(contains(r.err, (out / "index.html").string())) << r.err;  // says where the report is
  const fs::path figures = out / "figures";
  // The runner's estimate model gives cpu and dram; every group has time, each domain and the total.
  for (const std::string group : {"a-train", "b-train"}) {
    for (const std::string measure : {"time", "cpu", "dram", "total"}) {
      const std::string name = "box-" + group + "-" + measure;
      for (const std::string ext : {".svg", ".gp", ".dat"}) {
        EXPECT_TRUE(fs::exists(figures / (name + ext))) << name + ext;
      }
      const std::string svg = read_all(figures / (name + ".svg"));
      EXPECT_TRUE(contains(svg, "<svg")) << name;
      EXPECT_TRUE(contains(svg, "<path")) << name << " draws nothing";
    }
    EXPECT_TRUE(fs::exists(figures / ("quality-" + group + ".svg"))) << group;
  }
  for (const std::string name : {"power-a-train-fast", "power-a-train-slow", "power-b-train-fast",
                                 "profile-a-train-python-fast", "profile-a-train-python-slow"}) {
    EXPECT_TRUE(fs::exists(figures / (name + ".svg"))) << name;
    EXPECT_GT(fs::file_size(figures / (name + ".svg")), 1000U) << name;
  }
  // The power figure of a side is its median-energy run, drawn as steps over the 10 ms timeline.
  const auto power = testing::lines_of(read_all(figures / "power-a-train-slow.dat"));
  EXPECT_GT(power.size(), 40U);
  const std::string gp = read_all(figures / "power-a-train-slow.gp");
  EXPECT_TRUE(contains(gp, "'train'")) << gp;  // regions are shaded and named
  EXPECT_TRUE(contains(gp, "'eval'")) << gp;

  for (const std::string table : {"comparison.md", "comparison.tex", "summary.md", "summary.tex"}) {
    EXPECT_GT(fs::file_size(out / "tables" / table), 100U) << table;
  }
  EXPECT_TRUE(contains(read_all(out / "tables" / "summary.tex"), "\\toprule"));
  EXPECT_TRUE(contains(read_all(out / "tables" / "comparison.tex"), "\\toprule"));

  const std::string page = read_all(out / "index.html");
  std::size_t images = 0;
  const std::string prefix = "src=\"data:image/svg+xml;base64,";
  for (auto at = page.find(prefix); at != std::string::npos; at = page.find(prefix, at + 1)) {
    const auto begin = at + prefix.size();
    const auto end = page.find('"', begin);
    ASSERT_NE(end, std::string::npos);
    EXPECT_GT(end - begin, 100U);
    EXPECT_EQ(page.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", begin), end);
    ++images;
  }
  std::size_t drawn = 0;
  for (const auto& entry : fs::directory_iterator(figures)) drawn += entry.path().extension() == ".svg" ? 1 : 0;
  EXPECT_EQ(images, drawn);
  EXPECT_FALSE(contains(page, "http://")) << "nothing may be fetched";
  EXPECT_FALSE(contains(page, "https://"));
  EXPECT_TRUE(contains(page, "ESTIMATED")) << "estimated sources are marked";
  EXPECT_TRUE(contains(page, "Mann-Whitney U"));
  EXPECT_TRUE(contains(page, "12 run(s) planned") || contains(page, "run(s) planned")) << "runs done are counted";
  EXPECT_TRUE(contains(page, "Not converted")) << "no CO2e without a grid intensity";
  // The scripts redraw a figure on their own, in another format.
  const int rc =
      std::system(fmt::format("cd '{}' && gnuplot -e \"format='pdf'\" box-a-train-total.gp", figures.string()).c_str());
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(read_all(figures / "box-a-train-total.pdf").substr(0, 4), "%PDF");
}

TEST_F(ReportCli, LabelsFromThePlanAreEscaped) {
  const fs::path out = report();
  const std::string page = read_all(out / "index.html");
  EXPECT_FALSE(contains(page, kEvil));
  EXPECT_FALSE(contains(page, kEvilFramework));
  EXPECT_TRUE(contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_TRUE(contains(page, "&lt;img src=x onerror=alert(2)&gt;"));
  // The only script-like thing allowed is none: the page forbids scripts and requests.
  EXPECT_TRUE(contains(page, "default-src 'none'"));
  // Markdown renders HTML: its tables carry the labels as entities, never as tags.
  for (const std::string table : {"summary.md", "comparison.md"}) {
    const std::string md = read_all(out / "tables" / table);
    EXPECT_FALSE(contains(md, "<img")) << table << ":\n" << md;
    EXPECT_TRUE(contains(md, "&lt;img src=x onerror=alert(2)&gt;")) << table << ":\n" << md;
  }
}

TEST_F(ReportCli, CarbonIsAConversionOfTheMeasuredEnergy) {
  const fs::path out = report({"--carbon-intensity", "400", "--pue", "1.5"});
  const std::string page = read_all(out / "index.html");
  EXPECT_TRUE(contains(page, "A conversion, not a measurement")) << page.substr(0, 2000);
  // The campaign's total: every recorded run's total energy, as the store holds it.
  double joules = 0;
  {
    const Store store(db_);
    RunFilter all;
    all.profiled = std::nullopt;
    for (const auto& run : store.runs(store.campaigns().back().id, all)) {
      for (const auto& e : run.energy) joules += e.domain.is_total() ? e.energy_j : 0;
    }
  }
  ASSERT_GT(joules, 0);
  const double grams = joules / 3.6e6 * 1.5 * 400;
  // std::regex over a page of embedded figures would recurse too deep: the figure is found by hand.
  const std::string suffix = " g CO<sub>2</sub>e</strong>";
  const auto end = page.find(suffix);
  ASSERT_NE(end, std::string::npos) << page.substr(0, 3000);
  const auto begin = page.rfind("<strong>", end);
  ASSERT_NE(begin, std::string::npos);
  EXPECT_NEAR(std::stod(page.substr(begin + 8, end - begin - 8)), grams, grams * 0.01);

  Result r = runner_.run({"report", "--db", db_.string(), "-o", (dir_->path() / "x").string(), "--pue", "1.2"});
  EXPECT_EQ(r.exit_code, 2) << "a PUE alone converts nothing";
  EXPECT_TRUE(contains(r.err, "--carbon-intensity")) << r.err;
}

TEST_F(ReportCli, PdfAndPngFigures) {
  const fs::path pdf = report({"--figures", "pdf"});
  EXPECT_EQ(read_all(pdf / "figures" / "box-a-train-time.pdf").substr(0, 4), "%PDF");
  EXPECT_TRUE(fs::exists(pdf / "figures" / "box-a-train-time.svg")) << "the page still embeds SVG";
  Result old_spelling;
  const fs::path png = report({"--format", "png"}, &old_spelling);  // deprecated for --figures
  EXPECT_TRUE(contains(old_spelling.err, "--format is deprecated")) << old_spelling.err;
  EXPECT_EQ(read_all(png / "figures" / "box-a-train-time.png").substr(1, 3), "PNG");
  EXPECT_TRUE(contains(read_all(png / "index.html"), "data:image/png;base64,"));
}

TEST_F(ReportCli, WithoutGnuplotTheErrorSaysWhatToInstall) {
  TempDir empty;
  const Result r = runner_.run({"report", "--db", db_.string(), "-o", (dir_->path() / "none").string()},
                               {{"PATH", empty.path().string()}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "gnuplot-nox")) << r.err;
}

TEST_F(ReportCli, PageLoadsInAHeadlessBrowser) {
  if (!testing::chromium_available()) GTEST_SKIP() << "chromium is not installed (scripts/setup installs it)";
  const fs::path out = report();
  const testing::PageCheck check = testing::check_page(out / "index.html", out / "screenshot.png");
  ASSERT_TRUE(check.started) << check.problem;
  EXPECT_TRUE(check.console_errors.empty()) << fmt::format("{}", fmt::join(check.console_errors, "\n"));
  std::size_t drawn = 0;
  for (const auto& entry : fs::directory_iterator(out / "figures")) drawn += entry.path().extension() == ".svg" ? 1 : 0;
  EXPECT_EQ(check.images, drawn);
  EXPECT_TRUE(check.broken_images.empty()) << fmt::format("{}", fmt::join(check.broken_images, "\n"));
  EXPECT_TRUE(check.screenshot_written);
  // The escaped labels show as text.
  EXPECT_TRUE(contains(check.body_text, kEvil)) << check.body_text.substr(0, 2000);
  EXPECT_TRUE(contains(check.title, "report test"));
}

// Text gnuplot could misread: % is a format in tic labels, quotes and backslashes end or escape
// strings, SVG needs & and < escaped, and the rest must survive as UTF-8.
constexpr const char* kAwkward = "50% <b>&\"'\\@ naïve 计算";

/// The text of every <text> element of an SVG, its XML entities decoded.
std::vector<std::string> svg_texts(const std::string& svg) {
  std::vector<std::string> texts;
  for (auto at = svg.find("<text"); at != std::string::npos; at = svg.find("<text", at + 1)) {
    const auto begin = svg.find('>', at);
    const auto end = svg.find("</text>", begin);
    if (begin == std::string::npos || end == std::string::npos) break;
    const std::string raw = svg.substr(begin + 1, end - begin - 1);
    std::string text;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      const auto semicolon = raw.find(';', i);
      if (raw[i] != '&' || semicolon == std::string::npos) {
        text += raw[i];
        continue;
      }
      const std::string entity = raw.substr(i + 1, semicolon - i - 1);
      if (entity == "lt") text += '<';
      else if (entity == "gt") text += '>';
      else if (entity == "amp") text += '&';
      else if (entity == "quot") text += '"';
      else if (entity == "apos" || entity == "#39") text += '\'';
      else ADD_FAILURE() << "an entity this decoder does not know: &" << entity << ";";
      i = semicolon;
    }
    texts.push_back(text);
    at = end;
  }
  return texts;
}

// A store written directly: no plan can name a profiled function so.
TEST(ReportCliText, PercentQuotesAndUnicodeInLabelsDrawAsWritten) {
  TempDir dir;
  const fs::path db = dir.path() / "awkward.db";
  {
    Store store(db);
    CampaignPlan plan;
    plan.name = "awkward";
    plan.hash = "fnv1a64:00000000000000aa";
    const std::int64_t campaign = store.create_campaign(plan, Shard{}, 8, {});
    std::size_t index = 0;
    for (const std::string& framework : {std::string(kAwkward), std::string("plain")}) {
      RunRecord run;
      run.workload = framework + " train";
      run.labels = {{"framework", framework}, {"model", "m"}, {"phase", "train"}};
      run.exit_code = 0;
      for (int repetition = 1; repetition <= 3; ++repetition) {
        run.index = index++;
        run.repetition = repetition;
        run.time_s = (framework == "plain" ? 2.0 : 1.0) + 0.1 * repetition;
        EnergyFigure total;
        total.domain = DomainId::total();
        total.energy_j = 10.0 * run.time_s;
        total.source = "estimate";
        run.energy = {total};
        store.record_run(campaign, run);
      }
      run.index = index++;
      run.repetition = 1;
      StoredProfile profile;
      profile.mode = "python";
      profile.energy_rule = "timeline";
      const auto function = [](const std::string& name, double self_s) {
        StoredProfileFunction f;
        f.name = name;
        f.self_s = self_s;
        f.total_s = self_s;
        f.energy_j = 10 * self_s;
        return f;
      };
      profile.functions = {function(kAwkward, 0.6), function("main", 0.4)};
      run.profile = profile;
      store.record_run(campaign, run);
    }
    store.finish_campaign(campaign);
  }

  Runner runner;
  runner.deadline = std::chrono::seconds(60);
  const fs::path out = dir.path() / "report";
  const Result r = runner.run({"report", "--db", db.string(), "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // The sides are the box plots' x tic labels; the functions, the profiles' y tic labels.
  std::vector<fs::path> figures{out / "figures" / "box-m-train-time.svg"};
  for (const auto& entry : fs::directory_iterator(out / "figures")) {
    if (entry.path().filename().string().starts_with("profile-") && entry.path().extension() == ".svg") {
      figures.push_back(entry.path());
    }
  }
  ASSERT_EQ(figures.size(), 3u) << "a box plot and two profiles";
  for (const auto& figure : figures) {
    ASSERT_TRUE(fs::exists(figure)) << figure;
    const auto texts = svg_texts(read_all(figure));
    EXPECT_EQ(std::count(texts.begin(), texts.end(), kAwkward), 1) << figure << ":\n"
                                                                   << fmt::format("{}", fmt::join(texts, "\n"));
  }
  // A profile's title names its side: the label stands in it as written too.
  bool titled = false;
  for (std::size_t i = 1; i < figures.size(); ++i) {
    for (const auto& t : svg_texts(read_all(figures[i]))) titled = titled || (t != kAwkward && contains(t, kAwkward));
  }
  EXPECT_TRUE(titled) << "the awkward side's profile names it in its title";
}

}  // namespace
}  // namespace joulebench
