// The meter: reads every energy source at the exact start and end of a window, so totals from
// counters are exact, and samples in a background thread in between for the power timeline and to
// keep wrap-correcting and integrating sources fed.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "joulebench/sensors.hpp"
#include "joulebench/units.hpp"

namespace joulebench {

/// Average power of one channel over one sampling interval.
struct ChannelPower {
  Watts power;
  bool counted = true;  ///< false: the interval could not be measured (power is 0)
};

/// One point of the timeline: the interval (time - interval, time] since the window's start.
struct TimelineSample {
  Seconds time;
  Seconds interval;
  std::span<const ChannelPower> channels;  ///< in the order of MeterWindow::channels
};

/// Receives timeline samples as they are measured, on the meter's thread: keep it quick.
class TimelineSink {
 public:
  virtual ~TimelineSink() = default;
  virtual void begin(std::span<const Channel> channels) = 0;
  virtual void add(const TimelineSample& sample) = 0;
};

/// A RAPL counter of the package, cores, memory or platform that does not advance for this long
/// has stopped (a working one advances every millisecond): the stretch it stood still is unmeasured.
inline constexpr Seconds kStalledCounterTime{1.0};
/// Whether the meter watches a channel for stalls: RAPL counters of those domains.
bool watched_for_stalls(const Channel& channel);
/// A window this long in which such a counter did not advance at all measured nothing with it,
/// even before kStalledCounterTime has passed (a window that starts as its source is opened).
inline constexpr Seconds kShortestJudgedStillWindow{0.1};

/// A channel's energy over a window.
struct ChannelTotal {
  Joules energy;
  Seconds unmeasured{0};  ///< total length of the intervals that could not be measured
  std::size_t unmeasured_intervals = 0;
  bool stalled = false;  ///< some of the unmeasured time is the counter standing still
  std::string first_problem;
  bool complete() const { return unmeasured_intervals == 0; }
};

/// Marks `total` as measuring nothing where `channel` is watched for stalls, its counter did not
/// advance at all over a window of `length` (kShortestJudgedStillWindow or more), and nothing else
/// was found unmeasured: zero joules there is no measurement.
void judge_still_counter(const Channel& channel, ChannelTotal& total, Seconds length);

/// The result of one metered window.
struct MeterWindow {
  Clock::time_point start{};
  Clock::time_point end{};
  std::vector<Channel> channels;
  std::vector<ChannelTotal> totals;  ///< parallel to channels
  /// The NVML indices of the GPUs the window's run uses, where it names them (MeterOptions::gpus):
  /// its other GPUs' channels are then of domain gpu_other.
  std::optional<std::vector<int>> gpus = std::nullopt;
  /// CPU time the whole machine spent busy during the window (all CPUs), from /proc/stat.
  std::optional<Seconds> machine_cpu_busy;
  Seconds interval{0};          ///< the sampling interval used
  std::size_t samples = 0;      ///< reads of the sources, edges included
  Seconds longest_gap{0};       ///< the longest time between two reads
  Seconds sampler_cpu_time{0};  ///< CPU time the sampling thread used

  Seconds duration() const { return end - start; }
  bool complete() const;
};

/// A window of kStalledCounterTime plus two sampling intervals with nothing started: what each
/// channel measures on an idle machine, and which counters never move (`joulebench sensors`).
MeterWindow watch_channels(SensorSet& sensors, Seconds interval = Seconds(0.1));

/// A domain's energy over a window: its channels summed (all packages, all GPUs).
struct DomainEnergy {
  Domain domain = Domain::cpu;
  Joules energy;
  std::string source;
  Method method = Method::counter;
  bool estimated = false;
  Seconds unmeasured{0};
  std::string problem;            ///< the first problem of its channels, if any
  bool measured_nothing = false;  ///< no channel of it measured any part of the window
};

/// Per-domain sums, in Domain order, for every domain some channel covers.
std::vector<DomainEnergy> energy_by_domain(const MeterWindow& window);

struct MeterOptions {
  Seconds interval{0.1};
  /// Not owned; may be null. Where a channel is watched for stalls, samples reach it
  /// kStalledCounterTime late (all of them by stop()), so a stalled stretch is marked in them.
  TimelineSink* timeline = nullptr;
  /// Pass samples on as they are read, for a sink that acts on them at once (the cool-down's
  /// stability watch): a stall found later is then not marked in the samples already passed on.
  bool live_timeline = false;
  /// The NVML indices of the GPUs the run uses. Set, the other GPUs' channels are of domain
  /// gpu_other (their ids stay "gpu-<index>") in everything the meter gives: windows, marks,
  /// timelines. Unset, every GPU is of domain gpu.
  std::optional<std::vector<int>> gpus = std::nullopt;
};

class Meter {
 public:
  /// The interval is shortened if a source needs more frequent reads (wrap correction).
  Meter(SensorSet& sensors, MeterOptions options);
  ~Meter();
  Meter(const Meter&) = delete;
  Meter& operator=(const Meter&) = delete;

