// The campaign runner: the protocol around each measured run, and the store after it.
#include "joulebench/campaign.hpp"

#include <csignal>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/event_parser.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/process.hpp"
#include "joulebench/profile.hpp"
#include "joulebench/run.hpp"
#include "output_collector.hpp"
#include "run/other_cpu.hpp"

namespace joulebench {

namespace fs = std::filesystem;

fs::path log_folder(const fs::path& store_file) { return fs::path(store_file.string() + ".logs"); }

namespace {

/// The events descriptor's number in the workload: low, so that `>&3` works in any shell.
constexpr int kEventsFdInChild = 3;

/// How long output may keep arriving after the command exited (a leftover holding the pipes).
constexpr Seconds kOutputGrace{0.5};

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string file_safe(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  }
  return out;
}

StoredEnergy stored(const EnergyFigure& f) {
  return StoredEnergy{f.name,
                      f.energy.value,
                      f.source,
                      f.method,
                      f.estimated,
                      f.complete(),
                      f.unmeasured.count(),
                      f.dynamic_energy ? std::optional<double>(f.dynamic_energy->value) : std::nullopt,
                      f.problem,
                      f.measured_nothing};
}

/// A region's energy per domain (and total) from the channel energies at its two edges.
std::vector<StoredEnergy> region_energy(const std::vector<Channel>& channels, const std::vector<Joules>& begin,
                                        const std::vector<Joules>& end) {
  std::vector<StoredEnergy> out;
  StoredEnergy total{"total", 0, "", "", false, true, 0, std::nullopt, {}, false};
  for (std::size_t d = 0; d < kDomainCount; ++d) {
    const auto domain = static_cast<Domain>(d);
    std::optional<StoredEnergy> sum;
    for (std::size_t i = 0; i < channels.size() && i < begin.size() && i < end.size(); ++i) {
      if (channels[i].domain != domain) continue;
      if (!sum) {
        sum = StoredEnergy{std::string(domain_name(domain)), 0, channels[i].source, std::string(method_name(channels[i].method)),
                           channels[i].estimated, true, 0, std::nullopt, {}, false};
      }
      sum->energy_j += (end[i] - begin[i]).value;
    }
    if (!sum) continue;
    if (counts_toward_total(domain)) {
      total.energy_j += sum->energy_j;
      total.estimated = total.estimated || sum->estimated;
      if (total.source.find(sum->source) == std::string::npos) total.source += (total.source.empty() ? "" : "+") + sum->source;
      total.method = total.method.empty() || total.method == sum->method ? sum->method : "mixed";
    }
    out.push_back(std::move(*sum));
  }
  if (!out.empty()) out.push_back(total);
  return out;
}

/// Marks a region's figures incomplete where the run's timeline has an unmeasured interval of one
/// of their channels inside the region: read failures and stalled counters alike (a stall is only
/// found once it has lasted a second, after marks inside it were taken). Marks close timeline
/// intervals, so samples never straddle a region's edges.
void mark_unmeasured_regions(std::vector<StoredRegion>& regions, const std::vector<Channel>& channels,
                             const StoredTimeline& timeline, const std::vector<StoredEnergy>& run_energy) {
  const std::size_t n = timeline.channels.size();
  if (n != channels.size()) return;
  for (auto& region : regions) {
    std::vector<double> unmeasured(n, 0.0);
    double sample_start = 0;
    for (std::size_t s = 0; s < timeline.time_s.size(); ++s) {
      const double sample_end = timeline.time_s[s];
      const double overlap = std::min(sample_end, region.end_s) - std::max(sample_start, region.start_s);
      sample_start = sample_end;
      if (overlap <= 0) continue;
      for (std::size_t c = 0; c < n; ++c) {
        if (std::isnan(timeline.power_w[s * n + c])) unmeasured[c] += overlap;
      }
    }
    const double length = region.end_s - region.start_s;
    bool total_complete = true;
    bool total_nothing = true;
    double total_unmeasured = 0;
    std::string total_problem;
    for (auto& e : region.energy) {
      if (e.domain == "total") continue;
      bool nothing = true;
      for (std::size_t c = 0; c < n; ++c) {
        if (domain_name(channels[c].domain) != e.domain) continue;
        e.unmeasured_s = std::max(e.unmeasured_s, unmeasured[c]);
        nothing = nothing && unmeasured[c] >= length - 1e-6;
      }
      e.complete = e.unmeasured_s == 0;
      e.measured_nothing = nothing && length > 0 && !e.complete;
      if (const auto* whole = find_energy(run_energy, e.domain); whole != nullptr && !e.complete) e.problem = whole->problem;
      if (const auto domain = parse_domain(e.domain); domain && counts_toward_total(*domain)) {
        total_complete = total_complete && e.complete;
        total_nothing = total_nothing && e.measured_nothing;
        total_unmeasured = std::max(total_unmeasured, e.unmeasured_s);
        if (total_problem.empty()) total_problem = e.problem;
      }
    }
    for (auto& e : region.energy) {
      if (e.domain != "total") continue;
      e.complete = total_complete;
      e.measured_nothing = total_nothing && !total_complete;
      e.unmeasured_s = total_unmeasured;
      e.problem = total_problem;
    }
  }
}

/// The sampling interval of profiled runs, and the meter's interval for them at most: energy
/// follows the functions only as closely as the power timeline does.
constexpr Seconds kProfileInterval{0.005};
constexpr Seconds kProfileMeterInterval{0.01};

/// A profiled run's profiler: the rewritten command, its files, and what went wrong.
struct ProfileSetup {
  ProfileMode mode = ProfileMode::python;
  fs::path work_dir;
  std::optional<ProfiledCommand> command;
  std::string problem;
};

/// Everything a run needs from the campaign around it.
struct RunContext {
  const CampaignPlan& plan;
  SensorSet& sensors;
  fs::path log_dir;       ///< this campaign's log folder
  fs::path store_folder;  ///< log paths are stored relative to it
  const IdleBaseline* idle = nullptr;
  std::optional<std::int64_t> idle_id;
  const std::atomic<int>* stop = nullptr;
};

bool user_wants_kill(const RunContext& ctx) { return ctx.stop != nullptr && ctx.stop->load() >= 2; }
bool user_wants_stop(const RunContext& ctx) { return ctx.stop != nullptr && ctx.stop->load() >= 1; }

/// Kills the command's group if the user asks for it while `child` runs.
class KillOnRequest {
 public:
  KillOnRequest(const RunContext& ctx, pid_t group) {
    if (ctx.stop == nullptr) return;
    thread_ = std::thread([this, &ctx, group] {
      std::unique_lock lock(mutex_);
      while (!done_) {
        if (user_wants_kill(ctx)) {
          killed_ = true;
          ::kill(-group, SIGKILL);
          return;
        }
        wake_.wait_for(lock, std::chrono::milliseconds(50));
      }
    });
  }
  ~KillOnRequest() { finish(); }
  void finish() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  bool killed() const { return killed_; }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::atomic<bool> killed_{false};
  std::thread thread_;
};

struct LogFiles {
  StoredLog out;
  StoredLog err;
  detail::BoundedLog out_log;
  detail::BoundedLog err_log;
  LogFiles(const RunContext& ctx, const std::string& stem)
      : out{relative(ctx, stem + ".stdout"), 0, 0},
        err{relative(ctx, stem + ".stderr"), 0, 0},
        out_log(ctx.log_dir / (stem + ".stdout"), kLogHeadBytes, kLogTailBytes),
        err_log(ctx.log_dir / (stem + ".stderr"), kLogHeadBytes, kLogTailBytes) {}
  void finish() {
    out_log.finish();
    err_log.finish();
    out.bytes = out_log.bytes();
    out.dropped = out_log.dropped();
    err.bytes = err_log.bytes();
    err.dropped = err_log.dropped();
  }
  static std::string relative(const RunContext& ctx, const std::string& file) {
    return fs::relative(ctx.log_dir / file, ctx.store_folder).string();
  }
};

/// Runs an unmeasured helper command (setup, prepare) with its output logged. Nothing on
/// success, else why it failed.
std::optional<std::string> run_helper(const RunContext& ctx, const WorkloadSpec& w, const std::vector<std::string>& argv,
                                      const std::string& stem) {
  LogFiles logs(ctx, stem);
  detail::Pipe out;
  detail::Pipe err;
  SpawnOptions options;
  options.argv = resolve_joulebench(argv);
  options.working_directory = w.working_directory;
  options.environment = w.environment;
  options.foreground = false;
  options.stdout_fd = out.write_fd;
  options.stderr_fd = err.write_fd;
  try {
    ChildProcess child = ChildProcess::start(options);
    out.close_write();
    err.close_write();
    detail::OutputCollector collector(out.read_fd, err.read_fd, -1, logs.out_log, logs.err_log, nullptr, [](WorkloadEvent) {});
    KillOnRequest kill(ctx, child.pid());
    const ProcessOutcome outcome = child.wait();
    kill.finish();
    collector.finish(kOutputGrace);
    logs.finish();
    if (outcome.status.signaled || outcome.status.code != 0) {
      return fmt::format("{} (output in {})", outcome.status.describe(), logs.err.path);
    }
    return std::nullopt;
  } catch (const LaunchError& e) {
    return e.what();
  }
}

/// The shortest interval before a run that says anything about the machine's quiet.
constexpr Seconds kShortestQuietCheck{0.5};

std::string cores_text(double cores) { return fmt::format("{:.2f} core{}", cores, cores == 1.0 ? "" : "s"); }

/// Notes how busy other processes kept the machine before and during the run, with a warning
/// where they used more than the plan allows.
void note_other_cpu(const RunContext& ctx, RunRecord& r, const std::optional<detail::OtherCpu>& before,
                    const std::optional<detail::OtherCpu>& during) {
  const double limit = ctx.plan.max_other_cpu_cores;
  if (before && before->length >= kShortestQuietCheck) {
    r.other_cpu_before_cores = before->cores();
    if (before->busy(limit)) {
      r.warnings.push_back({kBusyMachine, fmt::format("other processes used {} in the {:.1f} s before the run (the plan "
                                                      "allows {}): the machine was not quiet when it started",
                                                      cores_text(before->cores()), before->length.count(), cores_text(limit))});
    }
  }
  if (during) {
    r.other_cpu_cores = during->cores();
    if (during->busy(limit)) {
      r.warnings.push_back({kBusyMachine, fmt::format("other processes used {} while the run ran (the plan allows {}): "
                                                      "its energy figures include theirs",
                                                      cores_text(during->cores()), cores_text(limit))});
    }
  }
}

/// The outcome of one measured run: its record, or nothing if the user killed it (it is then
/// not recorded, and a resumed campaign runs it again).
std::optional<RunRecord> execute_run(const RunContext& ctx, const PlannedRun& run, const WorkloadSpec& w,
                                     const std::optional<detail::OtherCpuMark>& quiet_since) {
  RunRecord r;
  r.index = run.index;
  r.workload = w.name;
  r.labels = w.labels;
  r.repetition = run.repetition;
  r.warmup = run.warmup;
  r.idle_baseline = ctx.idle_id;
  r.started_unix_s = unix_now();

  OutputScanner scanner(w.parsers);
  LogFiles logs(ctx, fmt::format("{:05}-{}", run.index, file_safe(w.name)));
  detail::Pipe out;
  detail::Pipe err;
  detail::Pipe events;
  SpawnOptions options;
  options.argv = resolve_joulebench(w.command);
  options.working_directory = w.working_directory;
  options.environment = w.environment;
  options.environment.emplace_back(kEventsFdVariable, std::to_string(kEventsFdInChild));
  options.foreground = false;
  options.stdout_fd = out.write_fd;
  options.stderr_fd = err.write_fd;
  options.inherited_fds = {{events.write_fd, kEventsFdInChild}};

  std::optional<ProfileSetup> profiler;
  if (!run.profile.empty()) {
    profiler.emplace();
    profiler->mode = parse_profile_mode(run.profile).value_or(ProfileMode::perf);
    profiler->work_dir = ctx.log_dir / fmt::format("{:05}-profile-{}", run.index, run.profile);
    try {
      // The command may run as the invoking user (sudo): the profiler's files are its to write.
      create_folders(profiler->work_dir);
      profiler->command = profiled_command(profiler->mode, options.argv, kProfileInterval, profiler->work_dir);
      options.argv = profiler->command->argv;
      options.environment.insert(options.environment.end(), profiler->command->environment.begin(),
                                 profiler->command->environment.end());
    } catch (const std::exception& e) {
      profiler->problem = e.what();
    }
  }
  const auto cleanup_profiler = [&] {
    std::error_code ec;
    if (profiler) fs::remove_all(profiler->work_dir, ec);
  };
  if (profiler && !profiler->problem.empty()) {
    logs.finish();
    cleanup_profiler();
    r.status = RunStatus::not_run;
    r.reason = "the profiler cannot run: " + profiler->problem;
    r.profile = StoredProfile{run.profile, "", false, kProfileInterval.count(), profiler->problem, {}};
    r.stdout_log = logs.out;
    r.stderr_log = logs.err;
    return r;
  }

  TimelineKeeper timeline;  // kept compactly until the run is committed with it
  Meter meter(ctx.sensors, MeterOptions{profiler ? std::min(ctx.plan.interval, kProfileMeterInterval) : ctx.plan.interval, &timeline});
  const std::vector<Channel> channels(ctx.sensors.channels().begin(), ctx.sensors.channels().end());

  // Events arrive on the collector's thread; regions are measured with the meter's marks.
  std::mutex events_mutex;
  std::vector<std::pair<std::string, Meter::Mark>> open_regions;
  std::vector<StoredRegion> regions;
  std::map<std::string, StoredMetric> metrics;
  std::vector<std::string> metric_order;
  auto on_event = [&](WorkloadEvent e) {
    std::optional<Meter::Mark> mark;
    if (e.kind == WorkloadEvent::Kind::region_begin || e.kind == WorkloadEvent::Kind::region_end) mark = meter.mark();
    std::lock_guard lock(events_mutex);
    switch (e.kind) {
      case WorkloadEvent::Kind::region_begin:
        open_regions.emplace_back(e.name, std::move(*mark));
        break;
      case WorkloadEvent::Kind::region_end: {
        const auto it = std::find_if(open_regions.rbegin(), open_regions.rend(), [&](const auto& o) { return o.first == e.name; });
        if (it == open_regions.rend()) break;  // an end without a begin is ignored
        regions.push_back(StoredRegion{e.name, it->second.time.count(), mark->time.count(),
                                       region_energy(channels, it->second.energy, mark->energy)});
        open_regions.erase(std::next(it).base());
        break;
      }
      case WorkloadEvent::Kind::metric:
        if (!metrics.contains(e.name)) metric_order.push_back(e.name);
        metrics[e.name] = StoredMetric{e.name, e.value, e.unit, e.origin};
        break;
      case WorkloadEvent::Kind::metadata: {
        const auto it = std::find_if(r.metadata.begin(), r.metadata.end(), [&](const auto& kv) { return kv.first == e.name; });
        if (it != r.metadata.end()) it->second = e.text;
        else r.metadata.emplace_back(e.name, e.text);
        break;
      }
    }
  };

  std::optional<detail::OtherCpu> before;
  if (quiet_since) before = detail::other_cpu_since(ctx.sensors, *quiet_since);
  const auto run_mark = detail::mark_other_cpu(ctx.sensors);
  meter.start();
  std::optional<ChildProcess> child;
  try {
    child.emplace(ChildProcess::start(options));
  } catch (const LaunchError& e) {
    meter.stop();
    logs.finish();
    cleanup_profiler();
    r.status = RunStatus::not_run;
    r.reason = e.what();
    if (profiler) r.profile = StoredProfile{run.profile, "", false, kProfileInterval.count(), e.what(), {}};
    r.stdout_log = logs.out;
    r.stderr_log = logs.err;
    return r;
  }
  out.close_write();
  err.close_write();
  events.close_write();
  ProcessOutcome outcome;
  MeterWindow window;
  bool killed_by_user = false;
  std::optional<detail::OtherCpu> during;
  {
    detail::OutputCollector collector(out.read_fd, err.read_fd, events.read_fd, logs.out_log, logs.err_log, &scanner,
                                      on_event);
    KillOnRequest kill(ctx, child->pid());
    // Whatever the run left running is killed in wait(), once the meter has stopped.
    outcome = child->wait(w.timeout, [&] { window = meter.stop(); });
    if (run_mark) during = detail::other_cpu_since(ctx.sensors, *run_mark, outcome.cpu());
    kill.finish();
    killed_by_user = kill.killed();
    collector.finish(kOutputGrace);
    r.malformed_events = collector.malformed_events() + scanner.malformed();
  }
  logs.finish();
  if (killed_by_user) {
    cleanup_profiler();
    return std::nullopt;
  }

  r.time_s = outcome.wall().count();
  r.user_cpu_s = outcome.user_cpu.count();
  r.system_cpu_s = outcome.system_cpu.count();
  r.max_rss_kib = outcome.max_rss_kib;
  if (outcome.timed_out) {
    r.status = RunStatus::timed_out;
    r.signal = outcome.status.signal;
    r.reason = fmt::format("killed after its timeout of {:g} s", w.timeout->count());
  } else if (outcome.status.signaled) {
    r.status = RunStatus::signaled;
    r.signal = outcome.status.signal;
    r.reason = outcome.status.describe();
  } else {
    r.exit_code = outcome.status.code;
    r.status = outcome.status.code == 0 ? RunStatus::ok : RunStatus::failed;
    if (outcome.status.code != 0) r.reason = outcome.status.describe();
  }
  if (!outcome.leftovers.empty()) {
    r.warnings.push_back({kLeftoverProcesses,
                          fmt::format("left {} process{} running, killed after the run: {}", outcome.leftovers.size(),
                                      outcome.leftovers.size() == 1 ? "" : "es", fmt::join(outcome.leftovers, ", "))});
  }
  note_other_cpu(ctx, r, before, during);

  const auto figures = energy_figures(window, ctx.idle, cpu_share(outcome, window));
  for (const auto& f : figures) r.energy.push_back(stored(f));
  const EnergyFigure total = total_figure(figures, window.duration());
  if (!figures.empty()) r.energy.push_back(stored(total));
  if (profiler) {
    try {
      const Trace trace = collect_trace(*profiler->command, profiler->mode);
      const Profile profile = attribute(trace, profiler->mode, run_energy(window, timeline.timeline, total),
                                        AttributionOptions{kProfileInterval});
      r.profile = stored_profile(profile);
    } catch (const std::exception& e) {
      r.profile = StoredProfile{run.profile, "", false, kProfileInterval.count(), e.what(), {}};
    }
    cleanup_profiler();
  }

  // Regions still open when the command ended close with it.
  std::vector<Joules> end_energy;
  for (const auto& t : window.totals) end_energy.push_back(t.energy);
  for (const auto& [name, begin] : open_regions) {
    regions.push_back(StoredRegion{name, begin.time.count(), window.duration().count(),
                                   region_energy(channels, begin.energy, end_energy)});
  }
  std::sort(regions.begin(), regions.end(), [](const auto& a, const auto& b) { return a.start_s < b.start_s; });
  mark_unmeasured_regions(regions, channels, timeline.timeline, r.energy);
  r.regions = std::move(regions);
  for (const auto& name : metric_order) r.metrics.push_back(metrics[name]);
  r.stdout_log = logs.out;
  r.stderr_log = logs.err;
  r.timeline = std::move(timeline.timeline);
  return r;
}

/// Total power over the sources counted in the total, as sampled: what "stable" is judged on.
class PowerWatcher final : public TimelineSink {
 public:
  void begin(std::span<const Channel> channels) override {
    for (const auto& c : channels) in_total_.push_back(counts_toward_total(c.domain));
  }
  void add(const TimelineSample& sample) override {
    double watts = 0;
    for (std::size_t i = 0; i < sample.channels.size(); ++i) {
      if (!in_total_[i]) continue;
      if (!sample.channels[i].counted) return;
      watts += sample.channels[i].power.value;
    }
    std::lock_guard lock(mutex_);
    samples_.emplace_back(sample.time.count(), watts);
  }
  /// The coefficient of variation of the samples in the last `window` seconds.
  std::optional<double> cv(double window) {
    std::lock_guard lock(mutex_);
    if (samples_.size() < 3) return std::nullopt;
    const double since = samples_.back().first - window;
    double sum = 0;
    double squares = 0;
    std::size_t n = 0;
    for (auto it = samples_.rbegin(); it != samples_.rend() && it->first >= since; ++it, ++n) {
      sum += it->second;
      squares += it->second * it->second;
    }
    if (n < 3 || sum <= 0) return std::nullopt;
    const double mean = sum / static_cast<double>(n);
    const double variance = std::max(0.0, (squares - static_cast<double>(n) * mean * mean) / static_cast<double>(n - 1));
    return std::sqrt(variance) / mean;
  }

