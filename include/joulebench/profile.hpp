// Function profiles: which functions of a workload take the time, and the energy.
//
// A profiled program (or a launcher around it) writes a trace; joulebench reads it, places every
// sample or interval on the power timeline the meter measured for the same run, and attributes
// the energy to functions by time.
//
// The trace format (version 1), shared by every writer: the Python profiler
// (python/joulebench_profile.py), the torch writers (include/joulebench/torch_profile.hpp,
// python/joulebench_torch_profile.py) and joulebench's own conversion of `perf script` output.
// The file is at the path in JOULEBENCH_PROFILE_OUT; UTF-8, one record per line, fields separated
// by one TAB. Names never contain a TAB or a line break (writers replace them with spaces), and
// frame names never contain ';'.
//
//   # joulebench-profile 1                       the first line, exactly
//   mode    <python|cprofile|torch|perf>
//   clock   monotonic_ns
//   s       <t_ns>  <tid>  <frame;frame;...;leaf>              a stack sample (sampling modes)
//   i       <start_ns>  <end_ns>  <tid>  <frame;...;name>      a completed interval (torch mode)
//   f       <calls>  <self_ns>  <total_ns>  <name>             exact per-function totals (cprofile)
//   c       <name>  <calls>                                    call counts for `i` names (optional)
//
// Times are CLOCK_MONOTONIC nanoseconds (Python's time.monotonic_ns(); std::chrono::steady_clock on
// Linux), the clock of the meter (MeterWindow::start), so a sample can be placed on the run's
// power timeline. `s` frames are root first. An `i` record's stack holds its enclosing intervals,
// root first, and its own name last; its self time is the interval minus its children's intervals
// on the same thread. Other lines starting with '#' are comments; an unknown record type is an
// error naming the file and line. The profiled program gets JOULEBENCH_PROFILE_OUT=<file>,
// JOULEBENCH_PROFILE_MODE=<mode> and JOULEBENCH_PROFILE_INTERVAL_NS=<sampling interval>.
//
// The attribution rule. A sample of the Python sampler stands for the time from it to the next
// sample of the same thread, at most twice the sampling interval (the last sample of a thread: one
// interval); a perf sample, taken every interval of the thread's CPU time, stands for exactly one
// interval of on-CPU time ending at the sample; an interval's
// self time is its own. At each instant, the measured power (the total of the domains that count
// toward the total: cpu + dram + gpu) is split equally among the threads that are inside a
// profiled function at that instant. Energy is integrated piecewise over the timeline's
// intervals: a sample that spans two timeline intervals gets each part at its interval's power.
// With an idle baseline, idle power x the same share of time is a function's idle energy and the
// rest its dynamic energy. Time when no thread is inside a profiled function is reported as its
// own row, so the rows add up to the run's energy. cProfile has no timestamps: its functions get
// energy = self time x the run's average power ("energy by average power").
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "joulebench/meter.hpp"
#include "joulebench/result.hpp"
#include "joulebench/units.hpp"

namespace joulebench {

enum class ProfileMode : std::uint8_t {
  python,    ///< the Python sampler: stacks at a fixed interval, with timestamps
  cprofile,  ///< Python's cProfile: exact calls and times per function, no timestamps
  torch,     ///< framework operators: LibTorch RecordFunction, or torch.profiler in Python
  perf,      ///< native code of any program: Linux perf record, with call stacks
};
std::string_view profile_mode_name(ProfileMode mode);
std::optional<ProfileMode> parse_profile_mode(std::string_view name);

/// A trace that cannot be read: what() is "FILE:LINE: message" (or "FILE: message").
class TraceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TraceSample {
  std::int64_t time_ns = 0;
  std::uint64_t thread = 0;
  std::uint32_t stack = 0;  ///< into Trace::stacks
};

struct TraceInterval {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::uint64_t thread = 0;
  std::uint32_t stack = 0;  ///< into Trace::stacks; its last frame is the interval's own name
};

struct TraceFunction {
  std::string name;
  std::uint64_t calls = 0;
  std::int64_t self_ns = 0;
  std::int64_t total_ns = 0;
};

/// A trace as read: records of one or more kinds, stacks interned ("a;b;c", root first).
struct Trace {
  std::optional<ProfileMode> mode;
  std::vector<std::string> stacks;
  std::vector<TraceSample> samples;
  std::vector<TraceInterval> intervals;
  std::vector<TraceFunction> functions;
  std::unordered_map<std::string, std::uint64_t> call_counts;  ///< from `c` records

