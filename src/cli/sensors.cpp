#include <cstdio>

#include "commands.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/report.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench::cli {

Command add_sensors(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("sensors", "List every energy source, whether it works here, and how to fix it if not");
  auto json = std::make_shared<bool>(false);
  auto no_watch = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "print JSON instead of text");
  cmd->add_flag("--no-watch", *no_watch,
                "only list the sources: do not watch the channels for a second (which finds counters that never move)");
  return {cmd, [json, no_watch] {
            SensorSet sensors = SensorSet::open(SensorOptions::from_environment());
            std::optional<MeterWindow> watched;
            if (!*no_watch) watched = watch_channels(sensors);
            const MeterWindow* window = watched ? &*watched : nullptr;
            const std::string text = *json ? sensors_json(sensors, window) : sensors_text(sensors, window);
            std::fputs(text.c_str(), stdout);
            return 0;
          }};
}

}  // namespace joulebench::cli
