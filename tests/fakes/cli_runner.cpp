#include "fakes/cli_runner.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include <gtest/gtest.h>

extern char** environ;

namespace joulebench::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kJoulebench = JOULEBENCH_BINARY;

std::string read_fd(int fd) {
  std::string text;
  ::lseek(fd, 0, SEEK_SET);
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
  return text;
}

std::string read_fd_until_eof(int fd) {
  std::string text;
  char buffer[256];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof buffer)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace

std::string profile_test_python() {
  const char* chosen = std::getenv("JOULEBENCH_TEST_PYTHON");
  return chosen && *chosen ? chosen : JOULEBENCH_TEST_PYTHON;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Runner::Runner() {
  env_["JOULEBENCH_SYSFS_ROOT"] = empty_sysfs_.path().string();
  env_["JOULEBENCH_NVML_LIBRARY"] = (empty_sysfs_.path() / "no-such-libnvidia-ml.so.1").string();
  env_["JOULEBENCH_ESTIMATE_CPU_IDLE_W"] = "1";
  env_["JOULEBENCH_ESTIMATE_CPU_MAX_W"] = "3";
  env_["JOULEBENCH_ESTIMATE_DRAM_W_PER_GB"] = "1";
  // Shared by whichever user a test runs joulebench as, like /run/lock.
  fs::permissions(lock_dir_.path(), fs::perms::all | fs::perms::sticky_bit);
  env_["JOULEBENCH_LOCK_DIR"] = lock_dir_.path().string();
}

Result Runner::run(const std::vector<std::string>& args, const Env& overrides, std::optional<uid_t> as_user,
                   const std::function<void(pid_t)>& during) const {
  std::vector<std::string> argv_strings{kJoulebench};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  Env env = env_;
  for (const auto& [k, v] : overrides) env[k] = v;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    // A variable the test sets (PATH, say) replaces the inherited one: getenv reads the first.
    const std::string_view entry(*e);
    if (entry.starts_with("JOULEBENCH_") || env.contains(std::string(entry.substr(0, entry.find('='))))) continue;
    env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : env) {
    if (v) env_strings.push_back(k + "=" + *v);
  }
  std::vector<char*> argv = exec_array(argv_strings);
  std::vector<char*> envp = exec_array(env_strings);

  Result result;
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  int error_pipe[2];
  if (out == nullptr || err == nullptr || ::pipe2(error_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "cannot create capture files";
    return result;
  }
  const auto started = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, STDIN_FILENO);
    ::dup2(::fileno(out), STDOUT_FILENO);
    ::dup2(::fileno(err), STDERR_FILENO);
    // joulebench gets exactly stdin, stdout and stderr (and the exec error pipe, closed on exec).
    for (int fd = 3; fd < 1024; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (sigchld_ignored) ::signal(SIGCHLD, SIG_IGN);  // kept across exec
    const char* step = "execve";
    if (as_user) {
      const gid_t gid = static_cast<gid_t>(*as_user);
      if (::setgroups(0, nullptr) != 0) step = "setgroups";
      else if (::setgid(gid) != 0) step = "setgid";
      else if (::setuid(*as_user) != 0) step = "setuid";
    }
    if (std::strcmp(step, "execve") == 0) ::execve(argv[0], argv.data(), envp.data());
    const int error = errno;
    char message[256];
    const int n = std::snprintf(message, sizeof message, "%s: %s", step, std::strerror(error));
    [[maybe_unused]] auto written = ::write(error_pipe[1], message, static_cast<std::size_t>(n));
    ::_exit(127);
  }
  ::close(error_pipe[1]);
  if (pid < 0) {
    ::close(error_pipe[0]);
    ADD_FAILURE() << "fork failed";
    return result;
  }
  result.exec_error = read_fd_until_eof(error_pipe[0]);
  ::close(error_pipe[0]);
  result.exec_failed = !result.exec_error.empty();
  if (during && !result.exec_failed) during(pid);

  // A hung joulebench fails the test instead of hanging the suite.
  const auto deadline_at = started + deadline;
  int status = 0;
  rusage usage{};
  for (;;) {
    const pid_t reaped = ::wait4(pid, &status, WNOHANG, &usage);
    if (reaped == pid) break;
    if (std::chrono::steady_clock::now() > deadline_at) {
      // Two interrupts: joulebench forwards them to the workload's process group (measure) or
      // kills the current run on the second (run), so no workload outlives the test. SIGKILL,
      // which would leave the workload running, only if that fails.
      ::kill(pid, SIGINT);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      ::kill(pid, SIGINT);
      const auto grace_end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (::wait4(pid, &status, WNOHANG, &usage) != pid) {
        if (std::chrono::steady_clock::now() > grace_end) {
          ::kill(pid, SIGKILL);
          ::wait4(pid, &status, 0, &usage);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      ADD_FAILURE() << "joulebench did not finish within " << deadline.count() << " s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.children_user_s =
      static_cast<double>(usage.ru_utime.tv_sec) + static_cast<double>(usage.ru_utime.tv_usec) * 1e-6;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  result.out = read_fd(::fileno(out));
  result.err = read_fd(::fileno(err));
  std::fclose(out);
  std::fclose(err);
  return result;
}

/// Parses a JSON document, failing the test (not crashing it) if it is malformed.
json parse_json(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    ADD_FAILURE() << "not JSON (" << e.what() << "):\n" << text;
    return json::object();
  }
}

/// One CSV line split into fields, with RFC 4180 quoting.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

pid_t guard_of(pid_t joulebench) {
  std::ifstream in("/proc/" + std::to_string(joulebench) + "/task/" + std::to_string(joulebench) + "/children");
  for (pid_t child = 0; in >> child;) {
    std::ifstream comm("/proc/" + std::to_string(child) + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name == "jbench-guard") return child;
  }
  return 0;
}

}  // namespace joulebench::testing
