// Store::merge: shard stores of one plan into a new store.
//
// - Every input must hold exactly one campaign; all must come from the same plan (same plan
//   hash) and the same shard count, each a different shard. A shard that is absent is allowed.
// - The output must not exist: it is claimed with O_EXCL, and removed again if the merge fails.
// - The output's campaign: the inputs' name, plan and seed; shard 1/1; planned_runs the sum of
//   the inputs'; finished only if every input is; created_at the earliest of the inputs'.
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
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

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

void remove_store_files(const fs::path& output) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(fs::path(output.string() + suffix), ec);
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
  copy("INSERT INTO main.idle_baselines (id, campaign_id, started_unix_s, duration_s, cpu_temperature_c, "
       "gpu_temperature_c, complete) SELECT id + ?2, ?3, started_unix_s, duration_s, cpu_temperature_c, "
       "gpu_temperature_c, complete FROM src.idle_baselines WHERE campaign_id = ?1",
       idle_offset);
  copy("INSERT INTO main.idle_power (idle_id, position, domain, power_w) SELECT p.idle_id + ?2, p.position, "
       "p.domain, p.power_w FROM src.idle_power p JOIN src.idle_baselines b ON b.id = p.idle_id "
       "WHERE b.campaign_id = ?1",
       idle_offset);
  copy("INSERT INTO main.runs (id, campaign_id, run_index, shard_index, workload, repetition, warmup, status, "
       "exit_code, signal, reason, started_unix_s, time_s, user_cpu_s, system_cpu_s, max_rss_kib, idle_baseline_id, "
       "cooldown_s, stdout_path, stdout_bytes, stdout_dropped, stderr_path, stderr_bytes, stderr_dropped, "
       "malformed_events) SELECT id + ?2, ?3, run_index, shard_index, workload, repetition, warmup, status, "
       "exit_code, signal, reason, started_unix_s, time_s, user_cpu_s, system_cpu_s, max_rss_kib, "
       "idle_baseline_id + ?4, cooldown_s, stdout_path, stdout_bytes, stdout_dropped, stderr_path, stderr_bytes, "
       "stderr_dropped, malformed_events FROM src.runs WHERE campaign_id = ?1",
       run_offset, idle_offset);
  copy("INSERT INTO main.run_labels (run_id, position, key, value) SELECT x.run_id + ?2, x.position, x.key, x.value "
       "FROM src.run_labels x JOIN src.runs r ON r.id = x.run_id WHERE r.campaign_id = ?1",
       run_offset);
  copy("INSERT INTO main.run_energy (run_id, position, domain, energy_j, source, method, estimated, complete, "
       "unmeasured_s, dynamic_energy_j, problem, measured_nothing) SELECT x.run_id + ?2, x.position, x.domain, "
       "x.energy_j, x.source, x.method, x.estimated, x.complete, x.unmeasured_s, x.dynamic_energy_j, x.problem, "
       "x.measured_nothing FROM src.run_energy x "
       "JOIN src.runs r ON r.id = x.run_id WHERE r.campaign_id = ?1",
       run_offset);
  copy("INSERT INTO main.regions (id, run_id, position, name, start_s, end_s) SELECT x.id + ?4, x.run_id + ?2, "
       "x.position, x.name, x.start_s, x.end_s FROM src.regions x JOIN src.runs r ON r.id = x.run_id "
       "WHERE r.campaign_id = ?1",
       run_offset, region_offset);
  copy("INSERT INTO main.region_energy (region_id, position, domain, energy_j, source, method, estimated, complete, "
       "unmeasured_s, dynamic_energy_j, problem, measured_nothing) SELECT e.region_id + ?2, e.position, e.domain, "
       "e.energy_j, e.source, e.method, e.estimated, e.complete, e.unmeasured_s, e.dynamic_energy_j, e.problem, "
       "e.measured_nothing FROM src.region_energy e "
       "JOIN src.regions g ON g.id = e.region_id JOIN src.runs r ON r.id = g.run_id "
       "WHERE r.campaign_id = ?1",
       region_offset);
  copy("INSERT INTO main.metrics (run_id, position, name, value, unit, origin) SELECT x.run_id + ?2, x.position, "
       "x.name, x.value, x.unit, x.origin FROM src.metrics x JOIN src.runs r ON r.id = x.run_id "
       "WHERE r.campaign_id = ?1",
       run_offset);
  copy("INSERT INTO main.run_metadata (run_id, position, key, value) SELECT x.run_id + ?2, x.position, x.key, "
       "x.value FROM src.run_metadata x JOIN src.runs r ON r.id = x.run_id WHERE r.campaign_id = ?1",
       run_offset);
  copy("INSERT INTO main.timelines (run_id, encoding, channels, samples, data) SELECT x.run_id + ?2, x.encoding, "
       "x.channels, x.samples, x.data FROM src.timelines x JOIN src.runs r ON r.id = x.run_id "
       "WHERE r.campaign_id = ?1",
       run_offset);
  copy("INSERT INTO main.profiles (run_id, mode, energy_rule, estimated, interval_s, problem) SELECT x.run_id + ?2, "
       "x.mode, x.energy_rule, x.estimated, x.interval_s, x.problem FROM src.profiles x JOIN src.runs r ON r.id = x.run_id "
       "WHERE r.campaign_id = ?1",
       run_offset);
  copy("INSERT INTO main.profile_functions (run_id, position, name, calls, self_s, total_s, energy_j, total_energy_j, "
       "idle_energy_j, dynamic_energy_j) SELECT x.run_id + ?2, x.position, x.name, x.calls, x.self_s, x.total_s, "
       "x.energy_j, x.total_energy_j, x.idle_energy_j, x.dynamic_energy_j FROM src.profile_functions x "
       "JOIN src.runs r ON r.id = x.run_id WHERE r.campaign_id = ?1",
       run_offset);
}

}  // namespace

