// joulebench: measure what deep-learning workloads cost in energy and time.
#include <cstdio>
#include <exception>
#include <vector>

#include "commands.hpp"
#include "joulebench/version.hpp"

namespace joulebench::cli {

Seconds duration_option(const std::string& option, const std::string& text) {
  try {
    return parse_duration(text);
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError(option, e.what());
  }
}

}  // namespace joulebench::cli

int main(int argc, char** argv) {
  CLI::App app{"joulebench: what a workload costs in joules and seconds"};
  app.set_version_flag("--version", std::string(joulebench::kVersion));
  app.require_subcommand(1);

  const std::vector<joulebench::cli::Command> commands = {
      joulebench::cli::add_sensors(app),
      joulebench::cli::add_measure(app),
      joulebench::cli::add_workload(app),
  };

  try {
    app.parse(argc, argv);
    for (const auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    // Help and version succeed; every other parse error is a usage error, as for most tools.
    return code == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "joulebench: %s\n", e.what());
    return 1;
  }
  return 0;
}
