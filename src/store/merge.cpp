// Store::merge: shard stores of one plan into a new store.
//
// - Every input must hold exactly one campaign; all must come from the same plan (same plan
//   hash) and the same shard count, each a different shard. A shard that is absent is allowed,
//   and reported: the merged campaign is then not finished, so nothing takes it for the whole.
// - The output must not exist, and is never half-written: the store is written to a temporary
//   file beside it, ".<output name>.merging-<pid>", made durable, and renamed into place without
//   replacing anything. A failed merge removes the temporary file; a killed one leaves it, and
//   the next merge into the same output removes it once its process is gone.
// - The output's campaign: the inputs' name, plan and seed; shard 1/1; planned_runs the sum of
//   the inputs'; finished only if every shard is there and finished; created_at the earliest of
//   the inputs'.
// - Environment: an entry with the same key and value in every input is kept once, as it is;
//   every other entry is kept for each shard that has it, its key prefixed "shard<K>."
//   (e.g. "shard2.cpu.governor"). Identical environments therefore merge into one copy.
// - Runs keep their index and the shard they were measured in. An index held by two inputs is
//   refused, except a warm-up run: every shard runs every warm-up (plan.hpp, shard_runs), so
//   the merged store keeps each shard's warm-up run of that index.
// - Idle baselines are copied and runs' references to them follow.
// Inputs are opened as stores first, so an input of an older schema is migrated in place (and
// one of a newer schema is refused) before it is read.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "joulebench/store.hpp"
#include "store/store_impl.hpp"

