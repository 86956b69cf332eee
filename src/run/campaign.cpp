// The campaign runner: the protocol around each measured run, and the store after it.
#include "joulebench/campaign.hpp"

#include <csignal>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "events_channel.hpp"
#include "joulebench/container.hpp"
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

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string file_safe(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  }
  return out;
}

/// The sampling interval of profiled runs, and the meter's interval for them at most: energy
/// follows the functions only as closely as the power timeline does.
constexpr Seconds kProfileInterval{0.005};
constexpr Seconds kProfileMeterInterval{0.01};

/// Everything a run needs from the campaign around it.
struct RunContext {
  const CampaignPlan& plan;
  SensorSet& sensors;
  fs::path log_dir;       ///< this campaign's log folder
  fs::path store_folder;  ///< log paths are stored relative to it
  const IdleBaseline* idle = nullptr;
  std::optional<std::int64_t> idle_id;
  const std::atomic<int>* stop = nullptr;
  std::int64_t campaign = 0;
  /// Per workload (index into the plan): its container's image and runtime, asked before the first
  /// run, and the GPUs it uses.
  std::map<std::size_t, ContainerImage> images;
  std::map<std::size_t, SelectedGpus> gpus;
};

bool user_wants_stop(const RunContext& ctx) { return ctx.stop != nullptr && ctx.stop->load() >= 1; }
bool user_wants_kill(const RunContext& ctx) { return ctx.stop != nullptr && ctx.stop->load() >= 2; }

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

/// Reads a command's output into its logs while it runs, and, where there is an events channel,
/// its events (events_channel.hpp).
class OutputWatcher final : public CommandWatcher {
 public:
  /// With `with_events`, the events channel: inherited pipes, or, given `named_pipes` (a folder
  /// mounted into a container), named pipes made there.
  OutputWatcher(LogFiles& logs, OutputScanner* scanner, bool with_events, SpawnOptions& options,
                const fs::path* named_pipes = nullptr)
      : logs_(logs), scanner_(scanner) {
    options.foreground = false;
    options.stdout_fd = out_.write_fd;
    options.stderr_fd = err_.write_fd;
    if (with_events && named_pipes != nullptr) {
      events_.emplace(*named_pipes);
    } else if (with_events) {
      events_.emplace();
      events_->pass_to(options);
    }
  }

  /// The events channel (nothing without one).
  detail::EventsChannel* events() { return events_ ? &*events_ : nullptr; }

  void started(Meter& meter) override {
    out_.close_write();
    err_.close_write();
    if (events_) events_->started(meter);
    collector_.emplace(out_.read_fd, err_.read_fd, events_ ? events_->read_fd() : -1, &logs_.out_log, &logs_.err_log,
                       scanner_, [this](WorkloadEvent e) { on_event(std::move(e)); });
  }

  void finished() override {
    if (events_) events_->command_ended();
    if (collector_) {
      collector_->finish(detail::kOutputGrace);
      malformed_ = collector_->malformed_events();
      collector_.reset();
    }
  }

  std::size_t malformed() const { return malformed_; }

  /// What the events and the output said, into the record.
  void record(RunRecord& r, const MeterWindow& window) {
    if (events_) events_->record(r, window);
  }

 private:
  /// On the collector's thread: the events channel's events, and those found in the output.
  void on_event(WorkloadEvent e) {
    if (events_) events_->on_event(std::move(e));
  }

  LogFiles& logs_;
  OutputScanner* scanner_;
  detail::Pipe out_;
  detail::Pipe err_;
  std::optional<detail::EventsChannel> events_;
  std::optional<detail::OutputCollector> collector_;
  std::size_t malformed_ = 0;
};

