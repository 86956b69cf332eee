// Loads a local HTML page in a real browser (Debian's chromium, headless, kept off the network)
// and reports what a test of a generated page needs: images that did not load, console errors,
// its title and text, and a screenshot for a person to look at.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace joulebench::testing {

struct PageCheck {
  bool started = false;  ///< chromium ran and reported on the page (false: `problem` says why)
  std::string problem;
  /// console.error calls, uncaught exceptions and unhandled rejections, Content-Security-Policy
  /// violations (something the page's own policy blocked), and elements whose resource failed to
  /// load: what the browser's developer console would show as errors.
  std::vector<std::string> console_errors;
  /// Every console line chromium logged, of any level (its log does not say which): for messages.
  std::vector<std::string> console_messages;
  std::size_t images = 0;                  ///< <img> elements in the page
  std::vector<std::string> broken_images;  ///< alt (or src, cut to 80 chars) of each <img> not shown
  std::string title;                       ///< document.title
  std::string body_text;                   ///< document.body.innerText
  bool screenshot_written = false;         ///< the screenshot file exists and is a non-empty PNG
};

/// The chromium executable: $JOULEBENCH_CHROMIUM if set, else /usr/bin/chromium.
std::filesystem::path chromium_path();
/// Whether chromium_path() is an executable file.
bool chromium_available();

/// Loads `html` (a file) in chromium twice: once an instrumented copy (a script placed before the
/// page's Content-Security-Policy, so the policy still governs everything the page itself does)
/// that reports on the page; once the page as it is, for a 1280 px wide screenshot (4000 px tall)
/// written to `screenshot`. Each chromium is killed, with everything it started, after `timeout`.
PageCheck check_page(const std::filesystem::path& html, const std::filesystem::path& screenshot,
                     std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace joulebench::testing