  /// Reads every source now (the window's exact start) and starts sampling.
  void start();
  /// Reads every source now (the window's exact end) and stops sampling.
  MeterWindow stop();

  /// A reading taken mid-window, at a region's edge.
  struct Mark {
    Seconds time{0};                    ///< since the window's start
    std::vector<Joules> energy;         ///< per channel, since the window's start
    std::vector<Seconds> unmeasured;    ///< per channel, since the window's start
    std::vector<std::string> problems;  ///< per channel: its first problem so far (usually none)
  };
  /// Reads every source now, from any thread: region energies are differences of marks, as exact
  /// as the window's own total. The reading also closes a (shorter) timeline interval. After
  /// stop(), it returns the window's end.
  Mark mark();
  /// A reading like mark() that closes no timeline interval: for readings taken so often (a
  /// Monitor's tracked calls) that samples at each would swell the timeline.
  Mark reading();
  Seconds interval() const { return interval_; }
  bool running() const { return running_; }
  /// The channels it reads, in the order of marks and windows (the GPUs not selected as gpu_other).
  std::span<const Channel> channels() const { return channels_; }

 private:
  void sample_loop();
  /// A mark's figures from `readings` (mutex_ held): energy since the window's start, unmeasured
  /// time and problems so far.
  void fill_mark(Mark& m, const std::vector<ChannelReading>& readings) const;
  void take_reading(Clock::time_point now);
  /// Counts the channel's still stretch from `still_from` to `now` as unmeasured (the part not
  /// yet counted), in the totals and in the samples not yet passed on.
  void mark_stalled(std::size_t channel, Clock::time_point still_from, Clock::time_point now);
  /// Passes on the held samples that ended by `up_to` (since the window's start).
  void release_timeline(Seconds up_to);

  /// Per channel: whether it is watched for stalls, and the stalled stretch being counted.
  struct StallWatch {
    bool watched = false;
    bool stalled = false;
    Clock::time_point stretch_start{};
    Clock::time_point unmeasured_until{};  ///< counted up to here
  };
  struct PendingSample {
    Seconds time;
    Seconds interval;
    std::vector<ChannelPower> channels;
  };

  SensorSet& sensors_;
  MeterOptions options_;
  Seconds interval_;
  std::vector<Channel> channels_;  ///< the sensors', relabelled by options_.gpus

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool running_ = false;
  std::thread thread_;

  MeterWindow window_;
  std::vector<ChannelReading> previous_;
  std::vector<ChannelReading> current_;
  std::vector<ChannelReading> first_;
  std::vector<ChannelReading> scratch_;  ///< reading()'s, which leaves previous_ alone
  std::vector<ChannelPower> powers_;
  std::vector<StallWatch> stall_watch_;
  bool delay_timeline_ = false;  ///< samples wait in pending_ until no stall can reach them
  std::deque<PendingSample> pending_;
  Clock::time_point last_read_{};         ///< the last reading that closed a timeline interval
  Clock::time_point last_source_read_{};  ///< the last read of the sources, reading() included
  std::optional<MachineCpuTimes> cpu_at_start_;
};

}  // namespace joulebench
