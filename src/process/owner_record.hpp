// The record a joulebench keeps of what it starts, so that a later joulebench can end what it
// left if it is killed: a file "joulebench-owner.PID.START" in the machine state folder, listing
// its workloads' cgroups. Its workloads also carry its label in their environment. The record is
// removed when joulebench exits normally. Internal to the process part.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace joulebench::detail {

/// The variable every command joulebench starts carries: its owner's process identity.
inline constexpr const char* kOwnerVariable = "JOULEBENCH_OWNER";

/// This joulebench's process identity (machine.hpp, process_identity).
const std::string& own_identity();
/// Creates this joulebench's record if it has none yet; best effort (a read-only machine state
/// folder only costs the clean-up after a kill).
void ensure_owner_record();
/// Adds a workload cgroup to the record.
void record_workload_cgroup(const std::filesystem::path& cgroup);
/// Appends one line ("cgroup PATH", "cleanup KEY\tARGV...", "done KEY") to this joulebench's owner record.
void append_to_owner_record(const std::string& line);

/// "NAME (pid N)", as leftovers are named to the user.
std::string describe_process(pid_t pid);
/// The fields of /proc/PID/stat after the name (state first); empty when there is no such process.
std::string process_stat_fields(pid_t pid);
/// The process exists and has not ended (a zombie has: only its exit status is left).
bool process_running(pid_t pid);

}  // namespace joulebench::detail
