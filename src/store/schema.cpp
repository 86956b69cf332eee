#include "store/schema.hpp"

#include <array>

#include <fmt/format.h>

namespace joulebench::store_detail {

namespace {

// Version 1. Conventions:
// - Ordered key/value lists (labels, environment, metadata) keep their order in `position`.
// - Measured reals are nullable: SQLite stores NaN as NULL, and the store reads NULL back as NaN
//   (or as "absent" for optional figures), so a NaN never makes a run unrecordable.
// - Unsigned 64-bit values (the seed) are stored as the signed integer with the same bits.
// - runs.shard_index is the shard the run was measured in. Shards of one campaign each run every
//   warm-up run (plan.hpp, shard_runs), so a merged store may hold one warm-up run of the same
//   index per shard; any other index occurs once per campaign (record_run and merge check it).
// - The power timeline lives in its own table, so reading runs never touches timeline pages.
// - Child rows (labels, energies, metrics...) are WITHOUT ROWID tables keyed (owner, position):
//   reading a run's rows in order is one index range, with no sort.
constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE campaigns (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  plan_hash     TEXT    NOT NULL,
  plan_text     TEXT    NOT NULL,
  plan_path     TEXT    NOT NULL,
  seed          INTEGER NOT NULL,
  shard_index   INTEGER NOT NULL,
  shard_count   INTEGER NOT NULL,
  planned_runs  INTEGER NOT NULL CHECK (planned_runs >= 0),
  finished      INTEGER NOT NULL DEFAULT 0 CHECK (finished IN (0, 1)),
  created_at    TEXT    NOT NULL,
  CONSTRAINT shard_in_range CHECK (shard_count >= 1 AND shard_index BETWEEN 1 AND shard_count)
);

CREATE TABLE campaign_environment (
  campaign_id  INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
  position     INTEGER NOT NULL,
  key          TEXT    NOT NULL,
  value        TEXT    NOT NULL,
  PRIMARY KEY (campaign_id, position)
) WITHOUT ROWID;

CREATE TABLE idle_baselines (
  id                 INTEGER PRIMARY KEY,
  campaign_id        INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
  started_unix_s     REAL,
  duration_s         REAL,
  cpu_temperature_c  REAL,
  gpu_temperature_c  REAL,
  complete           INTEGER NOT NULL CHECK (complete IN (0, 1))
);
CREATE INDEX idle_baselines_by_campaign ON idle_baselines (campaign_id);

CREATE TABLE idle_power (
  idle_id   INTEGER NOT NULL REFERENCES idle_baselines(id) ON DELETE CASCADE,
  position  INTEGER NOT NULL,
  domain    TEXT    NOT NULL CONSTRAINT idle_domain_not_empty CHECK (domain <> ''),
  power_w   REAL,
  PRIMARY KEY (idle_id, position)
) WITHOUT ROWID;

CREATE TABLE runs (
  id                INTEGER PRIMARY KEY,
  campaign_id       INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
  run_index         INTEGER NOT NULL CHECK (run_index >= 0),
  shard_index       INTEGER NOT NULL,
  workload          TEXT    NOT NULL,
  repetition        INTEGER NOT NULL,
  warmup            INTEGER NOT NULL CHECK (warmup IN (0, 1)),
  status            TEXT    NOT NULL
                    CHECK (status IN ('ok', 'failed', 'signaled', 'timed-out', 'not-run')),
  exit_code         INTEGER,
  signal            INTEGER,
  reason            TEXT    NOT NULL,
  started_unix_s    REAL,
  time_s            REAL,
  user_cpu_s        REAL,
  system_cpu_s      REAL,
  max_rss_kib       INTEGER NOT NULL,
  idle_baseline_id  INTEGER REFERENCES idle_baselines(id),
  cooldown_s        REAL,
  stdout_path       TEXT    NOT NULL,
  stdout_bytes      INTEGER NOT NULL,
  stdout_dropped    INTEGER NOT NULL,
  stderr_path       TEXT    NOT NULL,
  stderr_bytes      INTEGER NOT NULL,
  stderr_dropped    INTEGER NOT NULL,
  malformed_events  INTEGER NOT NULL,
  UNIQUE (campaign_id, run_index, shard_index)
);

CREATE TABLE run_labels (
  run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position  INTEGER NOT NULL,
  key       TEXT    NOT NULL,
  value     TEXT    NOT NULL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;
CREATE INDEX run_labels_by_key ON run_labels (key, value);

CREATE TABLE run_energy (
  run_id            INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position          INTEGER NOT NULL,
  domain            TEXT    NOT NULL CONSTRAINT energy_domain_not_empty CHECK (domain <> ''),
  energy_j          REAL,
  source            TEXT    NOT NULL,
  method            TEXT    NOT NULL,
  estimated         INTEGER NOT NULL CHECK (estimated IN (0, 1)),
  complete          INTEGER NOT NULL CHECK (complete IN (0, 1)),
  unmeasured_s      REAL,
  dynamic_energy_j  REAL,
  PRIMARY KEY (run_id, position),
  CONSTRAINT one_figure_per_domain UNIQUE (run_id, domain)
) WITHOUT ROWID;

CREATE TABLE regions (
  id        INTEGER PRIMARY KEY,
  run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position  INTEGER NOT NULL,
  name      TEXT    NOT NULL CONSTRAINT region_name_not_empty CHECK (name <> ''),
  start_s   REAL,
  end_s     REAL,
  UNIQUE (run_id, position)
);

CREATE TABLE region_energy (
  region_id         INTEGER NOT NULL REFERENCES regions(id) ON DELETE CASCADE,
  position          INTEGER NOT NULL,
  domain            TEXT    NOT NULL CONSTRAINT region_domain_not_empty CHECK (domain <> ''),
  energy_j          REAL,
  source            TEXT    NOT NULL,
  method            TEXT    NOT NULL,
  estimated         INTEGER NOT NULL CHECK (estimated IN (0, 1)),
  complete          INTEGER NOT NULL CHECK (complete IN (0, 1)),
  unmeasured_s      REAL,
  dynamic_energy_j  REAL,
  PRIMARY KEY (region_id, position),
  CONSTRAINT one_region_figure_per_domain UNIQUE (region_id, domain)
) WITHOUT ROWID;

CREATE TABLE metrics (
  run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position  INTEGER NOT NULL,
  name      TEXT    NOT NULL CONSTRAINT metric_name_not_empty CHECK (name <> ''),
  value     REAL,
  unit      TEXT    NOT NULL,
  origin    TEXT    NOT NULL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;

CREATE TABLE run_metadata (
  run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position  INTEGER NOT NULL,
  key       TEXT    NOT NULL,
  value     TEXT    NOT NULL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;

-- encoding 1: see src/store/timeline_codec.hpp (4 + 4 x channels bytes per sample).
CREATE TABLE timelines (
  run_id    INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  encoding  INTEGER NOT NULL CHECK (encoding = 1),
  channels  TEXT    NOT NULL,
  samples   INTEGER NOT NULL CHECK (samples >= 0),
  data      BLOB    NOT NULL
);
)sql";

// Version 2: function profiles. A run with a `profiles` row is a profiled run (an extra run a
// plan asks for): it is never part of the statistics. Its functions are kept whole (no folding
// into "other"), by self energy (or time) highest first.
constexpr std::string_view kVersion2 = R"sql(
CREATE TABLE profiles (
  run_id       INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  mode         TEXT    NOT NULL CONSTRAINT profile_mode_not_empty CHECK (mode <> ''),
  energy_rule  TEXT    NOT NULL,
  estimated    INTEGER NOT NULL CHECK (estimated IN (0, 1)),
  interval_s   REAL,
  problem      TEXT    NOT NULL
);

CREATE TABLE profile_functions (
  run_id            INTEGER NOT NULL REFERENCES profiles(run_id) ON DELETE CASCADE,
  position          INTEGER NOT NULL,
  name              TEXT    NOT NULL CONSTRAINT profile_function_not_empty CHECK (name <> ''),
  calls             INTEGER,
  self_s            REAL,
  total_s           REAL,
  energy_j          REAL,
  total_energy_j    REAL,
  idle_energy_j     REAL,
  dynamic_energy_j  REAL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;
)sql";

// Version 3: why an energy figure is incomplete, and whether it measured anything at all. A figure
// that measured nothing (a counter that never moved) keeps energy_j 0 with measured_nothing 1: no
// reader may take that 0 for a measurement.
constexpr std::string_view kVersion3 = R"sql(
ALTER TABLE run_energy ADD COLUMN problem TEXT NOT NULL DEFAULT '';
ALTER TABLE run_energy ADD COLUMN measured_nothing INTEGER NOT NULL DEFAULT 0 CHECK (measured_nothing IN (0, 1));
ALTER TABLE region_energy ADD COLUMN problem TEXT NOT NULL DEFAULT '';
ALTER TABLE region_energy ADD COLUMN measured_nothing INTEGER NOT NULL DEFAULT 0 CHECK (measured_nothing IN (0, 1));
)sql";

// Version 4: how quiet the machine was around each run, and what a reader must know about a run
// (it ran on a busy machine, it left processes running that were killed after it).
constexpr std::string_view kVersion4 = R"sql(
ALTER TABLE runs ADD COLUMN other_cpu_before_cores REAL;
ALTER TABLE runs ADD COLUMN other_cpu_cores REAL;
CREATE TABLE run_warnings (
  run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position  INTEGER NOT NULL,
  kind      TEXT    NOT NULL CONSTRAINT warning_kind_not_empty CHECK (kind <> ''),
  message   TEXT    NOT NULL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;
)sql";

// Version 5: a container run's peak memory, from its cgroup (page cache included). Such a run has
// no single process's peak: max_rss_kib is -1 there.
constexpr std::string_view kVersion5 = R"sql(
ALTER TABLE runs ADD COLUMN peak_memory_kib INTEGER;
)sql";

constexpr std::array<Migration, 5> kMigrations{{
    {1, "campaigns, environment, idle baselines, runs with energies, regions, metrics, metadata, timelines", kVersion1},
    {2, "function profiles of profiled runs", kVersion2},
    {3, "the problem of an incomplete energy figure, and figures that measured nothing", kVersion3},
    {4, "other processes' CPU use around each run, and run warnings", kVersion4},
    {5, "the peak memory of a container run's cgroup", kVersion5},
}};

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

int migrate(Db& db, std::span<const Migration> steps) {
  const int target = steps.empty() ? 0 : steps.back().version;
  const auto check = [&](int version) {
    if (version > target) {
      db.fail_plain(fmt::format(
          "written by a newer joulebench (store schema version {}; this joulebench reads versions up to {}): "
          "use a newer joulebench to read it",
          version, target));
    }
  };
  const auto application_id = db.query_integer("PRAGMA application_id");
  if (application_id != 0 && application_id != kApplicationId) {
    db.fail_plain(fmt::format("not a joulebench store (SQLite application id {:#x})", application_id));
  }
  int version = static_cast<int>(db.query_integer("PRAGMA user_version"));
  check(version);
  if (version == target) return version;

  for (const auto& step : steps) {
    if (step.version <= version) continue;
    Transaction tx(db);
    // Another process may have migrated the file between our read and our lock.
    const int now = static_cast<int>(db.query_integer("PRAGMA user_version"));
    check(now);
    if (now >= step.version) {
      version = now;
      continue;
    }
    if (now == 0 && db.query_integer("PRAGMA application_id") == 0 &&
        db.query_integer("SELECT count(*) FROM sqlite_master") != 0) {
      db.fail_plain("not a joulebench store (an SQLite database with other tables)");
    }
    if (now != step.version - 1) {
      db.fail_plain(fmt::format("store schema version {} cannot be migrated to {}", now, step.version));
    }
    try {
      db.exec(std::string(step.sql));
    } catch (const StoreError& e) {
      throw StoreError(fmt::format("{} (while migrating to schema version {})", e.what(), step.version));
    }
    // Pragmas take no parameters; both values are integers of our own.
    db.exec(fmt::format("PRAGMA user_version = {}", step.version));
    db.exec(fmt::format("PRAGMA application_id = {}", kApplicationId));
    tx.commit();
    version = step.version;
  }
  return version;
}

}  // namespace joulebench::store_detail
