// What measuring and store-writing commands do before their work: take the machine's locks, end
// what a killed joulebench left running, and create the store as the invoking user's.
#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/process.hpp"

namespace joulebench::cli {

void add_wait_option(CLI::App* cmd, bool& wait) {
  cmd->add_flag(
      "--wait", wait,
      "when another joulebench measures on this machine (or writes the store), wait for it instead of failing");
}

void add_events_option(CLI::App* cmd, bool& no_events) {
  cmd->add_flag("--no-events", no_events,
                "do not give the command the events channel (descriptors 3 and 4, JOULEBENCH_EVENTS_FD): no regions, "
                "metrics or in-program figures from joulebench, and descriptors 3 and 4 stay the caller's");
}

void add_gpus_option(CLI::App* cmd, std::optional<std::string>& gpus) {
  cmd->add_option("--gpus", gpus,
                  "the GPUs the command uses, as NVML indices or UUIDs (nvidia-smi -L), comma-separated: the command "
                  "sees only these (CUDA_VISIBLE_DEVICES), the gpu figure counts only these, gpu-other the rest, "
                  "and each GPU gets a figure of its own")
      ->type_name("LIST");
}

std::vector<std::string> gpu_selectors(const std::string& list) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin <= list.size() && !list.empty()) {
    const std::size_t comma = std::min(list.find(',', begin), list.size());
    std::string selector = list.substr(begin, comma - begin);
    selector.erase(0, selector.find_first_not_of(' '));
    selector.erase(selector.find_last_not_of(' ') + 1);
    if (selector.empty()) throw CLI::ValidationError("--gpus", fmt::format("'{}' names an empty GPU", list));
    out.push_back(std::move(selector));
    begin = comma + 1;
  }
  return out;
}

void check_gpus(const SensorSet& sensors, const std::optional<std::vector<std::string>>& selectors) {
  if (!selectors) return;
  try {
    select_gpus(sensors, *selectors);
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError("--gpus", e.what());
  }
}

MachineLock begin_measuring(const std::string& store, bool wait) {
  // Started first, so it never holds a descriptor of the lock (a guard outliving a killed
  // joulebench would keep its lock a moment).
  start_leftover_guard();
  MachineLock lock = MachineLock::measuring(store, wait, [](const std::string& holder) {
    std::fprintf(stderr, "joulebench: waiting for the measurement running on this machine to end: %s\n",
                 holder.c_str());
  });
  for (const auto& leftovers : end_leftovers_of_dead_joulebench()) {
    if (!leftovers.processes.empty()) {
      std::fprintf(stderr, "joulebench: ended %zu process(es) an earlier joulebench (%s, no longer running) left: %s\n",
                   leftovers.processes.size(), leftovers.owner.c_str(),
                   fmt::format("{}", fmt::join(leftovers.processes, ", ")).c_str());
    }
    for (const auto& problem : leftovers.problems) {
      std::fprintf(stderr, "joulebench: warning: what an earlier joulebench (%s) left: %s\n", leftovers.owner.c_str(),
                   problem.c_str());
    }
  }
  return lock;
}

SensorSet open_sensors(const std::vector<std::string>& sources) {
  try {
    return SensorSet::open(SensorOptions::from_environment(sources));
  } catch (const UnknownSource& e) {
    throw CLI::ValidationError("--source", e.what());
  }
}

WritableStore open_store_for_writing(const std::filesystem::path& db, bool wait) {
  try {
    create_empty_file_for_invoking_user(db);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("cannot create the store: {}", e.what()));
  }
  Store store(db);
  MachineLock lock = MachineLock::store_writer(db, wait, [&](const std::string& holder) {
    std::fprintf(stderr, "joulebench: waiting for the other writer of %s to end: %s\n", db.c_str(), holder.c_str());
  });
  return WritableStore{std::move(lock), std::move(store)};
}

}  // namespace joulebench::cli
