// What joulebench coordinates across the whole machine: one measuring command at a time (two
// measurements side by side ruin each other's figures), one writer per store, and the end of
// whatever a killed joulebench left running.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace joulebench {

/// Where the machine-wide locks and records live: JOULEBENCH_LOCK_DIR when set, else /run/lock
/// where everyone may write it (1777), else /tmp. Decided by the folder, never by who asks, so a
/// root and a user joulebench agree. (sudo drops JOULEBENCH_LOCK_DIR unless told to keep it.)
std::filesystem::path machine_state_folder();

/// A process, named so that a reused pid is never taken for it: "PID.START" with its start time in
/// clock ticks since boot; empty when there is no such process.
std::string process_identity(pid_t pid);

/// Another joulebench holds the lock; what() names it (pid, command, store, since when) and says
/// how to wait for it.
class LockHeld : public std::runtime_error {
 public:
  enum class Lock : std::uint8_t { measuring, store_writer };
  LockHeld(Lock lock, const std::string& message) : std::runtime_error(message), lock_(lock) {}
  /// Which lock is held: the machine's, or a store's.
  Lock lock() const { return lock_; }

 private:
  Lock lock_;
};

/// An exclusive, machine-wide lock (flock on a file in the machine state folder), released when it
/// is destroyed or when joulebench dies, however it dies. Its holder writes who it is into the
/// file, so a refused command can name it.
class MachineLock {
 public:
  /// Called once, with the holder's description, when the lock is busy and the caller waits.
  using OnWait = std::function<void(const std::string& holder)>;

  /// The lock of every measuring command. `store` (may be empty) is named to whoever is refused.
  /// Without `wait`, throws LockHeld when another joulebench measures; with it, blocks until that
  /// one ends.
  static MachineLock measuring(const std::string& store, bool wait, const OnWait& on_wait = {});
  /// The lock of one store's writer (the store must exist): reading commands never take it.
  static MachineLock store_writer(const std::filesystem::path& store, bool wait, const OnWait& on_wait = {});

  MachineLock(MachineLock&& other) noexcept;
  MachineLock& operator=(MachineLock&& other) noexcept;
  MachineLock(const MachineLock&) = delete;
  MachineLock& operator=(const MachineLock&) = delete;
  ~MachineLock();

  const std::filesystem::path& file() const { return file_; }

 private:
  MachineLock(std::filesystem::path file, int fd) : file_(std::move(file)), fd_(fd) {}
  std::filesystem::path file_;
  int fd_ = -1;
};

/// What an earlier joulebench, killed before it could clean up, left running, ended now.
struct EndedLeftovers {
  std::string owner;                   ///< the dead joulebench, "pid N"
  std::vector<std::string> processes;  ///< what was ended: "NAME (pid N)"
  std::vector<std::string> problems;   ///< what could not be ended, and why
};

/// Ends what dead joulebench processes left running: every process in their workloads' cgroups
/// and every process that carries their label (the JOULEBENCH_OWNER variable each workload gets),
/// then forgets them. Every measuring command calls it before it starts anything, so a resumed
/// campaign never runs beside the copy a killed one left.
std::vector<EndedLeftovers> end_leftovers_of_dead_joulebench();

/// A command that ends something this joulebench started outside its own processes (a container,
/// which the runtime runs, not its client), kept in this joulebench's owner record under `key`
/// until forget_cleanup(key): should joulebench die first, its guard or the next joulebench to start
/// runs it (at most 60 s). Arguments must hold no tab or newline (std::invalid_argument).
void record_cleanup(const std::string& key, const std::vector<std::string>& argv);
/// Empty folders to remove, deepest first, after the cleanups (a container's cgroups, which the
/// runtime leaves): removed by the guard or the next joulebench as record_cleanup's commands run.
void record_cleanup_folders(const std::string& key, const std::vector<std::filesystem::path>& folders);
/// The cleanup of `key` was done: nobody runs it any more.
void forget_cleanup(const std::string& key);

/// Starts a watcher process ("jbench-guard") that ends at once whatever this joulebench
/// started, should it die without cleaning up (kill -9, a crash): the command's cgroup or the
/// processes carrying its label, not only the one process PR_SET_PDEATHSIG kills. Call it while
/// joulebench still has one thread (before the sensors are opened): it forks without exec.
void start_leftover_guard();

}  // namespace joulebench