  /// The index of `stack` in `stacks`, added if new.
  std::uint32_t intern(std::string_view stack);
  bool empty() const { return samples.empty() && intervals.empty() && functions.empty(); }

 private:
  std::unordered_map<std::string, std::uint32_t> stack_index_;
};

/// Parses a trace; `source` names it in errors. Throws TraceError.
Trace parse_trace(std::string_view text, const std::string& source);
/// Reads and parses a trace file. Throws TraceError (a missing file included).
Trace read_trace(const std::filesystem::path& file);

/// Adds the samples of `perf script -F comm,tid,time,ip,sym,dso --ns` output to `trace` (frames
/// leaf first there, root first in the trace; an unknown symbol is named after its object file as
/// "[libfoo.so]"). Throws TraceError naming `source` and the line for output it cannot read.
void parse_perf_script(std::string_view text, const std::string& source, Trace& trace);

/// The power the meter measured over one run, on the monotonic clock.
struct PowerTimeline {
  std::int64_t start_ns = 0;         ///< the window's start
  std::vector<std::int64_t> end_ns;  ///< interval k is (end_ns[k-1], end_ns[k]]; the first starts at start_ns
  /// Total power (domains counted in the total) per interval; NaN where it could not be measured.
  std::vector<double> total_w;

  /// From a stored timeline (channel ids "<domain>-<device>", end times since the window's start).
  /// A channel also in `channels` (by id) is of the domain given there: a GPU the run does not use
  /// is gpu-other, though its id says gpu.
  static PowerTimeline from_stored(const StoredTimeline& timeline, Clock::time_point start,
                                   std::span<const Channel> channels = {});
};

/// Keeps a metered window's timeline in memory, as the store keeps it.
class TimelineKeeper final : public TimelineSink {
 public:
  void begin(std::span<const Channel> channels) override;
  void add(const TimelineSample& sample) override;
  StoredTimeline timeline;
};

/// Energy figures of the run a trace came from.
struct RunEnergy {
  Clock::time_point start{};  ///< the metered window
  Seconds duration{0};
  PowerTimeline timeline;
  std::optional<Joules> total;      ///< the window's measured total (cpu + dram + gpu)
  std::optional<Watts> idle_power;  ///< the idle baseline's total power, when one was measured
  bool estimated = false;           ///< any part of the total comes from a model
  std::string source;               ///< the sources of the total ("estimate", "rapl-powercap+nvml")
};

/// One function of a profile (or "other": several folded together).
struct FunctionCost {
  std::string name;
  std::optional<std::uint64_t> calls;    ///< where the mode knows them
  Seconds self_time{0};                  ///< in the function itself, over all threads
  Seconds total_time{0};                 ///< in it or anything it called (recursion counted once)
  std::optional<Joules> energy;          ///< attributed to its self time
  std::optional<Joules> total_energy;    ///< attributed to its total time
  std::optional<Joules> idle_energy;     ///< of `energy`: idle power x its share of time
  std::optional<Joules> dynamic_energy;  ///< of `energy`: the rest (never below 0)
  std::size_t functions = 1;             ///< how many functions the row stands for ("other": several)
};

/// A folded stack for flame-graph tools, with its self time and energy.
struct FoldedStack {
  std::string stack;  ///< "root;...;leaf"
  Seconds time{0};
  Joules energy{0};
};

struct Profile {
  ProfileMode mode = ProfileMode::python;
  Seconds run_time{0};
  Seconds interval{0};      ///< the sampling interval (sampling modes)
  std::size_t records = 0;  ///< samples, intervals or functions read
  std::size_t threads = 0;
  /// "timeline": by the run's power timeline; "average power": self time x average power;
  /// "" when no energy was measured.
  std::string energy_rule;
  std::optional<Joules> run_energy;
  std::optional<Watts> idle_power;
  bool estimated = false;
  std::string source;
  /// Every function, by self energy (self time where there is no energy), highest first.
  std::vector<FunctionCost> functions;
  /// Time and energy when no thread was inside a profiled function (start-up, the interpreter).
  FunctionCost outside;
  std::vector<FoldedStack> folded;
  std::vector<std::string> notes;
  /// The regions the command marked on its events channel (as `measure` reports them).
  std::vector<StoredRegion> regions;
};

struct AttributionOptions {
  Seconds interval{0.005};  ///< the sampling interval of `s` records
};

/// Attributes a trace's time and the run's energy to functions, by the rule above.
Profile attribute(const Trace& trace, ProfileMode mode, const RunEnergy& run, const AttributionOptions& options = {});

/// The rows to show: the first `top` functions (0: all) at or above `threshold` (a fraction of
/// the run's energy, or of its time where there is no energy), the rest folded into "other".
std::vector<FunctionCost> profile_rows(const Profile& profile, std::size_t top, double threshold);

/// The profile as the store keeps it (every function, no folding).
StoredProfile stored_profile(const Profile& profile);

// --- Running a command under a profiler ------------------------------------------------------

/// A command rewritten to run under a profiler.
struct ProfiledCommand {
  std::vector<std::string> argv;
  KeyValues environment;            ///< JOULEBENCH_PROFILE_* for the program
  std::filesystem::path trace;      ///< where the trace will be (written by the program or by us)
  std::filesystem::path perf_data;  ///< perf mode: perf record's output
};

/// Whether argv[0] names a Python interpreter (python, python3, python3.11, /usr/bin/python3...).
bool is_python_command(const std::vector<std::string>& argv);
/// The mode `auto` picks: python for a Python interpreter or a built-in PyTorch workload
/// (`joulebench workload X --framework pytorch`, which starts its script under the profiler when
/// JOULEBENCH_PROFILE_MODE is set), torch for a LibTorch workload (joulebench-libtorch,
/// `joulebench workload X --framework libtorch`), perf otherwise.
ProfileMode auto_profile_mode(const std::vector<std::string>& argv);
/// Whether argv runs a built-in workload of `framework` through `joulebench workload`.
bool is_builtin_workload(const std::vector<std::string>& argv, std::string_view framework);
/// `python_argv` (interpreter, its options, the script at `script_index`, its arguments) rewritten
/// to run under the profiler of `mode` and write its trace to `trace`. python: under `joulebench
/// python-sampler` (python_sampler.hpp), which chooses between its external sampler and the
/// in-process one where the command runs; cprofile: joulebench_profile.py; torch:
/// joulebench_torch_profile.py. Throws std::runtime_error for perf or a missing helper.
std::vector<std::string> profiled_python_command(ProfileMode mode, const std::vector<std::string>& python_argv,
                                                 std::size_t script_index, const std::filesystem::path& trace,
                                                 long long interval_ns);
/// `python_argv` under the in-process sampler (joulebench_profile.py --mode python): what
/// `joulebench python-sampler` runs where it cannot read the interpreter from outside. Throws
/// std::runtime_error when python_argv runs no script (`-c`, `-m`) or the launcher is missing.
std::vector<std::string> in_process_python_command(const std::vector<std::string>& python_argv,
                                                   const std::filesystem::path& trace, long long interval_ns);

/// Rewrites `argv` for `mode`, with files under `work_dir`. Throws std::runtime_error when the
/// mode cannot run this command here (a missing helper, perf not allowed), saying what to change.
ProfiledCommand profiled_command(ProfileMode mode, const std::vector<std::string>& argv, Seconds interval,
                                 const std::filesystem::path& work_dir);
/// After the command ran: the trace it produced (perf mode: converted from perf's data). Throws
/// TraceError when there is none or it cannot be read.
Trace collect_trace(const ProfiledCommand& command, ProfileMode mode);

/// The energy figures of a measured run, for attribution: its window, its timeline as kept, and
/// its total figure (nullptr where no source measured; its idle power where a baseline was measured).
RunEnergy run_energy(const MeterWindow& window, const StoredTimeline& timeline, const EnergyFigure* total);

}  // namespace joulebench
