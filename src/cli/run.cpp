#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/campaign.hpp"
#include "joulebench/plan.hpp"
#include "joulebench/process.hpp"
#include "joulebench/store.hpp"

namespace joulebench::cli {

namespace {

std::atomic<int> stop_requests{0};

void on_interrupt(int) {
  const int n = ++stop_requests;
  const char* message = n == 1 ? "\njoulebench: stopping after the current run (Ctrl-C again to kill it)\n"
                               : "\njoulebench: killing the current run\n";
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, message, std::char_traits<char>::length(message));
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string run_label(const RunRecord& r) {
  if (r.profile) return fmt::format("{} profile {}", r.workload, r.profile->mode);
  return fmt::format("{} {} {}", r.workload, r.warmup ? "warm-up" : "rep", r.repetition);
}

std::string energy_text(const RunRecord& r) {
  if (r.status == RunStatus::not_run) return "not measured";
  const EnergyFigure* total = find_energy(r.energy, DomainId::total());
  if (total == nullptr) return "no energy source";
  return fmt::format("{:.1f} J{}", total->energy_j, total->estimated ? " (estimated)" : "");
}

/// Progress for people: a live line on a terminal, plain log lines otherwise.
class ProgressPrinter final : public CampaignObserver {
 public:
  ProgressPrinter() : live_(::isatty(STDERR_FILENO) != 0) {}
  ~ProgressPrinter() override { stop_ticker(); }

  void started(const CampaignInfo& c, std::size_t total, std::size_t already_done) override {
    campaign_start_ = Clock::now();
    remaining_at_start_ = total - already_done;
    print_line(already_done > 0 ? fmt::format("resuming campaign '{}' (id {}): {} of {} runs already recorded", c.name,
                                              c.id, already_done, total)
                                : fmt::format("campaign '{}' (id {}): {} runs", c.name, c.id, total));
  }

  void note(const std::string& text) override { print_line(text); }

  void run_started(const PlannedRun& run, const WorkloadSpec& w, std::size_t position, std::size_t total) override {
    std::lock_guard lock(mutex_);
    current_ = run.profile.empty() ? fmt::format("[{}/{}] {} {} {}", position, total, w.name,
                                                 run.warmup ? "warm-up" : "rep", run.repetition)
                                   : fmt::format("[{}/{}] {} profile {}", position, total, w.name, run.profile);
    run_start_ = Clock::now();
    if (live_) start_ticker();
  }

  void run_finished(const RunRecord& r, std::size_t position, std::size_t total) override {
    stop_ticker();
    ++finished_;
    last_ = fmt::format("{}: {}, {:.2f} s, {}", run_label(r), run_status_name(r.status), r.time_s, energy_text(r));
    std::string line = fmt::format("[{}/{}] {}", position, total, last_);
    if (!r.reason.empty() && r.status != RunStatus::ok) line += fmt::format(" ({})", r.reason);
    print_line(line);
  }

 private:
  void print_line(const std::string& text) {
    std::lock_guard lock(mutex_);
    if (live_) std::fputs("\r\033[K", stderr);
    std::fprintf(stderr, "%s\n", text.c_str());
    if (live_ && !current_.empty() && ticker_.joinable()) draw_locked();
    std::fflush(stderr);
  }

  void draw_locked() {
    const double run_elapsed = Seconds(Clock::now() - run_start_).count();
    const double campaign_elapsed = Seconds(Clock::now() - campaign_start_).count();
    std::string eta = "ETA unknown";
    if (finished_ > 0) {
      const double per_run = campaign_elapsed / static_cast<double>(finished_);
      eta = "ETA " + clock_text(per_run * static_cast<double>(remaining_at_start_ - finished_));
    }
    std::fprintf(stderr, "\r\033[K%s  %s  | campaign %s, %s%s", current_.c_str(), clock_text(run_elapsed).c_str(),
                 clock_text(campaign_elapsed).c_str(), eta.c_str(),
                 last_.empty() ? "" : ("  | last: " + last_).c_str());
    std::fflush(stderr);
  }

