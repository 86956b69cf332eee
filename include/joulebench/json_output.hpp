// The one JSON serialiser: every JSON output of joulebench is a document that starts with its
// schema and the joulebench that wrote it, and writes runs and energy figures the same way.
// docs/formats.md lists each schema and its version.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "joulebench/result.hpp"

namespace joulebench {

using Json = nlohmann::ordered_json;

/// The JSON outputs. Each has its own version, raised whenever a key changes meaning or goes away.
enum class JsonSchema : std::uint8_t {
  measure,      ///< `measure --json`
  runs,         ///< `export --format json`
  compare,      ///< `compare --format json` (and bench)
  sensors,      ///< `sensors --json`
  profile,      ///< `profile --format json`
  profiles,     ///< `profiles --format json`
  bench,        ///< `bench --export-json`: hyperfine's shape, energy added
  replication,  ///< `compare --reference --format json`
};

/// A document's first keys: {"schema": "NAME/VERSION", "joulebench_version": "X.Y.Z"}.
Json json_document(JsonSchema schema);
/// The text of a document: indented by two, ending in a line break. Text that is not valid UTF-8
/// (a label from a byte string) is replaced rather than refused.
std::string dump_json(const Json& document);

/// A number, or null where it is not finite (JSON has no NaN): a figure the store could not keep.
Json number_or_null(double value);

/// One run, as every document writes it: its identity and outcome, labels, times, energy figures
/// (per domain, then the total), regions, metrics, metadata, warnings and profile.
/// `window_s`: the length of the meter's window its energy covers, for average powers (default:
/// the run's time, which the window exceeds by the moments it takes to start and reap it).
Json run_json(const RunRecord& run, std::optional<double> window_s = std::nullopt);
/// One region of a run: its name, start and end (seconds since the run's start) and figures.
Json region_json(const StoredRegion& region);
/// One function of a stored profile.
Json profile_function_json(const StoredProfileFunction& function);

/// One energy figure over `duration_s` (for its average power). A figure that measured nothing
/// has null for its energy, never a 0 that reads as a measurement.
Json figure_json(const EnergyFigure& figure, double duration_s);

}  // namespace joulebench