/// Runs an unmeasured helper command (setup, prepare) with its output logged: started, watched
/// and cleaned up as a run is, its figures left unused. Nothing on success, else why it failed.
std::optional<std::string> run_helper(const RunContext& ctx, const WorkloadSpec& w,
                                      const std::vector<std::string>& argv, const std::string& stem) {
  LogFiles logs(ctx, stem);
  MeteredCommandOptions options;
  options.command.argv = resolve_joulebench(argv);
  options.command.working_directory = w.working_directory;
  options.command.environment = w.environment;
  options.interval = ctx.plan.interval;
  options.stop = ctx.stop;
  OutputWatcher watcher(logs, nullptr, false, options.command);
  options.watcher = &watcher;
  try {
    const MeteredCommand helper = run_metered(ctx.sensors, options);
    logs.finish();
    if (helper.process.status.signaled || helper.process.status.code != 0) {
      return fmt::format("{} (output in {})", helper.process.status.describe(), logs.err.path);
    }
    return std::nullopt;
  } catch (const LaunchError& e) {
    logs.finish();
    return e.what();
  }
}

/// The shortest interval before a run that says anything about the machine's quiet.
constexpr Seconds kShortestQuietCheck{0.5};

using detail::cores_text;

/// Notes how busy other processes kept the machine before the run (its cool-down), with a warning
/// where they used more than the plan allows.
void note_other_cpu_before(const RunContext& ctx, RunRecord& r, const std::optional<detail::OtherCpu>& before) {
  const double limit = ctx.plan.max_other_cpu_cores;
  if (!before || before->length < kShortestQuietCheck) return;
  r.other_cpu_before_cores = before->cores();
  if (before->busy(limit)) {
    // After what the run left running, before what happened while it ran.
    const auto after_leftovers = std::find_if(r.warnings.begin(), r.warnings.end(),
                                              [](const RunWarning& w) { return w.kind != kLeftoverProcesses; });
    r.warnings.insert(
        after_leftovers,
        RunWarning{kBusyMachine, fmt::format("other processes used {} in the {:.1f} s before the run (the plan "
                                             "allows {}): the machine was not quiet when it started",
                                             cores_text(before->cores()), before->length.count(), cores_text(limit))});
  }
}

