// The profiler around a metered command: one chain of rewrite, measure, read the trace and
// attribute, for `joulebench profile` and for profiled campaign runs alike.
#include <filesystem>

#include <fmt/format.h>

#include "joulebench/run.hpp"

namespace joulebench {

namespace fs = std::filesystem;

CommandProfiler::CommandProfiler(ProfileMode mode, const std::vector<std::string>& argv, Seconds interval,
                                 const fs::path& work_dir)
    : mode_(mode), interval_(interval) {
  try {
    command_ = profiled_command(mode, argv, interval, work_dir);
  } catch (const std::runtime_error& e) {
    throw ProfilerError(e.what());
  }
}

void CommandProfiler::apply(SpawnOptions& options) const {
  options.argv = resolve_joulebench(command_.argv);
  options.environment.insert(options.environment.end(), command_.environment.begin(), command_.environment.end());
}

Trace CommandProfiler::trace() const { return collect_trace(command_, mode_); }

Profile CommandProfiler::attribute(const Trace& trace, const MeterWindow& window, const StoredTimeline& timeline,
                                   const EnergyFigure* total) const {
  return joulebench::attribute(trace, mode_, run_energy(window, timeline, total), AttributionOptions{interval_});
}

ProfiledMeasurement profile_command(SensorSet& sensors, const ProfileCommandOptions& options) {
  const TemporaryFolder work("profile");
  const CommandProfiler profiler(options.mode, options.measure.command.argv, options.interval, work.path());
  TimelineKeeper timeline;
  MeasureOptions measure = options.measure;
  profiler.apply(measure.command);
  measure.timeline = &timeline;

  ProfiledMeasurement result;
  result.measurement = measure_command(sensors, measure);
  Trace trace;
  try {
    trace = profiler.trace();
  } catch (const TraceError& e) {
    result.problem = e.what();
    return result;
  }
  if (options.keep_trace) {
    std::error_code ec;
    const fs::path& raw = options.mode == ProfileMode::perf ? profiler.command().perf_data : profiler.command().trace;
    fs::copy_file(raw, *options.keep_trace, fs::copy_options::overwrite_existing, ec);
    if (ec)
      result.notes.push_back(
          fmt::format("cannot keep the trace in {}: {}", options.keep_trace->string(), ec.message()));
  }
  const CommandMeasurement& m = result.measurement;
  result.profile = profiler.attribute(trace, m.window, timeline.timeline, m.total());
  result.profile->regions = m.run.regions;
  return result;
}

}  // namespace joulebench
