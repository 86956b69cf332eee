// A workload's events channel: the pipe it writes events on (JOULEBENCH_EVENTS_FD: regions,
// metrics, metadata, a Monitor's requests) and the pipe joulebench answers a Monitor on
// (JOULEBENCH_REPLIES_FD, monitor_protocol.hpp). Regions are measured with the meter's marks, and a
// Monitor's window is a region with the very reading the Monitor was given, so the two agree.
// Campaign runs, `measure` and `profile` all read it through this one class.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "joulebench/event_parser.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/process.hpp"
#include "joulebench/result.hpp"
#include "output_collector.hpp"

namespace joulebench::detail {

class EventsChannel {
 public:
  /// The descriptors' numbers in the workload: low, so that `>&3` works in any shell.
  static constexpr int kEventsFdInChild = 3;
  static constexpr int kRepliesFdInChild = 4;

  EventsChannel();  ///< throws std::runtime_error when the pipes cannot be made
  /// The channel through named pipes `events` and `replies` made in `folder`, for a command that
  /// inherits no descriptors (a container, where the folder is mounted at kContainerEventsFolder).
  /// Throws std::runtime_error when they cannot be made.
  explicit EventsChannel(const std::filesystem::path& folder);
  ~EventsChannel();
  EventsChannel(const EventsChannel&) = delete;
  EventsChannel& operator=(const EventsChannel&) = delete;
  /// Passes the events pipe's write end and the replies pipe's read end to the command, and their
  /// numbers in its environment.
  void pass_to(SpawnOptions& options);
  /// The named pipes' paths inside the container, as JOULEBENCH_EVENTS_PATH and JOULEBENCH_REPLIES_PATH.
  KeyValues container_variables() const;
  /// A region that begins with the run's window (container start-up) and ends at the workload's
  /// event; dropped if that event never comes.
  void open_at_start(const std::string& region);
  /// The command has started with the meter running: closes the command's ends here.
  void started(Meter& meter);
  /// The command has ended: the named pipe's end of file can now come.
  void command_ended();
  /// Where the command's events arrive.
  int read_fd() const { return events_read_fd_; }
  /// One event (on the collector's thread): a region edge takes a reading, a request is answered.
  void on_event(WorkloadEvent e);
  /// The regions (those still open end with the window), metrics and metadata, into the record.
  /// Regions are marked incomplete where the run's timeline has an unmeasured stretch in them.
  void record(RunRecord& r, const MeterWindow& window);

 private:
  void reply(const std::string& line);

  std::optional<Pipe> events_;
  std::optional<Pipe> replies_;
  int events_read_fd_ = -1;
  int replies_write_fd_ = -1;
  /// Named pipes: joulebench's own write end of the events pipe, held while the command runs, so
  /// that the reader sees no end of file before the workload has opened it.
  int events_keeper_fd_ = -1;
  bool named_pipes_ = false;
  std::vector<std::string> open_at_start_;
  Meter* meter_ = nullptr;
  std::vector<Channel> channels_;
  std::mutex mutex_;
  std::vector<std::pair<std::string, Meter::Mark>> open_regions_;
  std::vector<StoredRegion> regions_;
  std::map<std::string, StoredMetric> metrics_;
  std::vector<std::string> metric_order_;
  KeyValues metadata_;
};

}  // namespace joulebench::detail
