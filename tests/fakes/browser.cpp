#include "fakes/browser.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fakes/fake_tree.hpp"

extern char** environ;

namespace joulebench::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Runs first in the page (placed before its Content-Security-Policy, which only governs what comes
// after it), so it sees every error, and once the page and its images have loaded writes a summary
// into the DOM, base64-encoded so no HTML escaping can garble it, for --dump-dom to print.
constexpr std::string_view kCheckScript = R"js(<script>(() => {
  const errors = [];
  const show = v => {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return String(v);
    try { return JSON.stringify(v); } catch (_) { return String(v); }
  };
  const consoleError = console.error;
  console.error = function (...args) {
    errors.push('console.error: ' + args.map(show).join(' '));
    return consoleError.apply(this, args);
  };
  document.addEventListener('securitypolicyviolation', e =>
    errors.push('blocked by Content-Security-Policy (' + e.effectiveDirective + '): ' + String(e.blockedURI || 'inline').slice(0, 80)));
  window.addEventListener('error', e => {
    const t = e.target;
    if (t && t !== window && t.nodeType === 1) {
      errors.push('failed to load <' + t.localName + '> ' + String(t.getAttribute('src') || t.getAttribute('href') || '').slice(0, 80));
    } else {
      errors.push('uncaught ' + (e.error ? show(e.error) : e.message) + (e.filename ? ' (' + e.filename + ':' + e.lineno + ')' : ''));
    }
  }, true);
  window.addEventListener('unhandledrejection', e => errors.push('unhandled rejection: ' + show(e.reason)));
  const settled = img => img.complete ? Promise.resolve() : new Promise(done => {
    img.addEventListener('load', done, {once: true});
    img.addEventListener('error', done, {once: true});
  });
  window.addEventListener('load', async () => {
    const images = Array.from(document.images);
    for (const img of images) if (img.loading === 'lazy') img.loading = 'eager';
    await Promise.all(images.map(settled));
    await new Promise(done => setTimeout(done, 100));
    const broken = images.filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0))
                         .map(i => i.alt || String(i.getAttribute('src') || '').slice(0, 80));
    const summary = {images: images.length, broken, title: document.title,
                     text: document.body ? document.body.innerText : '', errors};
    const bytes = new TextEncoder().encode(JSON.stringify(summary));
    let binary = '';
    for (let i = 0; i < bytes.length; i += 8192) binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
    const pre = document.createElement('pre');
    pre.id = 'joulebench-check';
    pre.textContent = btoa(binary);
    (document.body || document.documentElement).appendChild(pre);
  });
})();</script>)js";

constexpr std::string_view kSummaryOpen = "<pre id=\"joulebench-check\">";

// Off the network: no name resolves, and what needs no name (an IP address) goes to a proxy on a
// closed local port. No background services, no profile or crash reports outside the temp folder.
const std::vector<std::string> kCommonFlags = {
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",  // containers' /dev/shm is often too small for chromium
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
    "--proxy-server=http://127.0.0.1:9",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-crash-reporter",
    "--disable-breakpad",
    "--no-pings",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,4000",
    "--virtual-time-budget=10000",
    "--enable-logging=stderr",
    "--v=0",
};

struct ChildResult {
  bool launched = false;
  std::string launch_error;
  bool timed_out = false;
  int exit_code = -1;
  int term_signal = 0;

  std::string status() const {
    if (timed_out) return "killed after its timeout";
    if (term_signal != 0) return fmt::format("killed by signal {}", term_signal);
    return fmt::format("exit code {}", exit_code);
  }
};

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

/// A file: URL for an absolute path, every byte outside the unreserved set percent-encoded.
std::string file_url(const fs::path& path) {
  std::string url = "file://";
  for (const unsigned char c : path.string()) {
    if (std::isalnum(c) != 0 || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      url += static_cast<char>(c);
    } else {
      url += fmt::format("%{:02X}", c);
    }
  }
  return url;
}

struct Tag {
  std::size_t start = 0;
  std::size_t end = 0;  ///< just past its '>'
};

/// The first tag named `name` (lower case, without '<') at or after `from`: "<head" does not
/// match "<header".
std::optional<Tag> find_tag(const std::string& lowered, std::string_view name, std::size_t from = 0) {
  // Appended, not "<" + std::string: GCC 12 at -O3 warns falsely (-Wrestrict) on the latter.
  std::string open(1, '<');
  open += name;
  for (std::size_t at = lowered.find(open, from); at != std::string::npos; at = lowered.find(open, at + 1)) {
    const std::size_t after = at + open.size();
    if (after < lowered.size() && std::string_view(" \t\r\n/>").find(lowered[after]) == std::string_view::npos)
      continue;
    const std::size_t close = lowered.find('>', after);
    if (close == std::string::npos) return std::nullopt;
    return Tag{at, close + 1};
  }
  return std::nullopt;
}

