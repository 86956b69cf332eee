#include <cstdio>

#include "commands.hpp"
#include "joulebench/report.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench::cli {

Command add_sensors(CLI::App& app) {
  auto* cmd = app.add_subcommand("sensors", "List every energy source, whether it works here, and how to fix it if not");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "print JSON instead of text");
  return {cmd, [json] {
            const SensorSet sensors =
                SensorSet::open(SensorOptions{SensorPaths::from_environment(), EstimateModel::from_environment(), {}});
            const std::string text = *json ? sensors_json(sensors) : sensors_text(sensors);
            std::fputs(text.c_str(), stdout);
            return 0;
          }};
}

}  // namespace joulebench::cli
