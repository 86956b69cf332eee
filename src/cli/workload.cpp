#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "commands.hpp"

namespace joulebench::cli {

namespace {

namespace fs = std::filesystem;

/// Built-in workloads are separate executables (joulebench links no framework); this table says
/// which exist and what they are.
struct BuiltinWorkload {
  const char* name;
  const char* executable;
  const char* description;
};

constexpr BuiltinWorkload kWorkloads[] = {
    {"cpu-load", "joulebench-cpu-load", "a busy floating-point loop on N threads (C++, no framework)"},
};

/// Beside the joulebench executable (a build tree), then in ../libexec/joulebench (an install).
std::optional<fs::path> locate(const BuiltinWorkload& w) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return std::nullopt;
  for (const fs::path& dir : {self.parent_path(), self.parent_path().parent_path() / "libexec" / "joulebench"}) {
    const fs::path candidate = dir / w.executable;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

int list_workloads() {
  std::printf("%-12s %-10s %s\n", "workload", "available", "description");
  for (const auto& w : kWorkloads) {
    const auto path = locate(w);
    std::printf("%-12s %-10s %s%s\n", w.name, path ? "yes" : "no", w.description,
                path ? fmt::format(" [{}]", path->string()).c_str() : " [not built on this machine]");
  }
  return 0;
}

}  // namespace

Command add_workload(CLI::App& app) {
  auto* cmd = app.add_subcommand("workload", "Run a built-in workload (see --list); measure it with 'joulebench measure -- joulebench workload NAME'");
  auto list = std::make_shared<bool>(false);
  cmd->add_flag("--list", *list, "show the built-in workloads and whether they are available here");
  // The workload's name and everything after it are the workload's own: `workload cpu-load --seconds 2`.
  cmd->prefix_command();
  cmd->footer("Usage: joulebench workload NAME [ARGS...]");
  return {cmd, [cmd, list]() -> int {
            std::vector<std::string> remaining = cmd->remaining();
            if (remaining.size() > 1 && remaining[1] == "--") remaining.erase(remaining.begin() + 1);
            if (*list || remaining.empty()) return list_workloads();
            for (const auto& w : kWorkloads) {
              if (remaining.front() != w.name) continue;
              const auto path = locate(w);
              if (!path) {
                std::fprintf(stderr, "joulebench: workload '%s' is not built on this machine (%s not found)\n", w.name,
                             w.executable);
                return 127;
              }
              std::vector<char*> argv;
              std::string program = path->string();
              argv.push_back(program.data());
              for (std::size_t i = 1; i < remaining.size(); ++i) argv.push_back(remaining[i].data());
              argv.push_back(nullptr);
              // Replaced by the workload: when measured, the measured process is the workload.
              ::execv(program.c_str(), argv.data());
              std::fprintf(stderr, "joulebench: cannot run %s: %s\n", program.c_str(), std::strerror(errno));
              return 126;
            }
            std::fprintf(stderr, "joulebench: no built-in workload '%s' (see 'joulebench workload --list')\n",
                         remaining.front().c_str());
            return 2;
          }};
}

}  // namespace joulebench::cli
