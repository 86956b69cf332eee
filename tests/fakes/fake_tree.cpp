#include "fakes/fake_tree.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <fmt/format.h>

namespace joulebench::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "joulebench-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

std::vector<char*> exec_array(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

void write_file(const fs::path& path, std::string_view content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void write_counter(const fs::path& path, std::uint64_t value) {
  const std::string text = fmt::format("{:>20}\n", value);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path.string());
  const auto n = ::pwrite(fd, text.data(), text.size(), 0);
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) throw std::runtime_error("cannot write " + path.string());
}

void make_powercap_zone(const fs::path& dir, std::string_view name, std::uint64_t energy_uj, std::uint64_t max_range_uj,
                        std::uint64_t max_power_uw) {
  write_file(dir / "name", fmt::format("{}\n", name));
  write_file(dir / "energy_uj", fmt::format("{:>20}\n", energy_uj));
  write_file(dir / "max_energy_range_uj", fmt::format("{}\n", max_range_uj));
  if (max_power_uw > 0) write_file(dir / "constraint_0_max_power_uw", fmt::format("{}\n", max_power_uw));
}

void write_proc_stat(const fs::path& procfs_root, std::uint64_t user, std::uint64_t system, std::uint64_t idle,
                     int cpus) {
  // Fixed-width fields, rewritten in place like write_counter: the reader keeps /proc/stat open.
  std::string text = fmt::format("cpu  {:>14} 0 {:>14} {:>14} 0 0 0 0 0 0\n", user, system, idle);
  for (int i = 0; i < cpus; ++i) text += fmt::format("cpu{} 0 0 0 0 0 0 0 0 0 0\n", i);
  text += "intr 0\nctxt 0\nbtime 0\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n";
  const fs::path path = procfs_root / "stat";
  if (!fs::exists(path)) {
    write_file(path, text);
    return;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path.string());
  const auto n = ::pwrite(fd, text.data(), text.size(), 0);
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) throw std::runtime_error("cannot write " + path.string());
}

std::optional<SourceReport> report_as_unprivileged(const std::function<std::unique_ptr<EnergySource>()>& open) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return std::nullopt;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    const auto source = open();
    const SourceReport& r = source->report();
    const std::string message = std::to_string(static_cast<int>(r.status)) + '\0' + r.reason + '\0' + r.remedy;
    const auto written = ::write(pipe_fds[1], message.data(), message.size());
    ::_exit(written == static_cast<ssize_t>(message.size()) ? 0 : 4);
  }
  ::close(pipe_fds[1]);
  std::string message;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    message.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  const auto first = message.find('\0');
  const auto second = message.find('\0', first + 1);
  SourceReport report;
  report.status = static_cast<SourceStatus>(std::stoi(message.substr(0, first)));
  report.reason = message.substr(first + 1, second - first - 1);
  report.remedy = message.substr(second + 1);
  return report;
}

struct PoweredCounter::State {
  std::filesystem::path path;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  double watts = 0;
  double energy_uj = 0;
  std::chrono::steady_clock::time_point last;
  std::thread thread;

  void advance() {
    const auto now = std::chrono::steady_clock::now();
    energy_uj += watts * std::chrono::duration<double>(now - last).count() * 1e6;
    last = now;
    write_counter(path, static_cast<std::uint64_t>(energy_uj));
  }
};

PoweredCounter::PoweredCounter(std::filesystem::path path, double watts, std::uint64_t start_uj)
    : state_(std::make_unique<State>()) {
  state_->path = std::move(path);
  state_->watts = watts;
  state_->energy_uj = static_cast<double>(start_uj);
  state_->last = std::chrono::steady_clock::now();
  write_counter(state_->path, start_uj);
  state_->thread = std::thread([s = state_.get()] {
    std::unique_lock lock(s->mutex);
    while (!s->wake.wait_for(lock, std::chrono::milliseconds(1), [s] { return s->stopping; })) s->advance();
  });
}

PoweredCounter::~PoweredCounter() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  state_->thread.join();
}

void PoweredCounter::set_watts(double watts) {
  std::lock_guard lock(state_->mutex);
  state_->advance();
  state_->watts = watts;
}

ScopedVariable::ScopedVariable(const char* name, const std::string& value) : name_(name) {
  if (const char* old = std::getenv(name)) old_ = old;
  ::setenv(name, value.c_str(), 1);
}

ScopedVariable::~ScopedVariable() {
  if (old_) ::setenv(name_, old_->c_str(), 1);
  else ::unsetenv(name_);
}

}  // namespace joulebench::testing
