// The results store on SQLite: see store.hpp for the contract and schema.cpp for the tables.
#include <algorithm>
#include <ctime>
#include <exception>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/store.hpp"
#include "store/schema.hpp"
#include "store/store_impl.hpp"
#include "store/timeline_codec.hpp"

namespace joulebench {

using store_detail::Db;
using store_detail::Statement;
using store_detail::Transaction;

// --- run status names ------------------------------------------------------------------------

namespace store_detail {

void rethrow_with_context(const std::filesystem::path& file, std::string_view context) {
  const std::string prefix = file.string() + ": ";
  std::string reason;
  try {
    throw;
  } catch (const std::exception& e) {
    reason = e.what();
  } catch (...) {
    reason = "unknown error";
  }
  if (reason.starts_with(prefix)) reason.erase(0, prefix.size());
  throw StoreError(fmt::format("{}{}: {}", prefix, context, reason));
}

std::string now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace store_detail

namespace {

std::int64_t to_db(std::size_t v) {
  if (v > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())) {
    throw std::out_of_range(fmt::format("{} is too large for the store", v));
  }
  return static_cast<std::int64_t>(v);
}

/// An unsigned 64-bit value (a seed, a byte count) as the signed integer with the same bits.
std::int64_t bits_of(std::uint64_t v) { return static_cast<std::int64_t>(v); }

std::size_t to_size(std::int64_t v) { return v < 0 ? 0 : static_cast<std::size_t>(v); }

constexpr const char* kCampaignColumns =
    "id, name, plan_hash, plan_text, plan_path, seed, shard_index, shard_count, planned_runs, finished, created_at";

CampaignInfo read_campaign(const Statement& st) {
  CampaignInfo info;
  info.id = st.integer(0);
  info.name = st.text(1);
  info.plan_hash = st.text(2);
  info.plan_text = st.text(3);
  info.plan_path = st.text(4);
  info.seed = static_cast<std::uint64_t>(st.integer(5));
  info.shard.index = static_cast<int>(st.integer(6));
  info.shard.count = static_cast<int>(st.integer(7));
  info.planned_runs = to_size(st.integer(8));
  info.finished = st.integer(9) != 0;
  info.created_at = st.text(10);
  return info;
}

void require_campaign(Db& db, std::int64_t campaign) {
  auto st = db.prepare("SELECT 1 FROM campaigns WHERE id = ?1");
  st.bind(1, campaign);
  if (!st.step()) db.fail_plain(fmt::format("no campaign {}", campaign));
}

void insert_energy(Db& db, const char* sql, std::int64_t owner, const std::vector<EnergyFigure>& energy) {
  if (energy.empty()) return;
  auto st = db.prepare(sql);
  std::int64_t position = 0;
  for (const auto& e : energy) {
    st.bind(1, owner)
        .bind(2, position++)
        .bind(3, e.domain.name())
        .bind(4, e.energy_j)
        .bind(5, e.source)
        .bind(6, method_name(e.method))
        .bind(7, e.estimated)
        .bind(8, e.complete)
        .bind(9, e.unmeasured_s)
        .bind(10, e.dynamic_energy_j)
        .bind(11, e.problem)
        .bind(12, e.measured_nothing);
    st.run();
  }
}

void insert_key_values(Db& db, const char* sql, std::int64_t owner, const KeyValues& values) {
  if (values.empty()) return;
  auto st = db.prepare(sql);
  std::int64_t position = 0;
  for (const auto& [key, value] : values) {
    st.bind(1, owner).bind(2, position++).bind(3, key).bind(4, value);
    st.run();
  }
}

/// Columns 1..11 of an energy query (after the owner id in column 0).
EnergyFigure read_energy(const Statement& st) {
  EnergyFigure e;
  const std::string domain = st.text(1);
  const auto parsed_domain = DomainId::parse(domain);
  if (!parsed_domain) throw StoreError("an energy figure has no domain");
  e.domain = *parsed_domain;
  e.energy_j = st.real_or_nan(2);
  e.source = st.text(3);
  const std::string method = st.text(4);
  const auto parsed_method = parse_figure_method(method);
  if (!parsed_method) throw StoreError(fmt::format("an energy figure has an unknown method '{}'", method));
  e.method = *parsed_method;
  e.estimated = st.integer(5) != 0;
  e.complete = st.integer(6) != 0;
  e.unmeasured_s = st.real_or_nan(7);
  e.dynamic_energy_j = st.optional_real(8);
  e.problem = st.text(9);
  e.measured_nothing = st.integer(10) != 0;
  return e;
}

constexpr const char* kRunColumns =
    "r.id, r.run_index, r.workload, r.repetition, r.warmup, r.status, r.exit_code, r.signal, r.reason, "
    "r.started_unix_s, r.time_s, r.user_cpu_s, r.system_cpu_s, r.max_rss_kib, r.idle_baseline_id, r.cooldown_s, "
    "r.stdout_path, r.stdout_bytes, r.stdout_dropped, r.stderr_path, r.stderr_bytes, r.stderr_dropped, "
    "r.malformed_events, r.other_cpu_before_cores, r.other_cpu_cores, r.peak_memory_kib";

/// max_rss_kib is NOT NULL since version 1: a run whose single-process peak is unknown (a
/// container's) keeps -1 there.
constexpr std::int64_t kUnknownMaxRss = -1;

RunRecord read_run(const Db& db, const Statement& st) {
  RunRecord run;
  run.index = to_size(st.integer(1));
  run.workload = st.text(2);
  run.repetition = static_cast<int>(st.integer(3));
  run.warmup = st.integer(4) != 0;
  const std::string status = st.text(5);
  const auto parsed = parse_run_status(status);
  if (!parsed) db.fail_plain(fmt::format("run {} has an unknown status '{}'", run.index, status));
  run.status = *parsed;
  if (auto v = st.optional_integer(6)) run.exit_code = static_cast<int>(*v);
  if (auto v = st.optional_integer(7)) run.signal = static_cast<int>(*v);
  run.reason = st.text(8);
  run.started_unix_s = st.real_or_nan(9);
  run.time_s = st.real_or_nan(10);
  run.user_cpu_s = st.real_or_nan(11);
  run.system_cpu_s = st.real_or_nan(12);
  run.max_rss_kib = st.integer(13);
  if (run.max_rss_kib == kUnknownMaxRss) run.max_rss_kib.reset();
  run.idle_baseline = st.optional_integer(14);
  run.cooldown_s = st.real_or_nan(15);
  run.stdout_log = {st.text(16), static_cast<std::uint64_t>(st.integer(17)),
                    static_cast<std::uint64_t>(st.integer(18))};
  run.stderr_log = {st.text(19), static_cast<std::uint64_t>(st.integer(20)),
                    static_cast<std::uint64_t>(st.integer(21))};
  run.malformed_events = to_size(st.integer(22));
  run.other_cpu_before_cores = st.optional_real(23);
  run.other_cpu_cores = st.optional_real(24);
  run.peak_memory_kib = st.optional_integer(25);
  return run;
}

}  // namespace

// --- Store -----------------------------------------------------------------------------------

Store::Impl::Impl(const std::filesystem::path& file) : db(file) {
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA synchronous = FULL");
  // Checks what the file is (and refuses a newer schema) before anything is written to it.
  version = store_detail::migrate(db, store_detail::migrations());
  // Persistent in the file. Where WAL is impossible (some network file systems) SQLite keeps a
  // rollback journal, which is as safe with synchronous = FULL, only slower.
  db.query_text("PRAGMA journal_mode = WAL");
}

Store::Store(const std::filesystem::path& file) : impl_(std::make_unique<Impl>(file)) {}
Store::~Store() = default;
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

int Store::current_schema_version() { return store_detail::migrations().back().version; }
int Store::schema_version() const { return impl_->version; }
const std::filesystem::path& Store::file() const { return impl_->db.file(); }

std::vector<CampaignInfo> Store::campaigns() const {
  auto st = impl_->db.prepare(fmt::format("SELECT {} FROM campaigns ORDER BY id", kCampaignColumns));
  std::vector<CampaignInfo> out;
  while (st.step()) out.push_back(read_campaign(st));
  return out;
}

std::optional<CampaignInfo> Store::campaign(std::int64_t id) const {
  auto st = impl_->db.prepare(fmt::format("SELECT {} FROM campaigns WHERE id = ?1", kCampaignColumns));
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_campaign(st);
}

std::int64_t Store::create_campaign(const CampaignPlan& plan, const Shard& shard, std::size_t planned_runs,
                                    const KeyValues& environment) {
  Db& db = impl_->db;
  if (shard.count < 1 || shard.index < 1 || shard.index > shard.count) {
    db.fail_plain(
        fmt::format("cannot create campaign '{}': shard {}/{} is out of range", plan.name, shard.index, shard.count));
  }
  try {
    Transaction tx(db);
    auto st = db.prepare(
        "INSERT INTO campaigns (name, plan_hash, plan_text, plan_path, seed, shard_index, shard_count, planned_runs, "
        "finished, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)");
    st.bind(1, plan.name)
        .bind(2, plan.hash)
        .bind(3, plan.text)
        .bind(4, plan.path.string())
        .bind(5, bits_of(plan.seed))
        .bind(6, shard.index)
        .bind(7, shard.count)
        .bind(8, to_db(planned_runs))
        .bind(9, store_detail::now_iso8601());
    st.run();
    const std::int64_t id = db.last_insert_id();
    insert_key_values(db,
                      "INSERT INTO campaign_environment (campaign_id, position, key, value) VALUES (?1, ?2, ?3, ?4)",
                      id, environment);
    tx.commit();
    return id;
  } catch (...) {
    store_detail::rethrow_with_context(db.file(), fmt::format("cannot create campaign '{}'", plan.name));
  }
}

void Store::finish_campaign(std::int64_t campaign) {
  Db& db = impl_->db;
  auto st = db.prepare("UPDATE campaigns SET finished = 1 WHERE id = ?1");
  st.bind(1, campaign);
  st.run();
  if (sqlite3_changes(db.handle()) == 0)
    db.fail_plain(fmt::format("cannot finish campaign {}: no such campaign", campaign));
}

KeyValues Store::environment(std::int64_t campaign) const {
  auto st = impl_->db.prepare("SELECT key, value FROM campaign_environment WHERE campaign_id = ?1 ORDER BY position");
  st.bind(1, campaign);
  KeyValues out;
  while (st.step()) out.emplace_back(st.text(0), st.text(1));
  return out;
}

std::set<std::size_t> Store::recorded_runs(std::int64_t campaign) const {
  auto st = impl_->db.prepare("SELECT run_index FROM runs WHERE campaign_id = ?1");
  st.bind(1, campaign);
  std::set<std::size_t> out;
  while (st.step()) out.insert(to_size(st.integer(0)));
  return out;
}

std::int64_t Store::record_idle(std::int64_t campaign, const IdleRecord& idle) {
  Db& db = impl_->db;
  try {
    Transaction tx(db);
    require_campaign(db, campaign);
    auto st = db.prepare(
        "INSERT INTO idle_baselines (campaign_id, started_unix_s, duration_s, cpu_temperature_c, gpu_temperature_c, "
        "complete) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    st.bind(1, campaign)
        .bind(2, idle.started_unix_s)
        .bind(3, idle.duration_s)
        .bind(4, idle.cpu_temperature_c)
        .bind(5, idle.gpu_temperature_c)
        .bind(6, idle.complete);
    st.run();
    const std::int64_t id = db.last_insert_id();
    if (!idle.power_w.empty()) {
      auto power = db.prepare("INSERT INTO idle_power (idle_id, position, domain, power_w) VALUES (?1, ?2, ?3, ?4)");
      std::int64_t position = 0;
      for (const auto& [domain, watts] : idle.power_w) {
        power.bind(1, id).bind(2, position++).bind(3, domain).bind(4, watts);
        power.run();
      }
    }
    tx.commit();
    return id;
  } catch (...) {
    store_detail::rethrow_with_context(db.file(),
                                       fmt::format("cannot record an idle baseline of campaign {}", campaign));
  }
}

std::vector<IdleRecord> Store::idle_baselines(std::int64_t campaign) const {
  Db& db = impl_->db;
  std::vector<IdleRecord> out;
  std::unordered_map<std::int64_t, std::size_t> by_id;
  {
    auto st = db.prepare(
        "SELECT id, started_unix_s, duration_s, cpu_temperature_c, gpu_temperature_c, complete FROM idle_baselines "
        "WHERE campaign_id = ?1 ORDER BY id");
    st.bind(1, campaign);
    while (st.step()) {
      IdleRecord idle;
      idle.id = st.integer(0);
      idle.started_unix_s = st.real_or_nan(1);
      idle.duration_s = st.real_or_nan(2);
      idle.cpu_temperature_c = st.optional_real(3);
      idle.gpu_temperature_c = st.optional_real(4);
      idle.complete = st.integer(5) != 0;
      by_id.emplace(idle.id, out.size());
      out.push_back(std::move(idle));
    }
  }
  auto st = db.prepare(
      "SELECT p.idle_id, p.domain, p.power_w FROM idle_power p JOIN idle_baselines b ON b.id = p.idle_id "
      "WHERE b.campaign_id = ?1 ORDER BY p.idle_id, p.position");
  st.bind(1, campaign);
  while (st.step()) {
    const auto it = by_id.find(st.integer(0));
    if (it != by_id.end()) out[it->second].power_w.emplace_back(st.text(1), st.real_or_nan(2));
  }
  return out;
}

void Store::record_run(std::int64_t campaign, const RunRecord& run) {
  record_runs(campaign, std::span<const RunRecord>(&run, 1));
}

void Store::record_runs(std::int64_t campaign, std::span<const RunRecord> runs) {
  Db& db = impl_->db;
  const RunRecord* current = nullptr;
  try {
    // Encoded before the transaction: the write lock is held only for the writes.
    std::vector<std::optional<std::vector<std::uint8_t>>> timelines(runs.size());
    for (std::size_t i = 0; i < runs.size(); ++i) {
      if (!runs[i].timeline.channels.empty() || !runs[i].timeline.time_s.empty()) {
        timelines[i] = store_detail::encode_timeline(runs[i].timeline);
      }
    }

    Transaction tx(db);
    std::int64_t shard_index = 0;
    {
      auto st = db.prepare("SELECT shard_index FROM campaigns WHERE id = ?1");
      st.bind(1, campaign);
      if (!st.step()) db.fail_plain("no such campaign");
      shard_index = st.integer(0);
    }
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const RunRecord& run = runs[i];
      current = &run;
      const std::int64_t index = to_db(run.index);
      const bool has_timeline = timelines[i].has_value();
      const std::string channels = has_timeline ? store_detail::channels_to_text(run.timeline.channels) : std::string();
      {
        auto st = db.prepare("SELECT 1 FROM runs WHERE campaign_id = ?1 AND run_index = ?2");
        st.bind(1, campaign).bind(2, index);
        if (st.step()) db.fail_plain("it is already recorded (a run is never stored twice)");
      }
      {
        auto st = db.prepare(
            "INSERT INTO runs (campaign_id, run_index, shard_index, workload, repetition, warmup, status, exit_code, "
            "signal, reason, started_unix_s, time_s, user_cpu_s, system_cpu_s, max_rss_kib, idle_baseline_id, "
            "cooldown_s, stdout_path, stdout_bytes, stdout_dropped, stderr_path, stderr_bytes, stderr_dropped, "
            "malformed_events, other_cpu_before_cores, other_cpu_cores, peak_memory_kib) VALUES (?1, ?2, ?3, ?4, ?5, "
            "?6, "
            "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)");
        st.bind(1, campaign)
            .bind(2, index)
            .bind(3, shard_index)
            .bind(4, run.workload)
            .bind(5, run.repetition)
            .bind(6, run.warmup)
            .bind(7, run_status_name(run.status))
            .bind(8, run.exit_code)
            .bind(9, run.signal)
            .bind(10, run.reason)
            .bind(11, run.started_unix_s)
            .bind(12, run.time_s)
            .bind(13, run.user_cpu_s)
            .bind(14, run.system_cpu_s)
            .bind(15, run.max_rss_kib.value_or(kUnknownMaxRss))
            .bind(16, run.idle_baseline)
            .bind(17, run.cooldown_s)
            .bind(18, run.stdout_log.path)
            .bind(19, bits_of(run.stdout_log.bytes))
            .bind(20, bits_of(run.stdout_log.dropped))
            .bind(21, run.stderr_log.path)
            .bind(22, bits_of(run.stderr_log.bytes))
            .bind(23, bits_of(run.stderr_log.dropped))
            .bind(24, to_db(run.malformed_events))
            .bind(25, run.other_cpu_before_cores)
            .bind(26, run.other_cpu_cores)
            .bind(27, run.peak_memory_kib);
        st.run();
      }
      const std::int64_t run_id = db.last_insert_id();
      insert_key_values(db, "INSERT INTO run_labels (run_id, position, key, value) VALUES (?1, ?2, ?3, ?4)", run_id,
                        run.labels);
      insert_energy(db,
                    "INSERT INTO run_energy (run_id, position, domain, energy_j, source, method, estimated, complete, "
                    "unmeasured_s, dynamic_energy_j, problem, measured_nothing) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    run_id, run.energy);
      if (!run.regions.empty()) {
        std::int64_t position = 0;
        for (const auto& region : run.regions) {
          {
            auto st =
                db.prepare("INSERT INTO regions (run_id, position, name, start_s, end_s) VALUES (?1, ?2, ?3, ?4, ?5)");
            st.bind(1, run_id).bind(2, position++).bind(3, region.name).bind(4, region.start_s).bind(5, region.end_s);
            st.run();
          }
          insert_energy(db,
                        "INSERT INTO region_energy (region_id, position, domain, energy_j, source, method, estimated, "
                        "complete, unmeasured_s, dynamic_energy_j, problem, measured_nothing) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                        db.last_insert_id(), region.energy);
        }
      }
      if (!run.metrics.empty()) {
        auto st = db.prepare(
            "INSERT INTO metrics (run_id, position, name, value, unit, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        std::int64_t position = 0;
        for (const auto& m : run.metrics) {
          st.bind(1, run_id).bind(2, position++).bind(3, m.name).bind(4, m.value).bind(5, m.unit).bind(6, m.origin);
          st.run();
        }
      }
      insert_key_values(db, "INSERT INTO run_metadata (run_id, position, key, value) VALUES (?1, ?2, ?3, ?4)", run_id,
                        run.metadata);
      if (!run.warnings.empty()) {
        auto st = db.prepare("INSERT INTO run_warnings (run_id, position, kind, message) VALUES (?1, ?2, ?3, ?4)");
        std::int64_t position = 0;
        for (const auto& w : run.warnings) {
          st.bind(1, run_id).bind(2, position++).bind(3, w.kind).bind(4, w.message);
          st.run();
        }
      }
      if (run.profile) {
        const StoredProfile& profile = *run.profile;
        {
          auto st = db.prepare(
              "INSERT INTO profiles (run_id, mode, energy_rule, estimated, interval_s, problem) VALUES (?1, ?2, ?3, "
              "?4, ?5, ?6)");
          st.bind(1, run_id)
              .bind(2, profile.mode)
              .bind(3, profile.energy_rule)
              .bind(4, profile.estimated)
              .bind(5, profile.interval_s)
              .bind(6, profile.problem);
          st.run();
        }
        auto st = db.prepare(
            "INSERT INTO profile_functions (run_id, position, name, calls, self_s, total_s, energy_j, total_energy_j, "
            "idle_energy_j, dynamic_energy_j) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
        std::int64_t position = 0;
        for (const auto& f : profile.functions) {
          st.bind(1, run_id)
              .bind(2, position++)
              .bind(3, f.name)
              .bind(4, f.calls ? std::optional<std::int64_t>(bits_of(*f.calls)) : std::nullopt)
              .bind(5, f.self_s)
              .bind(6, f.total_s)
              .bind(7, f.energy_j)
              .bind(8, f.total_energy_j)
              .bind(9, f.idle_energy_j)
              .bind(10, f.dynamic_energy_j);
          st.run();
        }
      }
      if (has_timeline) {
        auto st =
            db.prepare("INSERT INTO timelines (run_id, encoding, channels, samples, data) VALUES (?1, 1, ?2, ?3, ?4)");
        st.bind(1, run_id).bind(2, channels).bind(3, to_db(run.timeline.time_s.size()));
        st.bind_blob(4, timelines[i]->data(), timelines[i]->size());
        st.run();
      }
    }
    tx.commit();
  } catch (...) {
    store_detail::rethrow_with_context(
        db.file(), current ? fmt::format("cannot record run {} of campaign {}", current->index, campaign)
                           : fmt::format("cannot record runs of campaign {}", campaign));
  }
}

namespace {

/// The runs a filter selects, in campaign order, without their lists; their ids into `ids`.
std::vector<RunRecord> select_runs(Db& db, std::int64_t campaign, const RunFilter& filter,
                                   std::vector<std::int64_t>& ids) {
  std::vector<RunRecord> out;
  // The text varies only in how many label conditions it has; every value is bound.
  std::string sql = fmt::format(
      "SELECT {} FROM runs r WHERE r.campaign_id = ?1 AND (?2 IS NULL OR r.workload = ?2) "
      "AND (?3 IS NULL OR r.status = ?3) AND (?4 IS NULL OR r.warmup = ?4) "
      "AND (?5 IS NULL OR EXISTS (SELECT 1 FROM profiles p WHERE p.run_id = r.id) = ?5)",
      kRunColumns);
  for (std::size_t i = 0; i < filter.labels.size(); ++i) {
    sql +=
        fmt::format(" AND EXISTS (SELECT 1 FROM run_labels l WHERE l.run_id = r.id AND l.key = ?{} AND l.value = ?{})",
                    6 + 2 * i, 7 + 2 * i);
  }
  if (!filter.indices.empty()) {
    // Positions are numbers the store wrote, not user text: they go into the statement as such.
    sql += fmt::format(" AND r.run_index IN ({})", fmt::join(filter.indices, ","));
  }
  sql += " ORDER BY r.run_index, r.shard_index";
  auto st = db.prepare(sql);
  st.bind(1, campaign);
  if (filter.workload) st.bind(2, *filter.workload);
  if (filter.status) st.bind(3, run_status_name(*filter.status));
  if (filter.warmup) st.bind(4, *filter.warmup);
  if (filter.profiled) st.bind(5, *filter.profiled);
  for (std::size_t i = 0; i < filter.labels.size(); ++i) {
    st.bind(static_cast<int>(6 + 2 * i), filter.labels[i].first);
    st.bind(static_cast<int>(7 + 2 * i), filter.labels[i].second);
  }
  // Unfiltered, every run of the campaign comes back: room for them all (counted on the
  // campaign's index alone) spares moving the records as the vector grows.
  if (!filter.workload && !filter.status && !filter.warmup && !filter.profiled && filter.labels.empty() &&
      filter.indices.empty()) {
    auto count = db.prepare("SELECT count(*) FROM runs WHERE campaign_id = ?1");
    count.bind(1, campaign);
    if (count.step()) {
      out.reserve(to_size(count.integer(0)));
      ids.reserve(out.capacity());
    }
  }
  while (st.step()) {
    ids.push_back(st.integer(0));
    out.push_back(read_run(db, st));
  }
  return out;
}

/// Reads the rows that belong to runs (labels, energies, ...): one range scan per table over the
/// selected runs' ids, in primary-key order, so with neither a join nor a sort; rows of runs in the
/// range that were not selected (filtered out, or another campaign's) are skipped. A cursor over
/// the ids, sorted, follows the rows.
class RunChildren {
 public:
  RunChildren(Db& db, std::vector<RunRecord>& runs, const std::vector<std::int64_t>& ids) : db_(db), runs_(runs) {
    by_id_.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) by_id_.emplace_back(ids[i], i);
    // Ids mostly follow run order already.
    if (!std::is_sorted(by_id_.begin(), by_id_.end())) std::sort(by_id_.begin(), by_id_.end());
  }

  /// Calls add(run, statement) for each row of `sql` (?1, ?2: the range of run ids) of a selected run.
  template <class Add>
  void for_each(const char* sql, Add&& add) {
    auto st = db_.prepare(sql);
    st.bind(1, by_id_.front().first).bind(2, by_id_.back().first);
    auto next = by_id_.begin();
    while (st.step()) {
      const std::int64_t id = st.integer(0);
      while (next != by_id_.end() && next->first < id) ++next;
      if (next == by_id_.end()) break;
      if (next->first == id) add(runs_[next->second], st);
    }
  }

  /// A list of each run: room for as many items as the previous run had (a campaign's runs mostly
  /// have as many labels, energies... each) spares regrowing it item by item.
  template <class T, class Read>
  void for_each_list(const char* sql, std::vector<T> RunRecord::*list, Read&& read) {
    const RunRecord* previous = nullptr;
    for_each(sql, [&](RunRecord& run, const Statement& st) {
      auto& items = run.*list;
      if (items.empty() && previous != nullptr) items.reserve((previous->*list).size());
      items.push_back(read(st));
      previous = &run;
    });
  }

 private:
  Db& db_;
  std::vector<RunRecord>& runs_;
  std::vector<std::pair<std::int64_t, std::size_t>> by_id_;  // run id, position in runs_
};

void read_lists(RunChildren& children) {
  children.for_each_list(
      "SELECT x.run_id, x.key, x.value FROM run_labels x WHERE x.run_id BETWEEN ?1 AND ?2 "
      "ORDER BY x.run_id, x.position",
      &RunRecord::labels, [](const Statement& st) {
        return std::pair{st.text(1), st.text(2)};
      });
  children.for_each_list(
      "SELECT x.run_id, x.domain, x.energy_j, x.source, x.method, x.estimated, x.complete, "
      "x.unmeasured_s, x.dynamic_energy_j, x.problem, x.measured_nothing FROM run_energy x "
      "WHERE x.run_id BETWEEN ?1 AND ?2 "
      "ORDER BY x.run_id, x.position",
      &RunRecord::energy, read_energy);
  children.for_each_list(
      "SELECT x.run_id, x.name, x.value, x.unit, x.origin FROM metrics x WHERE x.run_id BETWEEN ?1 AND ?2 "
      "ORDER BY x.run_id, x.position",
      &RunRecord::metrics, [](const Statement& st) {
        return StoredMetric{st.text(1), st.real_or_nan(2), st.text(3), st.text(4)};
      });
  children.for_each_list(
      "SELECT x.run_id, x.key, x.value FROM run_metadata x WHERE x.run_id BETWEEN ?1 AND ?2 "
      "ORDER BY x.run_id, x.position",
      &RunRecord::metadata, [](const Statement& st) {
        return std::pair{st.text(1), st.text(2)};
      });
  children.for_each_list(
      "SELECT x.run_id, x.kind, x.message FROM run_warnings x WHERE x.run_id BETWEEN ?1 AND ?2 "
      "ORDER BY x.run_id, x.position",
      &RunRecord::warnings, [](const Statement& st) {
        return RunWarning{st.text(1), st.text(2)};
      });
}

/// Regions, then their energies (keyed by region id, over the range of the regions read).
void read_regions(Db& db, RunChildren& children, std::vector<RunRecord>& out) {
  std::unordered_map<std::int64_t, StoredRegion*> regions;
  std::int64_t first_region = std::numeric_limits<std::int64_t>::max();
  std::int64_t last_region = std::numeric_limits<std::int64_t>::min();
  {
    std::vector<std::pair<std::int64_t, std::size_t>> order;  // region id, run position
    children.for_each(
        "SELECT x.run_id, x.name, x.start_s, x.end_s, x.id FROM regions x WHERE x.run_id BETWEEN ?1 AND ?2 "
        "ORDER BY x.run_id, x.position",
        [&](RunRecord& run, const Statement& st) {
          run.regions.push_back({st.text(1), st.real_or_nan(2), st.real_or_nan(3), {}});
          const std::int64_t id = st.integer(4);
          order.emplace_back(id, static_cast<std::size_t>(&run - out.data()));
          first_region = std::min(first_region, id);
          last_region = std::max(last_region, id);
        });
    // Pointers only once every region vector has stopped growing.
    std::unordered_map<std::size_t, std::size_t> next;  // run position -> next region
    for (const auto& [region_id, run_pos] : order) regions.emplace(region_id, &out[run_pos].regions[next[run_pos]++]);
  }
  if (!regions.empty()) {
    auto st = db.prepare(
        "SELECT e.region_id, e.domain, e.energy_j, e.source, e.method, e.estimated, e.complete, e.unmeasured_s, "
        "e.dynamic_energy_j, e.problem, e.measured_nothing FROM region_energy e WHERE e.region_id BETWEEN ?1 AND ?2 "
        "ORDER BY e.region_id, e.position");
    st.bind(1, first_region).bind(2, last_region);
    while (st.step()) {
      const auto it = regions.find(st.integer(0));
      if (it != regions.end()) it->second->energy.push_back(read_energy(st));
    }
  }
}

void read_profiles(RunChildren& children) {
  children.for_each(
      "SELECT x.run_id, x.mode, x.energy_rule, x.estimated, x.interval_s, x.problem FROM profiles x "
      "WHERE x.run_id BETWEEN ?1 AND ?2 ORDER BY x.run_id",
      [](RunRecord& run, const Statement& st) {
        run.profile = StoredProfile{st.text(1), st.text(2), st.integer(3) != 0, st.real_or_nan(4), st.text(5), {}};
      });
  children.for_each(
      "SELECT x.run_id, x.name, x.calls, x.self_s, x.total_s, x.energy_j, x.total_energy_j, x.idle_energy_j, "
      "x.dynamic_energy_j FROM profile_functions x WHERE x.run_id BETWEEN ?1 AND ?2 "
      "ORDER BY x.run_id, x.position",
      [](RunRecord& run, const Statement& st) {
        if (!run.profile) return;
        const auto calls = st.optional_integer(2);
        run.profile->functions.push_back(
            {st.text(1), calls ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(*calls)) : std::nullopt,
             st.real_or_nan(3), st.real_or_nan(4), st.optional_real(5), st.optional_real(6), st.optional_real(7),
             st.optional_real(8)});
      });
}

void read_timelines(Db& db, const std::vector<std::int64_t>& ids, std::vector<RunRecord>& out) {
  auto st = db.prepare("SELECT encoding, channels, samples, data FROM timelines WHERE run_id = ?1");
  for (std::size_t i = 0; i < out.size(); ++i) {
    st.bind(1, ids[i]);
    if (st.step()) {
      auto& timeline = out[i].timeline;
      if (st.integer(0) != 1) {
        db.fail_plain(fmt::format("run {} has a timeline in unknown encoding {}", out[i].index, st.integer(0)));
      }
      timeline.channels = store_detail::channels_from_text(st.text(1));
      const auto [data, size] = st.blob(3);
      store_detail::decode_timeline(data, size, to_size(st.integer(2)), timeline);
    }
    st.reset();
  }
}

}  // namespace

std::vector<RunRecord> Store::runs(std::int64_t campaign, const RunFilter& filter, bool with_timelines) const {
  Db& db = impl_->db;
  std::vector<RunRecord> out;
  try {
    std::vector<std::int64_t> ids;
    out = select_runs(db, campaign, filter, ids);
    if (out.empty()) return out;
    RunChildren children(db, out, ids);
    read_lists(children);
    read_regions(db, children, out);
    if (!filter.profiled || *filter.profiled) read_profiles(children);
    if (with_timelines) read_timelines(db, ids, out);
  } catch (...) {
    store_detail::rethrow_with_context(db.file(), fmt::format("cannot read the runs of campaign {}", campaign));
  }
  return out;
}

}  // namespace joulebench
