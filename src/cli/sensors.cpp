#include <cstdio>

#include "commands.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/report.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench::cli {

Command add_sensors(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("sensors", "List every energy source, whether it works here, and how to fix it if not");
  auto format = std::make_shared<std::string>("table");
  auto no_watch = std::make_shared<bool>(false);
  auto* format_option = cmd->add_option("--format", *format, "table or json")
                            ->check(CLI::IsMember({"table", "json"}))
                            ->capture_default_str();
  cmd->add_flag_callback(
         "--json", [format] { *format = "json"; }, "the same as --format json")
      ->excludes(format_option);
  cmd->add_flag("--no-watch", *no_watch,
                "only list the sources: do not watch the channels for a second (which finds counters that never move)");
  return {cmd, [format, no_watch] {
            SensorSet sensors = SensorSet::open(SensorOptions::from_environment());
            std::optional<MeterWindow> watched;
            if (!*no_watch) watched = watch_channels(sensors);
            const MeterWindow* window = watched ? &*watched : nullptr;
            const std::string text = *format == "json" ? sensors_json(sensors, window) : sensors_text(sensors, window);
            std::fputs(text.c_str(), stdout);
            return 0;
          }};
}

}  // namespace joulebench::cli