  void start_ticker() {
    ticking_ = true;
    ticker_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      while (ticking_) {
        draw_locked();
        tick_.wait_for(lock, std::chrono::seconds(1));
      }
    });
  }

  void stop_ticker() {
    {
      std::lock_guard lock(mutex_);
      ticking_ = false;
    }
    tick_.notify_all();
    if (ticker_.joinable()) ticker_.join();
  }

  bool live_;
  std::mutex mutex_;
  std::condition_variable tick_;
  std::thread ticker_;
  bool ticking_ = false;
  std::string current_;
  std::string last_;
  Clock::time_point campaign_start_{};
  Clock::time_point run_start_{};
  std::size_t remaining_at_start_ = 0;
  std::size_t finished_ = 0;
};

std::string duration_text(double seconds) {
  if (seconds < 90) return fmt::format("{:.0f} s", seconds);
  if (seconds < 5400) return fmt::format("{:.0f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

/// The resolved run list, and how long it should take: run times from earlier runs of the same
/// workloads in the store where there are any, plus the protocol's idle and cool-down time.
int dry_run(const CampaignPlan& plan, const Shard& shard, const std::filesystem::path& db) {
  const CampaignPreview preview = preview_campaign(plan, shard, db);
  for (const auto& [workload, why] : preview.missing_programs) {
    std::fprintf(stderr, "joulebench: warning: workload '%s': %s: its runs would be recorded as not run\n",
                 workload.c_str(), why.c_str());
  }
  std::printf("campaign '%s': %zu runs (shard %s), order %s, seed %llu, plan %s\n", plan.name.c_str(),
              preview.runs.size(), shard.text().c_str(), std::string(run_order_name(plan.order)).c_str(),
              static_cast<unsigned long long>(plan.seed), plan.hash.c_str());
  std::printf("%6s  %-28s %-10s %s\n", "index", "workload", "run", "command");
  for (const auto& r : preview.runs) {
    const auto& w = plan.workloads[r.workload];
    std::string command;
    for (const auto& arg : w.command) command += (command.empty() ? "" : " ") + arg;
    std::printf("%6zu  %-28s %-10s %s\n", r.index, w.name.c_str(),
                r.profile.empty() ? fmt::format("{} {}", r.warmup ? "warm-up" : "rep", r.repetition).c_str()
                                  : ("profile " + r.profile).c_str(),
                command.c_str());
  }
  std::printf("\nestimated duration: %s of protocol (idle baselines, cool-downs%s)",
              duration_text(preview.protocol_s).c_str(),
              plan.cooldown.kind == Cooldown::Kind::until_stable
                  ? fmt::format(": until stable, counted at its {:g} s window, at most {:g} s",
                                plan.cooldown.window.count(), plan.cooldown.max.count())
                        .c_str()
                  : "");
  if (preview.measured_before > 0) {
    std::printf(" + %s of runs (medians of earlier runs in %s)", duration_text(preview.measured_before_s).c_str(),
                db.string().c_str());
  }
  if (preview.never_measured > 0) {
    std::printf(
        " + %zu runs never measured before%s", preview.never_measured,
        preview.unbounded
            ? " (no timeout bounds them)"
            : fmt::format(" (at most {} by their timeouts)", duration_text(preview.never_measured_bound_s)).c_str());
  }
  std::printf("\n");
  return 0;
}

struct RunArguments {
  std::string plan;
  std::string db;
  std::string shard = "1/1";
  bool dry_run = false;
  bool start_new = false;
  bool wait = false;
  std::optional<int> repetitions;
  std::optional<int> warmup;
  std::string cooldown;
  std::string idle;
};

int run_command(const RunArguments& args) {
  CampaignPlan plan = load_plan(args.plan);
  PlanOverrides overrides;
  overrides.repetitions = args.repetitions;
  overrides.warmup = args.warmup;
  if (!args.cooldown.empty()) overrides.cooldown = duration_option("--cooldown", args.cooldown);
  if (!args.idle.empty()) overrides.idle = duration_option("--idle", args.idle);
  try {
    apply_overrides(plan, overrides);
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError("run", e.what());
  }
  if (!overrides.empty()) std::fprintf(stderr, "plan %s with %s\n", args.plan.c_str(), overrides.text().c_str());
  Shard shard;
  try {
    shard = Shard::parse(args.shard);
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError("--shard", e.what());
  }
  const std::filesystem::path db = args.db.empty()
                                       ? std::filesystem::path(std::filesystem::path(args.plan).stem().string() + ".db")
                                       : std::filesystem::path(args.db);
  // Before anything is locked or created: a plan the run would refuse leaves nothing behind.
  check_plan_before_running(plan);
  if (args.dry_run) return dry_run(plan, shard, db);

  const MachineLock measuring = begin_measuring(std::filesystem::absolute(db).string(), args.wait);
  // The machine's part of the plan (container images, GPUs), before the store is created. (The
  // sensors open after begin_measuring, which forks joulebench's guard while it has one thread.)
  SensorSet sensors = SensorSet::open(SensorOptions::from_environment());
  CampaignOptions options;
  options.resources = find_plan_resources(plan, sensors);
  WritableStore writable = open_store_for_writing(db, args.wait);
  Store& store = writable.store;
  options.shard = shard;
  options.start_new = args.start_new;
  CampaignResult result;
  try {
    result = run_with_progress(plan, store, options, &sensors);
  } catch (const CampaignConflict& e) {
    std::fprintf(stderr, "joulebench: %s\n", e.what());
    return 1;
  }
  const std::size_t recorded = result.done_before + result.done_now;
  std::fprintf(stderr, "\ncampaign %lld: %zu of %zu runs recorded in %s (%zu now, %zu of them not ok)%s\n",
               static_cast<long long>(result.campaign), recorded, result.planned, db.string().c_str(), result.done_now,
               result.not_ok, result.interrupted ? "; interrupted: run the same command again to resume" : "");
  return result.interrupted ? 130 : 0;
}

}  // namespace

CampaignResult run_with_progress(const CampaignPlan& plan, Store& store, CampaignOptions options, SensorSet* opened) {
  std::optional<SensorSet> own;
  if (opened == nullptr) own.emplace(SensorSet::open(SensorOptions::from_environment()));
  SensorSet& sensors = opened != nullptr ? *opened : *own;
  ProgressPrinter progress;
  options.observer = &progress;
  options.stop = &stop_requests;
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  return run_campaign(plan, store, sensors, options);
}

Command add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run (or resume) a campaign described by a plan file");
  auto args = std::make_shared<RunArguments>();
  cmd->add_option("plan", args->plan, "the plan (TOML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--db", args->db, "the store to record into (default: PLAN's name with .db, here)")
      ->type_name("FILE");
  cmd->add_option("--shard", args->shard, "run only part K of N of the campaign (whole repetition rounds)")
      ->type_name("K/N")
      ->capture_default_str();
  cmd->add_flag("--dry-run", args->dry_run, "print the resolved run list and an estimated duration; run nothing");
  cmd->add_option("--repetitions", args->repetitions,
                  "measured runs per workload, instead of the plan's (a trial, or CI)")
      ->type_name("N");
  cmd->add_option("--warmup", args->warmup, "warm-up runs per workload, instead of the plan's")->type_name("N");
  cmd->add_option("--cooldown", args->cooldown, "a fixed cool-down between runs, instead of the plan's")
      ->type_name("DURATION");
  cmd->add_option("--idle", args->idle, "the idle baseline's length, instead of the plan's (0s: none)")
      ->type_name("DURATION");
  cmd->add_flag("--new", args->start_new, "start a new campaign even if the store holds one (of this or another plan)");
  add_wait_option(cmd, args->wait);
  cmd->footer(
      "A workload runs its command on this host, or in a container the plan names:\n"
      "  container = { image = \"dle-ncf-pytorch:ab6267ad\", runtime = \"podman\", mounts = [\"/data:/data:ro\"] }\n"
      "and on the GPUs it names, by NVML index or UUID (the others are reported as gpu-other):\n"
      "  gpus = [0]\n"
      "Every plan key: docs/campaigns.md; containers and GPUs: docs/containers.md.");
  return {cmd, [args] { return run_command(*args); }};
}

}  // namespace joulebench::cli