/// The page with a <base> (so its relative links still resolve from the temp folder) and the check
/// script inserted at the top of its head: after <meta charset> where that comes first, so the
/// encoding is still declared early, but always before a Content-Security-Policy <meta>.
std::string instrument(const std::string& page, const fs::path& page_dir) {
  const std::string lowered = lower(page);
  std::size_t at = 0;
  if (const auto head = find_tag(lowered, "head")) {
    at = head->end;
  } else if (const auto html = find_tag(lowered, "html")) {
    at = html->end;
  } else if (const auto doctype = find_tag(lowered, "!doctype")) {
    at = doctype->end;
  }
  std::optional<Tag> csp;
  std::optional<Tag> charset;
  for (auto meta = find_tag(lowered, "meta"); meta; meta = find_tag(lowered, "meta", meta->end)) {
    const std::string_view text(lowered.data() + meta->start, meta->end - meta->start);
    if (!csp && text.find("content-security-policy") != std::string_view::npos) csp = meta;
    if (!charset && text.find("charset") != std::string_view::npos) charset = meta;
  }
  if (charset && charset->start >= at && (!csp || charset->end <= csp->start)) at = charset->end;
  if (csp && csp->start < at) at = csp->start;

  std::string inserted;
  if (!find_tag(lowered, "base")) inserted = fmt::format("<base href=\"{}/\">", file_url(page_dir));
  inserted += kCheckScript;
  std::string result = page;
  result.insert(at, inserted);
  return result;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::array<int, 256> value{};
  value.fill(-1);
  const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i)
    value[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
  std::string out;
  out.reserve(text.size() / 4 * 3);
  unsigned bits = 0;
  int count = 0;
  for (const char c : text) {
    if (c == '=') break;
    if (std::isspace(static_cast<unsigned char>(c)) != 0) continue;
    const int v = value[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<unsigned>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFFu);
    }
  }
  return out;
}

/// The console lines of chromium's log: "[pid:tid:time:INFO:CONSOLE:12] "text", source: url (12)".
std::vector<std::string> console_lines(const std::string& log) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    const std::size_t marker = line.find(":CONSOLE");
    if (marker == std::string::npos) continue;
    const std::size_t close = line.find("] ", marker);
    lines.push_back(close == std::string::npos ? line : line.substr(close + 2));
  }
  return lines;
}

/// The end of chromium's log without the noise of a machine with no D-Bus, for messages.
std::string log_tail(const std::string& log, std::size_t max_lines = 15) {
  std::vector<std::string> kept;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find("dbus") == std::string::npos && line.find("D-Bus") == std::string::npos) kept.push_back(line);
  }
  std::string tail;
  for (std::size_t i = kept.size() > max_lines ? kept.size() - max_lines : 0; i < kept.size(); ++i)
    tail += kept[i] + "\n";
  return tail;
}

/// Runs chromium with `args` in its own process group, stdout and stderr into files; the whole
/// group (the browser and its renderer, GPU and utility processes) is killed when the browser
/// exits or when `timeout` passes, so none outlives the check.
ChildResult run_chromium(const std::vector<std::string>& args, const fs::path& home, const fs::path& out_file,
                         const fs::path& err_file, std::chrono::seconds timeout) {
  ChildResult result;
  const std::string program = chromium_path().string();
  std::vector<std::string> argv_strings{program};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  // A private HOME and XDG folders: chromium writes caches and settings there. No display, and no
  // flags from the caller's CHROMIUM_FLAGS (Debian's launcher adds them).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view key = entry.substr(0, entry.find('='));
    if (key == "HOME" || key.starts_with("XDG_") || key == "DISPLAY" || key == "WAYLAND_DISPLAY" ||
        key == "CHROMIUM_FLAGS") {
      continue;
    }
    env_strings.emplace_back(entry);
  }
  env_strings.push_back("HOME=" + home.string());
  env_strings.push_back("XDG_CONFIG_HOME=" + (home / ".config").string());
  env_strings.push_back("XDG_CACHE_HOME=" + (home / ".cache").string());
  env_strings.push_back("XDG_DATA_HOME=" + (home / ".local/share").string());
  std::vector<char*> argv = exec_array(argv_strings);
  std::vector<char*> envp = exec_array(env_strings);

  const int out_fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int error_pipe[2] = {-1, -1};
  const auto close_all = [&] {
    for (const int fd : {out_fd, err_fd, null_fd, error_pipe[0], error_pipe[1]}) {
      if (fd >= 0) ::close(fd);
    }
  };
  if (out_fd < 0 || err_fd < 0 || null_fd < 0 || ::pipe2(error_pipe, O_CLOEXEC) != 0) {
    result.launch_error = fmt::format("cannot create chromium's output files in {}: {}",
                                      out_file.parent_path().string(), std::strerror(errno));
    close_all();
    return result;
  }
  const auto started = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec: the test process may have threads.
    ::setpgid(0, 0);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    const int error = errno;
    [[maybe_unused]] const auto written = ::write(error_pipe[1], &error, sizeof error);
    ::_exit(127);
  }
  ::close(error_pipe[1]);
  error_pipe[1] = -1;
  if (pid < 0) {
    result.launch_error = fmt::format("fork failed: {}", std::strerror(errno));
    close_all();
    return result;
  }
  ::setpgid(pid, pid);  // also here, so the group exists before any kill below, whoever runs first
  int exec_errno = 0;
  ssize_t n = 0;
  do {
    n = ::read(error_pipe[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  close_all();
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    ::waitpid(pid, nullptr, 0);
    result.launch_error = fmt::format("cannot run {}: {}", program, std::strerror(exec_errno));
    return result;
  }
  result.launched = true;

  // Wait without reaping (WNOWAIT), so the pid, and with it the group id, cannot be reused before
  // the group is killed.
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) break;
    if (std::chrono::steady_clock::now() - started > timeout) {
      result.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  return result;
}

bool is_png(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 8> signature{};
  if (!in.read(signature.data(), signature.size())) return false;
  constexpr std::array<unsigned char, 8> kPng = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (!std::equal(signature.begin(), signature.end(), kPng.begin(),
                  [](char a, unsigned char b) { return static_cast<unsigned char>(a) == b; })) {
    return false;
  }
  std::error_code ec;
  return fs::file_size(path, ec) > signature.size() && !ec;
}

}  // namespace