void Store::merge(const std::vector<fs::path>& inputs, const fs::path& output) {
  if (inputs.empty()) throw StoreError(fmt::format("{}: cannot merge: no input stores given", output.string()));

  // Read and check every input before anything is written.
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
    shards.push_back({file, campaigns.front(), store.environment(campaigns.front().id)});
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

  // Claim the output: refused if it exists, even if it appeared after the checks above.
  const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;
    if (error == EEXIST) {
      throw StoreError(fmt::format("{}: cannot merge into it: it already exists (merge writes a new store)",
                                   output.string()));
    }
    throw StoreError(fmt::format("{}: cannot create: {}", output.string(), std::strerror(error)));
  }
  ::close(fd);

  try {
    Store out(output);
    Db& db = out.impl_->db;

    CampaignPlan plan;
    plan.name = first.campaign.name;
    plan.seed = first.campaign.seed;
    plan.path = first.campaign.plan_path;
    plan.text = first.campaign.plan_text;
    plan.hash = first.campaign.plan_hash;
    std::size_t planned = 0;
    bool finished = true;
    std::string created_at = first.campaign.created_at;
    for (const auto& in : shards) {
      planned += in.campaign.planned_runs;
      finished = finished && in.campaign.finished;
      created_at = std::min(created_at, in.campaign.created_at);
    }
    const std::int64_t out_id = out.create_campaign(plan, Shard{1, 1}, planned, merge_environments(shards));
    {
      auto st = db.prepare("UPDATE campaigns SET created_at = ?1, finished = ?2 WHERE id = ?3");
      st.bind(1, created_at).bind(2, finished).bind(3, out_id);
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
  } catch (...) {
    remove_store_files(output);
    try {
      throw;
    } catch (const StoreError&) {
      throw;
    } catch (...) {
      store_detail::rethrow_with_context(output, "cannot merge");
    }
  }
}

}  // namespace joulebench
