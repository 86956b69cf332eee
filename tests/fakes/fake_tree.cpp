#include "fakes/fake_tree.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

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

void write_proc_stat(const fs::path& procfs_root, std::uint64_t user, std::uint64_t system, std::uint64_t idle, int cpus) {
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

}  // namespace joulebench::testing