fs::path chromium_path() {
  const char* chosen = std::getenv("JOULEBENCH_CHROMIUM");
  return (chosen != nullptr && *chosen != '\0') ? fs::path(chosen) : fs::path("/usr/bin/chromium");
}

bool chromium_available() {
  const fs::path path = chromium_path();
  std::error_code ec;
  return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

PageCheck check_page(const fs::path& html, const fs::path& screenshot, std::chrono::seconds timeout) {
  PageCheck check;
  if (!chromium_available()) {
    check.problem = fmt::format("no chromium at {} (set JOULEBENCH_CHROMIUM, or install Debian's chromium)",
                                chromium_path().string());
    return check;
  }
  std::error_code ec;
  const fs::path page = fs::absolute(html, ec);
  const auto text = read_file(page);
  if (ec || !text) {
    check.problem = fmt::format("cannot read {}", html.string());
    return check;
  }
  const fs::path shot = fs::absolute(screenshot, ec);

  TempDir work;
  const fs::path copy = work.path() / "page.html";
  write_file(copy, instrument(*text, page.parent_path()));

  // Each chromium gets its own profile folder: nothing the first cached or stored changes the second.
  const auto flags_for = [&](const std::string& name) {
    std::vector<std::string> flags = kCommonFlags;
    flags.push_back("--user-data-dir=" + (work.path() / ("profile-" + name)).string());
    return flags;
  };

  std::vector<std::string> dom_args = flags_for("dom");
  dom_args.push_back("--dump-dom");
  dom_args.push_back(file_url(copy));
  const ChildResult dom_run =
      run_chromium(dom_args, work.path() / "home", work.path() / "dom.html", work.path() / "dom.log", timeout);
  if (!dom_run.launched) {
    check.problem = dom_run.launch_error;
    return check;
  }
  const std::string dom = read_file(work.path() / "dom.html").value_or("");
  const std::string dom_log = read_file(work.path() / "dom.log").value_or("");
  check.console_messages = console_lines(dom_log);

  const std::size_t open = dom.rfind(kSummaryOpen);
  const std::size_t close = open == std::string::npos ? open : dom.find("</pre>", open);
  if (close == std::string::npos) {
    check.problem = fmt::format("chromium ({}) printed no page summary; the end of its log:\n{}", dom_run.status(),
                                log_tail(dom_log));
  } else {
    const std::size_t from = open + kSummaryOpen.size();
    const auto decoded = base64_decode(std::string_view(dom).substr(from, close - from));
    try {
      if (!decoded) throw std::runtime_error("not base64");
      const json summary = json::parse(*decoded);
      check.images = summary.at("images").get<std::size_t>();
      check.broken_images = summary.at("broken").get<std::vector<std::string>>();
      check.title = summary.at("title").get<std::string>();
      check.body_text = summary.at("text").get<std::string>();
      check.console_errors = summary.at("errors").get<std::vector<std::string>>();
      check.started = true;
    } catch (const std::exception& e) {
      check.problem = fmt::format("the page summary chromium printed cannot be read: {}", e.what());
    }
  }

  // A chromium that hung once would hang again: the timeout is not waited out twice.
  if (dom_run.timed_out) return check;

  // The screenshot is of the page as it is, without the check script's changes.
  fs::create_directories(shot.parent_path(), ec);
  fs::remove(shot, ec);
  std::vector<std::string> shot_args = flags_for("screenshot");
  shot_args.push_back("--screenshot=" + shot.string());
  shot_args.push_back(file_url(page));
  const ChildResult shot_run = run_chromium(shot_args, work.path() / "home", work.path() / "screenshot.out",
                                            work.path() / "screenshot.log", timeout);
  check.screenshot_written = shot_run.launched && is_png(shot);
  if (!check.screenshot_written && check.problem.empty()) {
    check.problem = fmt::format("chromium ({}) wrote no screenshot to {}; the end of its log:\n{}", shot_run.status(),
                                shot.string(), log_tail(read_file(work.path() / "screenshot.log").value_or("")));
  }
  return check;
}

}  // namespace joulebench::testing