namespace joulebench {

namespace {

namespace fs = std::filesystem;
using store_detail::Db;
using store_detail::Transaction;

struct Input {
  fs::path file;
  CampaignInfo campaign;
  KeyValues environment;
};

KeyValues merge_environments(const std::vector<Input>& inputs) {
  const auto value_of = [](const KeyValues& env, const std::string& key) -> const std::string* {
    for (const auto& [k, v] : env) {
      if (k == key) return &v;
    }
    return nullptr;
  };
  const auto common = [&](const std::pair<std::string, std::string>& entry) {
    return std::all_of(inputs.begin(), inputs.end(), [&](const Input& in) {
      const std::string* v = value_of(in.environment, entry.first);
      return v != nullptr && *v == entry.second;
    });
  };
  KeyValues out;
  for (const auto& entry : inputs.front().environment) {
    if (common(entry) && value_of(out, entry.first) == nullptr) out.push_back(entry);
  }
  for (const auto& in : inputs) {
    for (const auto& entry : in.environment) {
      if (common(entry) && value_of(out, entry.first) != nullptr) continue;
      out.emplace_back(fmt::format("shard{}.{}", in.campaign.shard.index, entry.first), entry.second);
    }
  }
  return out;
}

constexpr const char* kStoreSuffixes[] = {"", "-wal", "-shm", "-journal"};

void remove_store_files(const fs::path& store) {
  std::error_code ec;
  for (const char* suffix : kStoreSuffixes) fs::remove(fs::path(store.string() + suffix), ec);
}

/// The folder `file` is in, as a path that can be opened ("." for a bare name).
fs::path folder_of(const fs::path& file) { return file.has_parent_path() ? file.parent_path() : fs::path("."); }

/// Where the merge by process `pid` writes the store that becomes `output`: in the same folder,
/// so the final rename stays within one file system; hidden, and saying what it is.
fs::path temporary_file(const fs::path& output, pid_t pid) {
  return folder_of(output) / fmt::format(".{}.merging-{}", output.filename().string(), pid);
}

/// The writing process's pid, when `name` is exactly the temporary file of a merge into
/// `output_name` (or its -wal, -shm or -journal); nothing for every other name.
std::optional<pid_t> merge_writer(std::string_view name, const std::string& output_name) {
  const std::string prefix = fmt::format(".{}.merging-", output_name);
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  for (std::string_view suffix : {"-wal", "-shm", "-journal"}) {
    if (name.ends_with(suffix)) {
      name.remove_suffix(suffix.size());
      break;
    }
  }
  pid_t pid = 0;
  const char* end = name.data() + name.size();
  const auto [stop, error] = std::from_chars(name.data(), end, pid);
  // Exactly the digits temporary_file writes: no sign, no leading zero, nothing after.
  if (name.empty() || name.front() == '0' || error != std::errc() || stop != end || pid <= 0) return std::nullopt;
  return pid;
}

/// Removes what merges into `output` that were killed left behind: only files whose names are
/// exactly such temporary files, and only where the writing process is gone (kill(pid, 0) says
/// no such process; EPERM means it lives under another user). This process's own pid is left
/// alone: its temporary file is made below, and refused there if it already exists. On a
/// folder shared between machines, a pid names a process of this machine only; removing the
/// file of a merge running elsewhere makes that merge fail at its rename, never half-write.
std::vector<fs::path> remove_leftovers(const fs::path& output) {
  std::vector<fs::path> removed;
  const std::string output_name = output.filename().string();
  std::error_code ec;
  fs::directory_iterator it(folder_of(output), ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const auto writer = merge_writer(it->path().filename().string(), output_name);
    if (!writer || *writer == ::getpid()) continue;
    if (::kill(*writer, 0) == 0 || errno != ESRCH) continue;
    std::error_code status_ec;
    if (!fs::is_regular_file(it->symlink_status(status_ec))) continue;
    std::error_code remove_ec;
    if (fs::remove(it->path(), remove_ec)) removed.push_back(it->path());
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

/// fsync, for a file or a folder. A folder on a file system that cannot sync one (EINVAL) is
/// as durable as that file system makes it.
void sync_path(const fs::path& path, bool folder) {
  const int fd = ::open(path.c_str(), (folder ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NOFOLLOW) | O_CLOEXEC);
  if (fd < 0) {
    throw StoreError(fmt::format("{}: cannot open it to sync: {}", path.string(), std::strerror(errno)));
  }
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0 && !(folder && error == EINVAL)) {
    throw StoreError(fmt::format("{}: cannot sync it to disk: {}", path.string(), std::strerror(error)));
  }
}

[[noreturn]] void throw_output_exists(const fs::path& output) {
  throw StoreError(
      fmt::format("{}: cannot merge into it: it already exists (merge writes a new store)", output.string()));
}

/// Renames the complete `temporary` to `output`, refusing to replace anything there. A file
/// system without RENAME_NOREPLACE (EINVAL) gets a hard link, which never replaces either, and
/// then loses the temporary name.
void move_into_place(const fs::path& temporary, const fs::path& output) {
  if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, output.c_str(), RENAME_NOREPLACE) == 0) return;
  int error = errno;
  if (error == EINVAL) {
    if (::link(temporary.c_str(), output.c_str()) == 0) {
      ::unlink(temporary.c_str());  // if this fails, a later merge removes it as a leftover
      return;
    }
    error = errno;
  }
  if (error == EEXIST) throw_output_exists(output);
  throw StoreError(fmt::format("{}: cannot move the merged store there from {}: {}", output.string(),
                               temporary.string(), std::strerror(error)));
}

/// Copies the campaign of the attached database "src" into the output's campaign `out_id`.
void copy_campaign(Db& db, std::int64_t src_id, std::int64_t out_id) {
  const auto max_id = [&](const char* sql) { return db.query_integer(sql); };
  const std::int64_t idle_offset = max_id("SELECT coalesce(max(id), 0) FROM main.idle_baselines");
  const std::int64_t run_offset = max_id("SELECT coalesce(max(id), 0) FROM main.runs");
  const std::int64_t region_offset = max_id("SELECT coalesce(max(id), 0) FROM main.regions");

  const auto copy = [&](const char* sql, std::int64_t offset, std::int64_t second_offset = 0) {
    auto st = db.prepare(sql);
    const std::int64_t values[] = {src_id, offset, out_id, second_offset};
    for (int i = 1; i <= std::min(4, st.parameter_count()); ++i) st.bind(i, values[i - 1]);
    st.run();
  };
  copy(
      "INSERT INTO main.idle_baselines (id, campaign_id, started_unix_s, duration_s, cpu_temperature_c, "
      "gpu_temperature_c, complete) SELECT id + ?2, ?3, started_unix_s, duration_s, cpu_temperature_c, "
      "gpu_temperature_c, complete FROM src.idle_baselines WHERE campaign_id = ?1",
      idle_offset);
  copy(
      "INSERT INTO main.idle_power (idle_id, position, domain, power_w) SELECT p.idle_id + ?2, p.position, "
      "p.domain, p.power_w FROM src.idle_power p JOIN src.idle_baselines b ON b.id = p.idle_id "
      "WHERE b.campaign_id = ?1",
      idle_offset);
  copy(
      "INSERT INTO main.runs (id, campaign_id, run_index, shard_index, workload, repetition, warmup, status, "
      "exit_code, signal, reason, started_unix_s, time_s, user_cpu_s, system_cpu_s, max_rss_kib, idle_baseline_id, "
      "cooldown_s, stdout_path, stdout_bytes, stdout_dropped, stderr_path, stderr_bytes, stderr_dropped, "
      "malformed_events, other_cpu_before_cores, other_cpu_cores, peak_memory_kib) SELECT id + ?2, ?3, run_index, "
      "shard_index, "
      "workload, repetition, warmup, status, exit_code, signal, reason, started_unix_s, time_s, user_cpu_s, "
      "system_cpu_s, max_rss_kib, idle_baseline_id + ?4, cooldown_s, stdout_path, stdout_bytes, stdout_dropped, "
      "stderr_path, stderr_bytes, stderr_dropped, malformed_events, other_cpu_before_cores, other_cpu_cores, "
      "peak_memory_kib FROM src.runs WHERE campaign_id = ?1",
      run_offset, idle_offset);
  copy(
      "INSERT INTO main.run_labels (run_id, position, key, value) SELECT x.run_id + ?2, x.position, x.key, x.value "
      "FROM src.run_labels x JOIN src.runs r ON r.id = x.run_id WHERE r.campaign_id = ?1",
      run_offset);
  copy(
      "INSERT INTO main.run_energy (run_id, position, domain, energy_j, source, method, estimated, complete, "
      "unmeasured_s, dynamic_energy_j, problem, measured_nothing) SELECT x.run_id + ?2, x.position, x.domain, "
      "x.energy_j, x.source, x.method, x.estimated, x.complete, x.unmeasured_s, x.dynamic_energy_j, x.problem, "
      "x.measured_nothing FROM src.run_energy x "
      "JOIN src.runs r ON r.id = x.run_id WHERE r.campaign_id = ?1",
      run_offset);
  copy(
      "INSERT INTO main.regions (id, run_id, position, name, start_s, end_s) SELECT x.id + ?4, x.run_id + ?2, "
      "x.position, x.name, x.start_s, x.end_s FROM src.regions x JOIN src.runs r ON r.id = x.run_id "
      "WHERE r.campaign_id = ?1",
      run_offset, region_offset);
  copy(
      "INSERT INTO main.region_energy (region_id, position, domain, energy_j, source, method, estimated, complete, "
      "unmeasured_s, dynamic_energy_j, problem, measured_nothing) SELECT e.region_id + ?2, e.position, e.domain, "
      "e.energy_j, e.source, e.method, e.estimated, e.complete, e.unmeasured_s, e.dynamic_energy_j, e.problem, "
      "e.measured_nothing FROM src.region_energy e "
      "JOIN src.regions g ON g.id = e.region_id JOIN src.runs r ON r.id = g.run_id "
      "WHERE r.campaign_id = ?1",
      region_offset);
  copy(
      "INSERT INTO main.metrics (run_id, position, name, value, unit, origin) SELECT x.run_id + ?2, x.position, "
      "x.name, x.value, x.unit, x.origin FROM src.metrics x JOIN src.runs r ON r.id = x.run_id "
      "WHERE r.campaign_id = ?1",
      run_offset);
  copy(
      "INSERT INTO main.run_metadata (run_id, position, key, value) SELECT x.run_id + ?2, x.position, x.key, "
      "x.value FROM src.run_metadata x JOIN src.runs r ON r.id = x.run_id WHERE r.campaign_id = ?1",
      run_offset);
  copy(
      "INSERT INTO main.run_warnings (run_id, position, kind, message) SELECT x.run_id + ?2, x.position, x.kind, "
      "x.message FROM src.run_warnings x JOIN src.runs r ON r.id = x.run_id WHERE r.campaign_id = ?1",
      run_offset);
  copy(
      "INSERT INTO main.timelines (run_id, encoding, channels, samples, data) SELECT x.run_id + ?2, x.encoding, "
      "x.channels, x.samples, x.data FROM src.timelines x JOIN src.runs r ON r.id = x.run_id "
      "WHERE r.campaign_id = ?1",
      run_offset);
  copy(
      "INSERT INTO main.profiles (run_id, mode, energy_rule, estimated, interval_s, problem) SELECT x.run_id + ?2, "
      "x.mode, x.energy_rule, x.estimated, x.interval_s, x.problem FROM src.profiles x JOIN src.runs r ON r.id = "
      "x.run_id "
      "WHERE r.campaign_id = ?1",
      run_offset);
  copy(
      "INSERT INTO main.profile_functions (run_id, position, name, calls, self_s, total_s, energy_j, total_energy_j, "
      "idle_energy_j, dynamic_energy_j) SELECT x.run_id + ?2, x.position, x.name, x.calls, x.self_s, x.total_s, "
      "x.energy_j, x.total_energy_j, x.idle_energy_j, x.dynamic_energy_j FROM src.profile_functions x "
      "JOIN src.runs r ON r.id = x.run_id WHERE r.campaign_id = ?1",
      run_offset);
}

}  // namespace