/// What every run of a container workload records about its container.
KeyValues container_metadata(const ContainerImage& image) {
  KeyValues facts = {{"container.runtime", image.runtime},
                     {"container.runtime_version", image.runtime_version},
                     {"container.image", image.image},
                     {"container.image_id", image.id}};
  if (!image.digests.empty())
    facts.emplace_back("container.image_digest", fmt::format("{}", fmt::join(image.digests, " ")));
  return facts;
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
  MeteredCommandOptions options;
  options.command.argv = resolve_joulebench(w.command);
  options.command.working_directory = w.working_directory;
  options.command.environment = w.environment;
  options.interval = ctx.plan.interval;
  options.timeout = w.timeout;
  options.stop = ctx.stop;
  options.max_other_cpu_cores = ctx.plan.max_other_cpu_cores;
  const auto selected_gpus = ctx.gpus.find(run.workload);
  if (selected_gpus != ctx.gpus.end()) {
    options.gpus = selected_gpus->second.indices;
    if (!w.container) options.command.environment.push_back(cuda_visible_devices(selected_gpus->second));
  }
  // What joulebench knows of the run besides what the workload reports: its container, and its GPUs
  // (which of the stored timeline's GPU channels are the run's: the report's power figure leaves
  // the others out of its total). A run that never starts keeps them too.
  KeyValues run_facts;
  if (w.container) run_facts = container_metadata(ctx.images.at(run.workload));
  if (selected_gpus != ctx.gpus.end()) {
    run_facts.emplace_back(kGpusMetadata, fmt::format("{}", fmt::join(selected_gpus->second.indices, ",")));
  }
  r.metadata = run_facts;
  // A container's events channel: named pipes in a folder of the run's, mounted into it.
  std::optional<TemporaryFolder> container_folder;
  if (w.container) {
    container_folder.emplace("container");
    // Any user of the container may reach the pipes by name; nobody may list the folder.
    std::filesystem::permissions(container_folder->path(),
                                 fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  }
  OutputWatcher watcher(logs, &scanner, true, options.command, container_folder ? &container_folder->path() : nullptr);
  options.watcher = &watcher;
  std::optional<ContainerRun> container;
  if (w.container) {
    const ContainerImage& image = ctx.images.at(run.workload);
    ContainerRunOptions container_options;
    container_options.command = w.command;
    container_options.environment = w.environment;
    const KeyValues pipes = watcher.events()->container_variables();
    container_options.environment.insert(container_options.environment.end(), pipes.begin(), pipes.end());
    container_options.labels = {{"joulebench.campaign", std::to_string(ctx.campaign)},
                                {"joulebench.run", std::to_string(run.index)},
                                {"joulebench.workload", w.name}};
    if (selected_gpus != ctx.gpus.end()) container_options.gpu_uuids = selected_gpus->second.uuids;
    container_options.events_folder = container_folder->path();
    container_options.name_suffix = fmt::format("c{}-r{}", ctx.campaign, run.index);
    container.emplace(*w.container, image, container_options);
    options.command.argv = container->client_argv();
    options.container = &*container;
    watcher.events()->open_at_start(kContainerStartRegion);
  }
  const auto not_run = [&](const std::string& reason, const std::string& profile_problem) {
    logs.finish();
    r.status = RunStatus::not_run;
    r.reason = reason;
    if (!run.profile.empty())
      r.profile = StoredProfile{run.profile, "", false, kProfileInterval.count(), profile_problem, {}};
    r.stdout_log = logs.out;
    r.stderr_log = logs.err;
    return r;
  };

  // A profiled run: the profiler runs in the command's place, its files in the run's log folder.
  std::optional<CommandProfiler> profiler;
  const fs::path profile_dir = ctx.log_dir / fmt::format("{:05}-profile-{}", run.index, run.profile);
  struct RemoveFolder {
    const fs::path* folder = nullptr;
    ~RemoveFolder() {
      std::error_code ec;
      if (folder != nullptr) fs::remove_all(*folder, ec);
    }
  } remove_profile_dir;
  if (!run.profile.empty()) {
    remove_profile_dir.folder = &profile_dir;
    try {
      const auto mode = parse_profile_mode(run.profile);
      if (!mode) throw ProfilerError(fmt::format("unknown profile mode '{}'", run.profile));
      // The command may run as the invoking user (sudo): the profiler's files are its to write.
      create_folders(profile_dir);
      profiler.emplace(*mode, options.command.argv, kProfileInterval, profile_dir);
      profiler->apply(options.command);
    } catch (const std::exception& e) {
      return not_run(std::string("the profiler cannot run: ") + e.what(), e.what());
    }
    options.interval = std::min(ctx.plan.interval, kProfileMeterInterval);
  }

  TimelineKeeper timeline;  // kept compactly until the run is committed with it
  options.timeline = &timeline;
  std::optional<detail::OtherCpu> before;
  if (quiet_since) before = detail::other_cpu_since(ctx.sensors, *quiet_since);
  MeteredCommand metered;
  try {
    metered = run_metered(ctx.sensors, options);
  } catch (const LaunchError& e) {
    return not_run(e.what(), e.what());
  }
  logs.finish();
  if (metered.killed_on_request) return std::nullopt;

  r.malformed_events = watcher.malformed() + scanner.malformed();
  record_outcome(r, metered, ctx.idle, w.timeout,
                 fmt::format("the plan allows {}", cores_text(ctx.plan.max_other_cpu_cores)));
  note_other_cpu_before(ctx, r, before);
  r.timeline = std::move(timeline.timeline);
  if (profiler) {
    try {
      const Trace trace = profiler->trace();
      const EnergyFigure* total = find_energy(r.energy, DomainId::total());
      r.profile = stored_profile(profiler->attribute(trace, metered.window, r.timeline, total));
    } catch (const std::exception& e) {
      r.profile = StoredProfile{run.profile, "", false, kProfileInterval.count(), e.what(), {}};
    }
  }
  watcher.record(r, metered.window);  // the workload's own metadata (its framework version) first
  r.metadata.insert(r.metadata.end(), run_facts.begin(), run_facts.end());
  r.stdout_log = logs.out;
  r.stderr_log = logs.err;
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
    const double variance =
        std::max(0.0, (squares - static_cast<double>(n) * mean * mean) / static_cast<double>(n - 1));
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
/// With `per_gpu` (a workload names its GPUs), each GPU's idle power is recorded too, as
/// "gpu-<index>", since runs on different GPUs take their idle power from different ones.
std::pair<IdleBaseline, IdleRecord> idle_baseline(SensorSet& sensors, Seconds duration, Seconds interval,
                                                  bool per_gpu) {
  IdleRecord record;
  record.started_unix_s = unix_now();
  IdleBaseline baseline = measure_idle(sensors, duration, interval);
  record.duration_s = baseline.duration.count();
  record.complete = baseline.complete;
  for (const auto& e : baseline.energy) {
    if (const auto power = baseline.power(e.domain))
      record.power_w.emplace_back(std::string(domain_name(e.domain)), power->value);
  }
  if (per_gpu) {
    for (const auto& channel : baseline.channels) {
      if (channel.domain != Domain::gpu) continue;
      if (const auto power = baseline.channel_power(channel.id)) record.power_w.emplace_back(channel.id, power->value);
    }
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

PlanResources find_plan_resources(const CampaignPlan& plan, const SensorSet& sensors) {
  PlanResources found;
  for (std::size_t i = 0; i < plan.workloads.size(); ++i) {
    const WorkloadSpec& w = plan.workloads[i];
    if (!w.gpus.empty()) {
      try {
        found.gpus[i] = select_gpus(sensors, w.gpus);
      } catch (const std::invalid_argument& e) {
        throw PlanError(w.gpus_location.line > 0 ? w.gpus_location : w.location,
                        fmt::format("'gpus' of workload '{}': {}", w.name, e.what()));
      }
    }
    if (!w.container) continue;
    // A matrix repeats one image in many workloads: each is asked once.
    const auto same = std::find_if(found.images.begin(), found.images.end(), [&](const auto& known) {
      const ContainerSpec& other = *plan.workloads[known.first].container;
      return other.image == w.container->image && other.runtime == w.container->runtime;
    });
    if (same != found.images.end()) {
      found.images[i] = same->second;
      continue;
    }
    try {
      found.images[i] = inspect_container_image(*w.container);
    } catch (const std::exception& e) {
      throw PlanError(w.container->location.line > 0 ? w.container->location : w.location,
                      fmt::format("'container' of workload '{}': {}", w.name, e.what()));
    }
  }
  return found;
}

CampaignResult run_campaign(const CampaignPlan& plan, Store& store, SensorSet& sensors,
                            const CampaignOptions& options) {
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
          "{} holds campaign '{}' (shard {}, {} of {} runs recorded{}) from {}{}; this plan ({}, shard {}) is "
          "different. "
          "Use another --db, or --new to add a new campaign to this store.",
          store.file().string(), existing->name, existing->shard.text(), done, existing->planned_runs,
          existing->finished ? ", finished" : "", existing->plan_path.empty() ? "another plan" : existing->plan_path,
          existing->plan_hash != plan.hash ? fmt::format(" with plan hash {}", existing->plan_hash) : std::string(),
          plan.hash, options.shard.text()));
    }
    if (existing->finished) {
      throw CampaignConflict(
          fmt::format("{} already holds the finished campaign '{}' of this plan ({} runs). Use --new to "
                      "run it again in this store, or another --db.",
                      store.file().string(), existing->name, done));
    }
  }
  PlanResources resources = options.resources ? *options.resources : find_plan_resources(plan, sensors);
  const bool resuming = existing && !options.start_new;
  result.campaign = resuming ? existing->id
                             : store.create_campaign(plan, options.shard, runs.size(),
                                                     capture_environment(sensors, SensorPaths::from_environment()));
  const std::set<std::size_t> done = store.recorded_runs(result.campaign);
  result.done_before = done.size();
  CampaignObserver* observer = options.observer;
  if (observer) observer->started(*store.campaign(result.campaign), runs.size(), done.size());

  RunContext ctx{plan,
                 sensors,
                 log_folder(store.file()) / fmt::format("c{}", result.campaign),
                 fs::absolute(store.file()).parent_path(),
                 nullptr,
                 std::nullopt,
                 options.stop,
                 result.campaign,
                 std::move(resources.images),
                 std::move(resources.gpus)};
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
    auto [baseline, record] = idle_baseline(sensors, plan.idle, plan.interval, !ctx.gpus.empty());
    ctx.idle_id = store.record_idle(result.campaign, record);
    idle = std::move(baseline);
    idle_record = std::move(record);
    ctx.idle = &*idle;
  };

  std::map<std::size_t, std::optional<std::string>> setup_outcome;  // workload -> failure reason
  std::map<std::size_t, std::size_t> last_run;                      // workload -> its last run's index
  for (const PlannedRun& run : runs) last_run[run.workload] = run.index;
  // Workloads whose cleanup is owed: set up (or needing none) in this invocation, cleanup not run
  // yet. Paid after the workload's last run, or when the campaign stops before it.
  std::set<std::size_t> cleanup_due;
  auto clean_up = [&](std::size_t workload, std::string_view when) {
    const WorkloadSpec& w = plan.workloads[workload];
    if (observer) observer->note(fmt::format("cleanup of {}{}", w.name, when));
    if (auto failure = run_helper(ctx, w, w.cleanup, fmt::format("cleanup-{}", file_safe(w.name)))) {
      if (observer) observer->note(fmt::format("cleanup of {} failed: {}", w.name, *failure));
      result.failed_cleanups.emplace_back(w.name, std::move(*failure));
    }
  };
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
      if (!w.cleanup.empty() && !setup_outcome[run.workload]) cleanup_due.insert(run.workload);
    }
    if (user_wants_kill(ctx)) {
      // The setup was killed on request, not failed: a resumed campaign runs it again.
      setup_outcome.erase(run.workload);
      cleanup_due.erase(run.workload);
      result.interrupted = true;
      break;
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
      if (user_wants_kill(ctx)) {
        result.interrupted = true;  // the prepare command was killed on request: nothing is recorded
        break;
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
        if (observer)
          observer->note(fmt::format("run {} of {} killed on request: not recorded, it runs again on resume", position,
                                     runs.size()));
        break;
      }
      record->cooldown_s = cooldown;
    }
    store.record_run(result.campaign, *record);
    ++result.done_now;
    if (record->status != RunStatus::ok) ++result.not_ok;
    if (observer) observer->run_finished(*record, position, runs.size());
    if (run.index == last_run[run.workload] && cleanup_due.erase(run.workload) > 0) clean_up(run.workload, "");
    if (options.stop_at_first_failure && record->status != RunStatus::ok) {
      result.stopped_by = std::move(record);
      break;
    }
  }
  // Stopped early (Ctrl-C, a failure bench stops at): what was set up is cleaned up all the same,
  // unless the user asked to kill (a second Ctrl-C). A resumed campaign sets up again.
  if (!user_wants_kill(ctx)) {
    for (const std::size_t workload : cleanup_due) clean_up(workload, " (the campaign stopped before its last run)");
  }
  if (store.recorded_runs(result.campaign).size() == runs.size()) store.finish_campaign(result.campaign);
  return result;
}

}  // namespace joulebench
