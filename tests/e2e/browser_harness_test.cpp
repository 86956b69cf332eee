// The headless-browser harness (fakes/browser.hpp) on hand-written pages: that it sees broken
// images, console errors and the page's own Content-Security-Policy, so a report test that finds
// nothing wrong can be believed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fakes/browser.hpp"
#include "fakes/fake_tree.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::check_page;
using testing::PageCheck;
using testing::TempDir;
using testing::write_file;

// A 2 x 2 red PNG.
const std::string kGoodPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg==";
// The report's policy: nothing but inline styles and data: images.
const std::string kReportCsp =
    R"(<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">)";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool any_contains(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) { return contains(line, part); });
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

class BrowserHarness : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::chromium_available())
      GTEST_SKIP() << "no chromium at " << testing::chromium_path() << " (Debian: chromium)";
  }
  PageCheck check(const std::string& name, const std::string& html) {
    const fs::path page = dir.path() / name;
    write_file(page, html);
    PageCheck result = check_page(page, shot());
    EXPECT_TRUE(result.started) << result.problem;
    EXPECT_TRUE(result.screenshot_written) << result.problem;
    EXPECT_TRUE(fs::exists(shot()));
    return result;
  }
  fs::path shot() const { return dir.path() / "shots" / "page.png"; }
  TempDir dir;
};

TEST_F(BrowserHarness, CountsImagesAndFindsTheBrokenOneUnderTheReportsPolicy) {
  const PageCheck page =
      check("report.html", "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" + kReportCsp +
                               "<title>Two figures</title><style>h1 { color: #333 }</style></head>\n"
                               "<body><h1>Energy by framework</h1>\n"
                               "<img alt=\"good figure\" src=\"data:image/png;base64," +
                               kGoodPng +
                               "\">\n"
                               "<img alt=\"broken figure\" src=\"data:image/png;base64,!!not base64!!\">\n"
                               "</body></html>\n");
  EXPECT_EQ(page.images, 2u);
  EXPECT_EQ(page.broken_images, std::vector<std::string>{"broken figure"});
  EXPECT_EQ(page.title, "Two figures");
  EXPECT_TRUE(contains(page.body_text, "Energy by framework")) << page.body_text;
  // The failed load is an error, as in the browser's console; the check script itself broke no policy.
  EXPECT_TRUE(any_contains(page.console_errors, "failed to load <img>")) << joined(page.console_errors);
  EXPECT_FALSE(any_contains(page.console_errors, "Content-Security-Policy")) << joined(page.console_errors);
}

TEST_F(BrowserHarness, ReportsConsoleErrorsAndUncaughtExceptions) {
  const PageCheck page = check("errors.html",
                               "<!DOCTYPE html><html><head><title>Errors</title></head><body><p>text</p>\n"
                               "<script>console.log('only a log'); console.error('the sky is falling', 42);</script>\n"
                               "<script>setTimeout(() => { throw new Error('late failure'); }, 10);</script>\n"
                               "</body></html>\n");
  EXPECT_TRUE(any_contains(page.console_errors, "console.error: the sky is falling 42")) << joined(page.console_errors);
  EXPECT_TRUE(any_contains(page.console_errors, "uncaught Error: late failure")) << joined(page.console_errors);
  EXPECT_FALSE(any_contains(page.console_errors, "only a log")) << joined(page.console_errors);
  EXPECT_TRUE(any_contains(page.console_messages, "only a log")) << joined(page.console_messages);
  EXPECT_EQ(page.images, 0u);
}

TEST_F(BrowserHarness, ThePagesOwnPolicyStillBlocksItsScripts) {
  const PageCheck page =
      check("blocked.html", "<!DOCTYPE html><html><head><meta charset=\"utf-8\">" + kReportCsp +
                                "<title>Blocked</title></head><body><p id=\"p\">before</p>\n"
                                "<script>document.getElementById('p').textContent = 'script ran';</script>\n"
                                "</body></html>\n");
  EXPECT_TRUE(any_contains(page.console_errors, "blocked by Content-Security-Policy (script-src-elem): inline"))
      << joined(page.console_errors);
  EXPECT_TRUE(contains(page.body_text, "before")) << page.body_text;
  EXPECT_FALSE(contains(page.body_text, "script ran")) << page.body_text;
}

TEST_F(BrowserHarness, RelativeImagesLoadFromThePagesFolder) {
  // The same PNG as a file beside the page: the checked copy lives elsewhere, so this needs its <base>.
  static const char kPngBytes[] =
      "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x02\x00\x00\x00\xfd\xd4\x9a"
      "\x73\x00\x00\x00\x10IDAT\x78\x9c\x63\xf8\xcf\xc0\x00\x44\x0c\x10\x0a\x00\x1f\xee\x03\xfd\x8b\x5f\x14\xd4"
      "\x00\x00\x00\x00IEND\xae\x42\x60\x82";
  write_file(dir.path() / "figures" / "red.png", std::string(kPngBytes, sizeof kPngBytes - 1));
  const PageCheck page = check("relative.html",
                               "<!DOCTYPE html><html><head><title>Files</title></head><body>"
                               "<img alt=\"beside\" src=\"figures/red.png\">"
                               "<img alt=\"missing\" src=\"figures/none.png\"></body></html>");
  EXPECT_EQ(page.images, 2u);
  EXPECT_EQ(page.broken_images, std::vector<std::string>{"missing"});
  EXPECT_TRUE(any_contains(page.console_errors, "failed to load <img> figures/none.png"))
      << joined(page.console_errors);
}

TEST(BrowserHarnessWithoutChromium, SaysWhy) {
  const char* before = std::getenv("JOULEBENCH_CHROMIUM");
  const std::optional<std::string> saved = before != nullptr ? std::optional<std::string>(before) : std::nullopt;
  ::setenv("JOULEBENCH_CHROMIUM", "/nonexistent/chromium", 1);
  TempDir dir;
  write_file(dir.path() / "page.html", "<html></html>");
  const PageCheck page = check_page(dir.path() / "page.html", dir.path() / "page.png");
  if (saved) {
    ::setenv("JOULEBENCH_CHROMIUM", saved->c_str(), 1);
  } else {
    ::unsetenv("JOULEBENCH_CHROMIUM");
  }
  EXPECT_FALSE(page.started);
  EXPECT_FALSE(page.screenshot_written);
  EXPECT_TRUE(contains(page.problem, "/nonexistent/chromium")) << page.problem;
}

}  // namespace
}  // namespace joulebench
