// Reporters: turn measurements and sensor reports into text for people (terminal) and machines
// (JSON, CSV). Kept apart from measuring, so a new format never touches the meter.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

#include "joulebench/meter.hpp"
#include "joulebench/run.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench {

/// Every source tried, its status, domains and, when not ok, why and what to change.
std::string sensors_text(const SensorSet& sensors);
std::string sensors_json(const SensorSet& sensors);

/// A measurement for the terminal: times, then a table of domains; estimated figures marked.
std::string measurement_text(const Measurement& m);
/// Everything measured, channels included.
std::string measurement_json(const Measurement& m);
/// A header and one row, with the column names `joulebench export` uses: time_s,
/// energy_<domain>_j, energy_<domain>_estimated, dynamic_energy_<domain>_j, energy_total_j...
std::string measurement_csv(const Measurement& m);

/// Writes the power timeline as CSV while it is measured: time_s, interval_s, then one
/// <channel>_w column per channel; an interval that could not be measured is an empty cell.
class CsvTimelineWriter final : public TimelineSink {
 public:
  /// Throws std::runtime_error if the file cannot be created.
  explicit CsvTimelineWriter(const std::filesystem::path& path);
  ~CsvTimelineWriter() override;
  CsvTimelineWriter(const CsvTimelineWriter&) = delete;
  CsvTimelineWriter& operator=(const CsvTimelineWriter&) = delete;

  void begin(std::span<const Channel> channels) override;
  void add(const TimelineSample& sample) override;
  /// Flushes and closes; throws std::runtime_error if writing failed (a full disk).
  void close();

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace joulebench