MergeResult Store::merge(const std::vector<fs::path>& inputs, const fs::path& output) {
  if (inputs.empty()) throw StoreError(fmt::format("{}: cannot merge: no input stores given", output.string()));
  if (!output.has_filename()) {
    throw StoreError(fmt::format("{}: cannot merge into it: it names a folder, not a store file", output.string()));
  }

  // Read and check every input before anything is written.
  MergeResult result;
  std::vector<Input> shards;
  for (const auto& file : inputs) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      throw StoreError(fmt::format("{}: cannot merge: no such store", file.string()));
    }
    for (const auto& seen : shards) {
      if (fs::equivalent(seen.file, file, ec)) {
        throw StoreError(fmt::format("{}: cannot merge: the same store is given twice", file.string()));
      }
    }
    Store store(file);
    const auto campaigns = store.campaigns();
    if (campaigns.size() != 1) {
      throw StoreError(fmt::format("{}: cannot merge: the store holds {} campaigns; merge takes one campaign per store",
                                   file.string(), campaigns.size()));
    }
    const CampaignInfo& campaign = campaigns.front();
    if (!campaign.finished) {
      result.unfinished_shards.push_back(
          {file, campaign.shard, store.recorded_runs(campaign.id).size(), campaign.planned_runs});
    }
    shards.push_back({file, campaign, store.environment(campaign.id)});
  }
  const Input& first = shards.front();
  for (const auto& in : shards) {
    const auto& c = in.campaign;
    if (c.plan_hash != first.campaign.plan_hash) {
      throw StoreError(fmt::format(
          "{}: cannot merge: its campaign comes from another plan than {}'s (plan hash {}, not {}); only shards of one "
          "plan can be merged",
          in.file.string(), first.file.string(), c.plan_hash, first.campaign.plan_hash));
    }
    if (c.shard.count != first.campaign.shard.count) {
      throw StoreError(fmt::format("{}: cannot merge: it is shard {}/{}, but {} is shard {}/{} (a different split)",
                                   in.file.string(), c.shard.index, c.shard.count, first.file.string(),
                                   first.campaign.shard.index, first.campaign.shard.count));
    }
  }
  std::sort(shards.begin(), shards.end(),
            [](const Input& a, const Input& b) { return a.campaign.shard.index < b.campaign.shard.index; });
  for (std::size_t i = 1; i < shards.size(); ++i) {
    if (shards[i].campaign.shard.index == shards[i - 1].campaign.shard.index) {
      throw StoreError(fmt::format("{}: cannot merge: it is shard {}/{}, and so is {}", shards[i].file.string(),
                                   shards[i].campaign.shard.index, shards[i].campaign.shard.count,
                                   shards[i - 1].file.string()));
    }
  }
  result.shard_count = first.campaign.shard.count;
  for (int k = 1; k <= result.shard_count; ++k) {
    const bool given =
        std::any_of(shards.begin(), shards.end(), [&](const Input& in) { return in.campaign.shard.index == k; });
    if (!given) result.missing_shards.push_back(k);
  }
  std::sort(result.unfinished_shards.begin(), result.unfinished_shards.end(),
            [](const auto& a, const auto& b) { return a.shard.index < b.shard.index; });
  result.finished = result.missing_shards.empty() && result.unfinished_shards.empty();

  // Refused before any work: the rename at the end refuses an output that appears meanwhile.
  std::error_code exists_ec;
  if (fs::exists(fs::symlink_status(output, exists_ec))) throw_output_exists(output);

  result.removed_leftovers = remove_leftovers(output);
  const fs::path temporary = temporary_file(output, ::getpid());
  for (const char* suffix : kStoreSuffixes) {
    // A -wal or -journal beside an empty store would be replayed into it.
    const fs::path file(temporary.string() + suffix);
    if (fs::exists(fs::symlink_status(file, exists_ec))) {
      throw StoreError(fmt::format("{}: cannot merge into it: {} exists; remove it if no merge into it is running",
                                   output.string(), file.string()));
    }
  }
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw StoreError(fmt::format("{}: cannot create {} to merge into: {}", output.string(), temporary.string(),
                                 std::strerror(errno)));
  }
  ::close(fd);

  try {
    std::optional<Store> out(std::in_place, temporary);
    Db& db = out->impl_->db;

    CampaignPlan plan;
    plan.name = first.campaign.name;
    plan.seed = first.campaign.seed;
    plan.path = first.campaign.plan_path;
    plan.text = first.campaign.plan_text;
    plan.hash = first.campaign.plan_hash;
    std::size_t planned = 0;
    std::string created_at = first.campaign.created_at;
    for (const auto& in : shards) {
      planned += in.campaign.planned_runs;
      created_at = std::min(created_at, in.campaign.created_at);
    }
    const std::int64_t out_id = out->create_campaign(plan, Shard{1, 1}, planned, merge_environments(shards));
    {
      auto st = db.prepare("UPDATE campaigns SET created_at = ?1, finished = ?2 WHERE id = ?3");
      st.bind(1, created_at).bind(2, result.finished).bind(3, out_id);
      st.run();
    }

    std::map<std::int64_t, const Input*> by_shard;
    for (const auto& in : shards) {
      {
        auto st = db.prepare("ATTACH DATABASE ?1 AS src");
        st.bind(1, in.file.string());
        st.run();
      }
      try {
        Transaction tx(db);
        {
          auto st = db.prepare(
              "SELECT s.run_index, m.shard_index FROM src.runs s JOIN main.runs m "
              "ON m.campaign_id = ?2 AND m.run_index = s.run_index WHERE s.campaign_id = ?1 "
              "AND NOT (s.warmup = 1 AND m.warmup = 1 AND s.shard_index <> m.shard_index) LIMIT 1");
          st.bind(1, in.campaign.id).bind(2, out_id);
          if (st.step()) {
            const auto other = by_shard.find(st.integer(1));
            throw StoreError(fmt::format("{}: cannot merge: run {} is also in {}", in.file.string(), st.integer(0),
                                         other != by_shard.end() ? other->second->file.string() : "another input"));
          }
        }
        copy_campaign(db, in.campaign.id, out_id);
        {
          auto st = db.prepare("SELECT DISTINCT shard_index FROM src.runs WHERE campaign_id = ?1");
          st.bind(1, in.campaign.id);
          while (st.step()) by_shard.emplace(st.integer(0), &in);
        }
        tx.commit();
      } catch (...) {
        db.clear_cache();
        sqlite3_exec(db.handle(), "DETACH DATABASE src", nullptr, nullptr, nullptr);
        throw;
      }
      // Statements compiled against "src" must go before it can be detached.
      db.clear_cache();
      db.exec("DETACH DATABASE src");
    }
    // Closing the last connection checkpoints the WAL into the file and removes it: the file
    // alone is the store then. A WAL or journal still there would be lost by the rename.
    out.reset();
    for (const char* suffix : {"-wal", "-journal"}) {
      if (fs::exists(fs::path(temporary.string() + suffix), exists_ec)) {
        throw StoreError(fmt::format("{}: cannot merge: SQLite left {}{} behind on closing the merged store",
                                     output.string(), temporary.string(), suffix));
      }
    }
    sync_path(temporary, false);
    move_into_place(temporary, output);
    sync_path(folder_of(output), true);
  } catch (...) {
    remove_store_files(temporary);
    try {
      throw;
    } catch (const StoreError&) {
      throw;
    } catch (...) {
      store_detail::rethrow_with_context(output, "cannot merge");
    }
  }
  return result;
}

}  // namespace joulebench
