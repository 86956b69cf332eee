// What joulebench reads from a running workload besides its energy: the JSON lines it writes on
// the events descriptor (include/joulebench/events.hpp, python/joulebench_events.py), and, for
// workloads that know nothing of joulebench, metrics found in their standard output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "joulebench/plan.hpp"

namespace joulebench {

/// The environment variable naming the file descriptor a workload may write events on.
inline constexpr const char* kEventsFdVariable = "JOULEBENCH_EVENTS_FD";

/// The environment variable naming the file descriptor joulebench answers a Monitor's requests
/// on (include/joulebench/monitor.hpp): one JSON line per request that asked for a reply.
inline constexpr const char* kRepliesFdVariable = "JOULEBENCH_REPLIES_FD";

/// Where a workload cannot inherit descriptors (inside a container), joulebench names the events
/// and replies channels by path instead: FIFOs it holds open (/run/joulebench/events and
/// /run/joulebench/replies in the container). A helper uses a path only where the matching FD
/// variable is absent or names no open descriptor; it opens the events FIFO for writing without
/// waiting (no reader: events off) and the replies FIFO for reading, and refuses anything that is
/// neither a FIFO nor a character device (a regular file is never written into, nor created).
inline constexpr const char* kEventsPathVariable = "JOULEBENCH_EVENTS_PATH";
inline constexpr const char* kRepliesPathVariable = "JOULEBENCH_REPLIES_PATH";

struct WorkloadEvent {
  /// hello: a Monitor asks for the channels joulebench reads; mark: for a reading of them now.
  enum class Kind : std::uint8_t { region_begin, region_end, metric, metadata, hello, mark };
  Kind kind = Kind::metric;
  std::string name;    ///< region name, metric name or metadata key
  double value = 0;    ///< for metrics
  std::string unit;    ///< for metrics (may be empty)
  std::string text;    ///< for metadata: the value as text
  std::string origin;  ///< "events", "dllogger", "mllog", "regex"
  /// A Monitor's request number: answer it on the replies descriptor, quoting it.
  std::optional<std::uint64_t> reply;
};

/// One line written on the events descriptor:
///   {"event":"begin","region":"train"}    {"event":"end","region":"train"}
///   {"event":"metric","name":"accuracy","value":0.91,"unit":"%"}
///   {"event":"meta","key":"framework","value":"libtorch 1.13.1"}
/// and a Monitor's requests, which carry a number to quote in the reply (monitor_protocol.hpp):
///   {"event":"hello","reply":1}    {"event":"mark","reply":2}    {"event":"begin","region":"train","reply":3}
/// Nothing if the line is malformed (the caller counts and skips it).
///
/// Surrounding whitespace (and a CR) is ignored; unknown extra fields are ignored. Malformed: not
/// one JSON object, an unknown or missing "event", a missing or empty region/name/key, a metric
/// value that is not a finite number (null, which the helpers write for NaN and infinities,
/// included), a unit that is neither a string nor null, a meta value that is not a string, number
/// or bool. A meta number or bool becomes text ("8", "2.5", "true"). The origin is "events".
std::optional<WorkloadEvent> parse_event_line(std::string_view line);

/// Scans output lines with a workload's parsers. One scanner per run (it remembers DLLogger units);
/// not thread-safe.
///
/// - dllogger: the JSON after "DLLL " anywhere on the line (loggers may add prefixes).
///   "type": "LOG" lines: each finite number in "data" is a metric (origin "dllogger"), with the
///   unit of an earlier "type": "METADATA" line for that metric ({"metric": NAME, "metadata":
///   {"unit": UNIT}}) when there was one; other value types are skipped. A "step": "PARAMETER"
///   line holds the run's settings (batch_size, lr, arch...), so its values other than null become
///   metadata, not metrics: as text, arrays and objects as compact JSON.
/// - mllog: the JSON after ":::MLLOG " anywhere on the line. POINT_IN_TIME with a finite number
///   value: a metric named by "key" (origin "mllog"); with an object value ({"throughput": 5.1e6},
///   as NVIDIA's "tracked_stats"), a metric "KEY.MEMBER" per numeric member; with a string or bool
///   value: metadata. INTERVAL_START / INTERVAL_END: region_begin / region_end named after the
///   key without "_start" / "_stop" (run_start -> "run", epoch_stop -> "epoch").
/// - regex: every match on the line (pcre2_match in a loop); each named group whose text parses
///   fully as a finite number (an optional leading '+' allowed) is a metric named after the group
///   (origin "regex").
///
/// Python's json.dumps writes NaN, Infinity and -Infinity bare; DLLogger and MLPerf lines holding
/// them are read with those values taken as null (so skipped), not counted as malformed. A line
/// whose prefix is followed by "{" but whose JSON cannot be read, or does not have the fields its
/// format requires ("type" and "data"; "event_type" and "key"), is counted in malformed(); the
/// prefix followed by anything else is not such a line.
class OutputScanner {
 public:
  /// Throws std::invalid_argument naming the pattern if a regex does not compile
  /// ("invalid regex '<pattern>' at offset N: <PCRE2's message>") or has no named group (it could
  /// never yield a metric).
  explicit OutputScanner(const std::vector<OutputParser>& parsers);
  ~OutputScanner();
  OutputScanner(OutputScanner&&) noexcept;
  OutputScanner& operator=(OutputScanner&&) noexcept;

  /// The events in one line (usually none). DLLogger data values become metrics; MLPerf
  /// POINT_IN_TIME events with numeric values become metrics, INTERVAL_START/INTERVAL_END events
  /// become regions named after their key without "_start"/"_stop".
  std::vector<WorkloadEvent> scan(std::string_view line);
  /// Lines that looked like DLLogger or MLPerf lines but could not be parsed.
  std::size_t malformed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace joulebench