 private:
  std::vector<bool> in_total_;
  std::mutex mutex_;
  std::vector<std::pair<double, double>> samples_;
};

/// Waits between runs as the plan says; returns how long it waited.
double cool_down(const RunContext& ctx, const std::optional<IdleRecord>& idle, CampaignObserver* observer) {
  const Cooldown& c = ctx.plan.cooldown;
  const auto start = Clock::now();
  auto elapsed = [&] { return Seconds(Clock::now() - start).count(); };
  if (c.kind == Cooldown::Kind::fixed) {
    const auto end = start + std::chrono::duration_cast<Clock::duration>(c.fixed);
    while (Clock::now() < end && !user_wants_stop(ctx)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return elapsed();
  }
  PowerWatcher watcher;
  Meter meter(ctx.sensors, MeterOptions{Seconds(0.1), &watcher, true});
  meter.start();
  std::string verdict;
  while (!user_wants_stop(ctx)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const double t = elapsed();
    if (t >= c.max.count()) {
      verdict = fmt::format("not stable after the maximum of {:g} s", c.max.count());
      break;
    }
    if (t < c.window.count()) continue;
    const auto cv = watcher.cv(c.window.count());
    if (!cv || *cv > c.max_cv) continue;
    const Temperatures now = ctx.sensors.temperatures();
    const bool cpu_cool = !idle || !idle->cpu_temperature_c || !now.cpu_c ||
                          *now.cpu_c <= *idle->cpu_temperature_c + c.max_temperature_rise_c;
    const bool gpu_cool = !idle || !idle->gpu_temperature_c || !now.gpu_c ||
                          *now.gpu_c <= *idle->gpu_temperature_c + c.max_temperature_rise_c;
    if (cpu_cool && gpu_cool) {
      verdict = fmt::format("stable after {:.1f} s (power CV {:.3f})", t, *cv);
      break;
    }
  }
  meter.stop();
  if (observer != nullptr && !verdict.empty()) observer->note("cool-down " + verdict);
  return elapsed();
}

/// Measures idle power and records it.
std::pair<IdleBaseline, IdleRecord> idle_baseline(SensorSet& sensors, Seconds duration, Seconds interval) {
  IdleRecord record;
  record.started_unix_s = unix_now();
  IdleBaseline baseline = measure_idle(sensors, duration, interval);
  record.duration_s = baseline.duration.count();
  record.complete = baseline.complete;
  for (const auto& e : baseline.energy) {
    if (const auto power = baseline.power(e.domain)) record.power_w.emplace_back(std::string(domain_name(e.domain)), power->value);
  }
  const Temperatures t = sensors.temperatures();
  record.cpu_temperature_c = t.cpu_c;
  record.gpu_temperature_c = t.gpu_c;
  return {std::move(baseline), std::move(record)};
}

}  // namespace

void check_plan_before_running(const CampaignPlan& plan) {
  // Bad regexes stop the campaign before anything runs, not in the middle. A matrix repeats one
  // template's parsers in every workload: each pattern is compiled once.
  std::set<std::pair<int, int>> checked;
  for (const auto& w : plan.workloads) {
    // Every run would fail to start (its setup and prepare commands too, which run there).
    std::error_code ec;
    if (w.working_directory && !fs::is_directory(*w.working_directory, ec)) {
      throw PlanError(w.working_directory_location.line > 0 ? w.working_directory_location : w.location,
                      fmt::format("'cwd' of workload '{}': {} is not a folder{}", w.name, w.working_directory->string(),
                                  fs::exists(*w.working_directory, ec) ? "" : " (it does not exist)"));
    }
    for (const auto& parser : w.parsers) {
      if (!checked.emplace(parser.location.line, parser.location.column).second) continue;
      try {
        OutputScanner check({parser});
      } catch (const std::invalid_argument& e) {
        throw PlanError(parser.location.line > 0 ? parser.location : w.location, fmt::format("'regex': {}", e.what()));
      }
    }
  }
}

CampaignResult run_campaign(const CampaignPlan& plan, Store& store, SensorSet& sensors, const CampaignOptions& options) {
  const std::vector<PlannedRun> runs = shard_runs(schedule_runs(plan), options.shard);
  check_plan_before_running(plan);

  CampaignResult result;
  result.planned = runs.size();
  std::optional<CampaignInfo> existing;
  const auto campaigns = store.campaigns();
  if (!campaigns.empty()) existing = campaigns.back();
  if (existing && !options.start_new) {
    const std::size_t done = store.recorded_runs(existing->id).size();
    if (existing->plan_hash != plan.hash || !(existing->shard == options.shard)) {
      throw CampaignConflict(fmt::format(
          "{} holds campaign '{}' (shard {}, {} of {} runs recorded{}) from {}{}; this plan ({}, shard {}) is different. "
          "Use another --db, or --new to add a new campaign to this store.",
          store.file().string(), existing->name, existing->shard.text(), done, existing->planned_runs,
          existing->finished ? ", finished" : "", existing->plan_path.empty() ? "another plan" : existing->plan_path,
          existing->plan_hash != plan.hash ? fmt::format(" with plan hash {}", existing->plan_hash) : std::string(),
          plan.hash, options.shard.text()));
    }
    if (existing->finished) {
      throw CampaignConflict(fmt::format("{} already holds the finished campaign '{}' of this plan ({} runs). Use --new to "
                                         "run it again in this store, or another --db.",
                                         store.file().string(), existing->name, done));
    }
  }
  const bool resuming = existing && !options.start_new;
  result.campaign = resuming ? existing->id
                             : store.create_campaign(plan, options.shard, runs.size(), capture_environment(sensors, SensorPaths::from_environment()));
  const std::set<std::size_t> done = store.recorded_runs(result.campaign);
  result.done_before = done.size();
  CampaignObserver* observer = options.observer;
  if (observer) observer->started(*store.campaign(result.campaign), runs.size(), done.size());

  RunContext ctx{plan, sensors, log_folder(store.file()) / fmt::format("c{}", result.campaign),
                 fs::absolute(store.file()).parent_path(), nullptr, std::nullopt, options.stop};
  std::optional<IdleBaseline> idle;
  std::optional<IdleRecord> idle_record;
  // A counter that never moves is known only after it stood still for kStalledCounterTime: without
  // an idle baseline that long, the counters are watched once before the first run, so the first
  // runs are judged as the later ones are (a frozen counter measures nothing in any of them).
  bool watched = false;
  // Where the quiet before the next run is measured from: the idle baseline or cool-down before it.
  std::optional<detail::OtherCpuMark> quiet_since;
  auto take_idle = [&] {
    quiet_since = detail::mark_other_cpu(sensors);
    if (!watched && plan.idle < kStalledCounterTime + Seconds(0.2) &&
        std::any_of(sensors.channels().begin(), sensors.channels().end(), watched_for_stalls)) {
      if (observer) observer->note("watching the energy counters for a second before the first run");
      watch_channels(sensors, plan.interval);
    }
    watched = true;
    if (plan.idle.count() <= 0) return;
    if (observer) observer->note(fmt::format("idle baseline: {:g} s with nothing running", plan.idle.count()));
    auto [baseline, record] = idle_baseline(sensors, plan.idle, plan.interval);
    ctx.idle_id = store.record_idle(result.campaign, record);
    idle = std::move(baseline);
    idle_record = std::move(record);
    ctx.idle = &*idle;
  };

  std::map<std::size_t, std::optional<std::string>> setup_outcome;  // workload -> failure reason
  bool ran_one = false;
  std::size_t runs_since_idle = 0;
  std::size_t position = done.size();
  for (const PlannedRun& run : runs) {
    if (done.contains(run.index)) continue;
    if (user_wants_stop(ctx)) {
      result.interrupted = true;
      break;
    }
    if (!watched) take_idle();
    const WorkloadSpec& w = plan.workloads[run.workload];
    ++position;

    if (!setup_outcome.contains(run.workload)) {
      setup_outcome[run.workload] = std::nullopt;
      if (!w.setup.empty()) {
        if (observer) observer->note(fmt::format("setup of {}", w.name));
        setup_outcome[run.workload] = run_helper(ctx, w, w.setup, fmt::format("setup-{}", file_safe(w.name)));
      }
    }
    std::optional<std::string> not_run_reason;
    if (const auto& failure = setup_outcome[run.workload]) not_run_reason = "setup failed: " + *failure;

    double cooldown = 0;
    if (!not_run_reason) {
      if (plan.idle_every_runs && runs_since_idle >= static_cast<std::size_t>(*plan.idle_every_runs)) {
        take_idle();
        runs_since_idle = 0;
      }
      if (ran_one) {
        quiet_since = detail::mark_other_cpu(sensors);
        cooldown = cool_down(ctx, idle_record, observer);
      }
      if (user_wants_stop(ctx)) {
        result.interrupted = true;
        break;
      }
      if (!w.prepare.empty()) {
        if (const auto failure = run_helper(ctx, w, w.prepare, fmt::format("{:05}-prepare", run.index))) {
          not_run_reason = "prepare failed: " + *failure;
        }
      }
    }

    if (observer) observer->run_started(run, w, position, runs.size());
    std::optional<RunRecord> record;
    if (not_run_reason) {
      record.emplace();
      record->index = run.index;
      record->workload = w.name;
      record->labels = w.labels;
      record->repetition = run.repetition;
      record->warmup = run.warmup;
      record->status = RunStatus::not_run;
      record->reason = *not_run_reason;
      record->started_unix_s = unix_now();
      // Still flagged as profiled, so that it never counts among the measured runs.
      if (!run.profile.empty()) record->profile = StoredProfile{run.profile, "", false, 0, *not_run_reason, {}};
    } else {
      record = execute_run(ctx, run, w, quiet_since);
      quiet_since.reset();
      ran_one = true;
      ++runs_since_idle;
      if (!record) {
        result.interrupted = true;
        if (observer) observer->note(fmt::format("run {} of {} killed on request: not recorded, it runs again on resume", position, runs.size()));
        break;
      }
      record->cooldown_s = cooldown;
    }
    store.record_run(result.campaign, *record);
    ++result.done_now;
    if (record->status != RunStatus::ok) ++result.not_ok;
    if (observer) observer->run_finished(*record, position, runs.size());
  }
  if (store.recorded_runs(result.campaign).size() == runs.size()) store.finish_campaign(result.campaign);
  return result;
}

}  // namespace joulebench
