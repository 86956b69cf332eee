// The results store: schema and migrations, recording and reading runs back exactly, atomicity,
// refusals, and merging shard stores.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <string>

#include "fakes/fake_tree.hpp"
#include "joulebench/store.hpp"
#include "store/schema.hpp"
#include "store/sqlite_db.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

CampaignPlan make_plan(const std::string& name = "frameworks", const std::string& hash = "fnv1a64:00000000000000aa") {
  CampaignPlan plan;
  plan.name = name;
  plan.seed = 0xFEDCBA9876543210ull;  // above INT64_MAX: stored by its bits
  plan.path = "/plans/frameworks.toml";
  plan.text = "[campaign]\nname = \"" + name + "\"\n";
  plan.hash = hash;
  return plan;
}

/// A run with every field set to something distinctive (and a timeline when `samples` > 0).
/// A figure as the store keeps it, in the order of its columns.
EnergyFigure stored(const std::string& domain, double joules, const std::string& source, const std::string& method,
                    bool estimated, bool complete, double unmeasured_s, std::optional<double> dynamic_j,
                    const std::string& problem, bool measured_nothing) {
  EnergyFigure e;
  e.domain = *DomainId::parse(domain);
  e.energy_j = joules;
  e.source = source;
  e.method = *parse_figure_method(method);
  e.estimated = estimated;
  e.complete = complete;
  e.unmeasured_s = unmeasured_s;
  e.dynamic_energy_j = dynamic_j;
  e.problem = problem;
  e.measured_nothing = measured_nothing;
  return e;
}

RunRecord full_run(std::size_t index, std::size_t samples = 0) {
  RunRecord r;
  r.index = index;
  r.workload = "ncf-libtorch-train";
  r.labels = {{"framework", "libtorch"}, {"model", "ncf"}, {"phase", "train"}, {"batch", "64"}};
  r.repetition = 3;
  r.warmup = false;
  r.status = RunStatus::failed;
  r.exit_code = 2;
  r.signal = std::nullopt;
  r.reason = "exited with code 2";
  r.started_unix_s = 1714567890.123456;
  r.time_s = 12.345678901234567;
  r.user_cpu_s = 20.5;
  r.system_cpu_s = 0.25;
  r.max_rss_kib = 123456789012;
  r.energy = {
      stored("cpu", 150.125, "rapl-powercap", "counter", false, true, 0, 100.0625, "", false),
      stored("dram", 20.5, "rapl-powercap", "counter", false, false, 0.5, std::nullopt,
             "dram-0: counter could not be read", false),
      stored("psys", 0.0, "rapl-perf", "counter", false, false, 12.5, std::nullopt,
             "psys-0: the counter did not advance", true),
      stored("gpu", 300.0, "nvml", "power-integration", false, true, 0, 250.0, "", false),
      stored("total", 470.625, "rapl-powercap+nvml", "mixed", false, false, 0.5, 350.0625,
             "dram-0: counter could not be read", false),
  };
  r.regions = {
      {"load",
       0.0,
       1.5,
       {stored("cpu", 10, "rapl-powercap", "counter", false, true, 0, 5.0, "", false),
        stored("total", 12, "rapl-powercap", "counter", false, false, 1.5, std::nullopt, "stalled", true)}},
      {"train", 1.5, 12.0, {stored("total", 400.25, "rapl-powercap+nvml", "mixed", true, true, 0, 300.0, "", false)}},
      {"train", 12.0, 12.3, {}},
  };
  r.metrics = {{"accuracy", 0.9375, "", "events"}, {"throughput", 1234.5, "samples/s", "dllogger"}};
  r.metadata = {{"framework.version", "2.1.0"}, {"threads", "8"}, {"device", "cpu"}};
  r.idle_baseline = std::nullopt;
  r.cooldown_s = 4.75;
  r.stdout_log = {"logs/c1/run-3.out", 1ull << 40, 17};
  r.stderr_log = {"logs/c1/run-3.err", 99, 0};
  r.malformed_events = 4;
  if (samples > 0) {
    r.timeline.channels = {"cpu-0", "dram-0", "gpu-0", "gpu-1"};
    const std::size_t n = r.timeline.channels.size();
    std::int64_t us = 0;
    for (std::size_t i = 0; i < samples; ++i) {
      us += 10000 + static_cast<std::int64_t>(i % 7);
      if (i == samples / 2) us += 5'000'000'000;  // a gap of 83 minutes: the escaped form
      r.timeline.time_s.push_back(static_cast<double>(us) / 1e6);
      for (std::size_t c = 0; c < n; ++c)
        r.timeline.power_w.push_back(static_cast<float>(i) * 0.5f + static_cast<float>(c));
    }
    r.timeline.power_w[1] = std::numeric_limits<float>::quiet_NaN();
    r.timeline.power_w[2] = std::bit_cast<float>(0x7fc01234u);  // a NaN with a payload
    r.timeline.power_w[3] = -0.0f;
    r.timeline.power_w[5] = std::numeric_limits<float>::infinity();
    r.timeline.power_w[6] = std::numeric_limits<float>::denorm_min();
  }
  return r;
}

void expect_same_energy(const std::vector<EnergyFigure>& a, const std::vector<EnergyFigure>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].domain, b[i].domain);
    EXPECT_EQ(a[i].energy_j, b[i].energy_j);
    EXPECT_EQ(a[i].source, b[i].source);
    EXPECT_EQ(a[i].method, b[i].method);
    EXPECT_EQ(a[i].estimated, b[i].estimated);
    EXPECT_EQ(a[i].complete, b[i].complete);
    EXPECT_EQ(a[i].unmeasured_s, b[i].unmeasured_s);
    EXPECT_EQ(a[i].dynamic_energy_j, b[i].dynamic_energy_j);
    EXPECT_EQ(a[i].problem, b[i].problem);
    EXPECT_EQ(a[i].measured_nothing, b[i].measured_nothing);
  }
}

void expect_same_run(const RunRecord& a, const RunRecord& b, bool with_timeline) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.workload, b.workload);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.repetition, b.repetition);
  EXPECT_EQ(a.warmup, b.warmup);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.exit_code, b.exit_code);
  EXPECT_EQ(a.signal, b.signal);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.started_unix_s, b.started_unix_s);
  EXPECT_EQ(a.time_s, b.time_s);
  EXPECT_EQ(a.user_cpu_s, b.user_cpu_s);
  EXPECT_EQ(a.system_cpu_s, b.system_cpu_s);
  EXPECT_EQ(a.max_rss_kib, b.max_rss_kib);
  expect_same_energy(a.energy, b.energy);
  ASSERT_EQ(a.regions.size(), b.regions.size());
  for (std::size_t i = 0; i < a.regions.size(); ++i) {
    EXPECT_EQ(a.regions[i].name, b.regions[i].name);
    EXPECT_EQ(a.regions[i].start_s, b.regions[i].start_s);
    EXPECT_EQ(a.regions[i].end_s, b.regions[i].end_s);
    expect_same_energy(a.regions[i].energy, b.regions[i].energy);
  }
  ASSERT_EQ(a.metrics.size(), b.metrics.size());
  for (std::size_t i = 0; i < a.metrics.size(); ++i) {
    EXPECT_EQ(a.metrics[i].name, b.metrics[i].name);
    EXPECT_EQ(a.metrics[i].value, b.metrics[i].value);
    EXPECT_EQ(a.metrics[i].unit, b.metrics[i].unit);
    EXPECT_EQ(a.metrics[i].origin, b.metrics[i].origin);
  }
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.idle_baseline, b.idle_baseline);
  EXPECT_EQ(a.cooldown_s, b.cooldown_s);
  EXPECT_EQ(a.stdout_log.path, b.stdout_log.path);
  EXPECT_EQ(a.stdout_log.bytes, b.stdout_log.bytes);
  EXPECT_EQ(a.stdout_log.dropped, b.stdout_log.dropped);
  EXPECT_EQ(a.stderr_log.path, b.stderr_log.path);
  EXPECT_EQ(a.stderr_log.bytes, b.stderr_log.bytes);
  EXPECT_EQ(a.stderr_log.dropped, b.stderr_log.dropped);
  EXPECT_EQ(a.malformed_events, b.malformed_events);
  if (with_timeline) {
    EXPECT_EQ(a.timeline.channels, b.timeline.channels);
    ASSERT_EQ(a.timeline.time_s.size(), b.timeline.time_s.size());
    for (std::size_t i = 0; i < a.timeline.time_s.size(); ++i) {
      ASSERT_EQ(a.timeline.time_s[i], b.timeline.time_s[i]) << "sample " << i;
    }
    ASSERT_EQ(a.timeline.power_w.size(), b.timeline.power_w.size());
    // Bit for bit: NaN payloads, -0 and denormals included.
    EXPECT_EQ(0, std::memcmp(a.timeline.power_w.data(), b.timeline.power_w.data(),
                             a.timeline.power_w.size() * sizeof(float)));
  }
}

/// Counts the rows of a table through a connection of its own.
std::int64_t count_rows(const fs::path& file, const std::string& table) {
  store_detail::Db db(file);
  return db.query_integer("SELECT count(*) FROM " + table);
}

const char* const kRunTables[] = {"runs",          "run_labels", "run_energy",   "regions",
                                  "region_energy", "metrics",    "run_metadata", "timelines"};

void expect_no_run_rows(const fs::path& file) {
  for (const char* table : kRunTables) EXPECT_EQ(count_rows(file, table), 0) << table;
}

void set_user_version(const fs::path& file, int version) {
  store_detail::Db db(file);
  db.exec("PRAGMA user_version = " + std::to_string(version));
}

/// SQL that writes the first rows of run 1, as record_run would.
std::string fmt_insert(std::int64_t campaign) {
  return "INSERT INTO runs (campaign_id, run_index, shard_index, workload, repetition, warmup, status, reason, "
         "max_rss_kib, stdout_path, stdout_bytes, stdout_dropped, stderr_path, stderr_bytes, stderr_dropped, "
         "malformed_events) VALUES (" +
         std::to_string(campaign) +
         ", 1, 1, 'w', 1, 0, 'ok', '', 0, '', 0, 0, '', 0, 0, 0); "
         "INSERT INTO metrics (run_id, position, name, value, unit, origin) "
         "VALUES (last_insert_rowid(), 0, 'accuracy', 0.5, '', 'events');";
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return e.what();
  }
  return "(no StoreError)";
}

// --- schema ----------------------------------------------------------------------------------

TEST(Store, CreatesAStoreAndReopensIt) {
  TempDir dir;
  const fs::path file = dir.path() / "campaign.db";
  std::int64_t id = 0;
  {
    Store store(file);
    EXPECT_EQ(store.schema_version(), Store::current_schema_version());
    EXPECT_EQ(store.file(), file);
    EXPECT_TRUE(store.campaigns().empty());
    id = store.create_campaign(make_plan(), Shard{2, 3}, 17, {{"cpu.model", "Xeon, 8 cores"}, {"kernel", "6.1"}});
  }
  Store store(file);
  const auto campaigns = store.campaigns();
  ASSERT_EQ(campaigns.size(), 1u);
  const CampaignInfo& c = campaigns.front();
  EXPECT_EQ(c.id, id);
  EXPECT_EQ(c.name, "frameworks");
  EXPECT_EQ(c.plan_hash, "fnv1a64:00000000000000aa");
  EXPECT_EQ(c.plan_text, make_plan().text);
  EXPECT_EQ(c.plan_path, "/plans/frameworks.toml");
  EXPECT_EQ(c.seed, 0xFEDCBA9876543210ull);
  EXPECT_EQ(c.shard, (Shard{2, 3}));
  EXPECT_EQ(c.planned_runs, 17u);
  EXPECT_FALSE(c.finished);
  EXPECT_EQ(c.created_at.size(), 20u) << c.created_at;  // 2024-05-01T12:34:56Z
  EXPECT_EQ(c.created_at.back(), 'Z');
  EXPECT_EQ(store.environment(id), (KeyValues{{"cpu.model", "Xeon, 8 cores"}, {"kernel", "6.1"}}));
  EXPECT_FALSE(store.campaign(id + 1).has_value());

  store.finish_campaign(id);
  EXPECT_TRUE(store.campaign(id)->finished);
  EXPECT_THROW(store.finish_campaign(id + 1), StoreError);

  store_detail::Db raw(file);
  EXPECT_EQ(raw.query_text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.query_integer("PRAGMA application_id"), store_detail::kApplicationId);
  EXPECT_EQ(raw.query_integer("PRAGMA user_version"), Store::current_schema_version());
}

TEST(Store, AFigureWithoutAMethodFromAnEarlierVersionReadsAsNone) {
  // Earlier versions wrote an empty method for a total no figure adds into (a run with psys only).
  TempDir dir;
  const fs::path file = dir.path() / "old.db";
  std::int64_t id = 0;
  {
    Store store(file);
    id = store.create_campaign(make_plan(), Shard{}, 1, {});
    store.record_run(id, full_run(0));
  }
  store_detail::Db(file).exec("UPDATE run_energy SET method = '' WHERE domain = 'total'");
  const Store store(file);
  const auto runs = store.runs(id);
  ASSERT_EQ(runs.size(), 1u);
  const EnergyFigure* total = find_energy(runs[0].energy, DomainId::total());
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(total->method, FigureMethod::none);
  EXPECT_EQ(method_name(total->method), "none");
}

TEST(Store, RefusesAShardOutOfRange) {
  TempDir dir;
  Store store(dir.path() / "s.db");
  EXPECT_THROW(store.create_campaign(make_plan(), Shard{3, 2}, 1, {}), StoreError);
  EXPECT_THROW(store.create_campaign(make_plan(), Shard{0, 2}, 1, {}), StoreError);
  EXPECT_TRUE(store.campaigns().empty());
}

TEST(Store, OpensAStoreWrittenAtVersion1AndMigratesInOrder) {
  TempDir dir;
  const fs::path file = dir.path() / "old.db";
  {
    // A store exactly as the first version of the schema made it, with a campaign in it.
    store_detail::Db db(file);
    EXPECT_EQ(store_detail::migrate(db, store_detail::migrations().first(1)), 1);
    db.exec(
        "INSERT INTO campaigns (name, plan_hash, plan_text, plan_path, seed, shard_index, shard_count, planned_runs, "
        "created_at) VALUES ('old', 'fnv1a64:1', '', '', 7, 1, 1, 3, '2024-01-01T00:00:00Z')");
  }
  {
    Store store(file);
    EXPECT_EQ(store.schema_version(), Store::current_schema_version());
    ASSERT_EQ(store.campaigns().size(), 1u);
    EXPECT_EQ(store.campaigns()[0].name, "old");
    EXPECT_EQ(store.campaigns()[0].planned_runs, 3u);
  }
  // The machinery applies each pending step once, in order, and records the version.
  std::vector<store_detail::Migration> steps(store_detail::migrations().begin(), store_detail::migrations().end());
  const int next = steps.back().version + 1;
  steps.push_back({next, "test: a new column", "ALTER TABLE runs ADD COLUMN note TEXT"});
  steps.push_back({next + 1, "test: a new table", "CREATE TABLE extra (x INTEGER)"});
  {
    store_detail::Db db(file);
    EXPECT_EQ(store_detail::migrate(db, steps), next + 1);
    EXPECT_EQ(db.query_integer("PRAGMA user_version"), next + 1);
    EXPECT_EQ(db.query_integer("SELECT count(*) FROM extra"), 0);
    EXPECT_EQ(db.query_integer("SELECT count(*) FROM campaigns"), 1);
    EXPECT_EQ(store_detail::migrate(db, steps), next + 1);  // nothing left to do
  }
  // And this joulebench now refuses the file: it is newer than what it knows.
  EXPECT_THROW(Store{file}, StoreError);
}

TEST(Store, AVersion2StoresFiguresReadBackAsMeasuredWithNoProblem) {
  TempDir dir;
  const fs::path file = dir.path() / "v2.db";
  {
    store_detail::Db db(file);
    EXPECT_EQ(store_detail::migrate(db, store_detail::migrations().first(2)), 2);
    db.exec(
        "INSERT INTO campaigns (id, name, plan_hash, plan_text, plan_path, seed, shard_index, shard_count, "
        "planned_runs, "
        "created_at) VALUES (1, 'old', 'fnv1a64:1', '', '', 7, 1, 1, 1, '2024-01-01T00:00:00Z');"
        "INSERT INTO runs (id, campaign_id, run_index, shard_index, workload, repetition, warmup, status, reason, "
        "max_rss_kib, stdout_path, stdout_bytes, stdout_dropped, stderr_path, stderr_bytes, stderr_dropped, "
        "malformed_events) VALUES (1, 1, 0, 1, 'w', 1, 0, 'ok', '', 0, '', 0, 0, '', 0, 0, 0);"
        "INSERT INTO run_energy (run_id, position, domain, energy_j, source, method, estimated, complete, "
        "unmeasured_s) "
        "VALUES (1, 0, 'cpu', 12.5, 'rapl-powercap', 'counter', 0, 0, 0.25)");
  }
  Store store(file);
  const auto runs = store.runs(1);
  ASSERT_EQ(runs.size(), 1u);
  ASSERT_EQ(runs[0].energy.size(), 1u);
  EXPECT_EQ(runs[0].energy[0].energy_j, 12.5);
  EXPECT_FALSE(runs[0].energy[0].measured_nothing);
  EXPECT_EQ(runs[0].energy[0].problem, "");
  EXPECT_FALSE(runs[0].energy[0].comparable()) << "still incomplete";
}

TEST(Store, AFailedMigrationLeavesTheFileAsItWas) {
  TempDir dir;
  const fs::path file = dir.path() / "s.db";
  { Store store(file); }
  std::vector<store_detail::Migration> steps(store_detail::migrations().begin(), store_detail::migrations().end());
  const int next = steps.back().version + 1;
  steps.push_back({next, "test: broken", "CREATE TABLE half (x INTEGER); THIS IS NOT SQL"});
  store_detail::Db db(file);
  const std::string message = error_of([&] { store_detail::migrate(db, steps); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(next)), std::string::npos) << message;
  EXPECT_EQ(db.query_integer("PRAGMA user_version"), next - 1);
  EXPECT_EQ(db.query_integer("SELECT count(*) FROM sqlite_master WHERE name = 'half'"), 0);
}

TEST(Store, RefusesAStoreFromANewerJoulebench) {
  TempDir dir;
  const fs::path file = dir.path() / "new.db";
  { Store store(file); }
  const int newer = Store::current_schema_version() + 1;
  set_user_version(file, newer);
  const std::string message = error_of([&] { Store store(file); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("newer joulebench"), std::string::npos) << message;
  EXPECT_NE(message.find("version " + std::to_string(newer)), std::string::npos) << message;
  EXPECT_NE(message.find("up to " + std::to_string(Store::current_schema_version())), std::string::npos) << message;
  // Refused without being touched.
  set_user_version(file, newer);
  store_detail::Db raw(file);
  EXPECT_EQ(raw.query_integer("PRAGMA user_version"), newer);
}

TEST(Store, RefusesFilesThatAreNotStores) {
  TempDir dir;
  const fs::path text = dir.path() / "notes.txt";
  testing::write_file(text, std::string(4096, 'x'));
  std::string message = error_of([&] { Store store(text); });
  EXPECT_NE(message.find(text.string()), std::string::npos) << message;

  const fs::path other = dir.path() / "other.db";
  {
    store_detail::Db db(other);
    db.exec("CREATE TABLE customers (name TEXT)");
  }
  message = error_of([&] { Store store(other); });
  EXPECT_NE(message.find(other.string()), std::string::npos) << message;
  EXPECT_NE(message.find("not a joulebench store"), std::string::npos) << message;

  const fs::path missing_folder = dir.path() / "no" / "such" / "folder" / "s.db";
  message = error_of([&] { Store store(missing_folder); });
  EXPECT_NE(message.find(missing_folder.string()), std::string::npos) << message;
}

// --- runs ------------------------------------------------------------------------------------

TEST(Store, RecordsARunAndReadsEveryFieldBack) {
  TempDir dir;
  const fs::path file = dir.path() / "s.db";
  RunRecord run = full_run(5, 1000);
  std::int64_t campaign = 0;
  {
    Store store(file);
    campaign = store.create_campaign(make_plan(), Shard{}, 10, {});
    IdleRecord idle;
    idle.started_unix_s = 1714567800.5;
    idle.duration_s = 10;
    idle.power_w = {{"cpu", 4.5}, {"dram", 1.25}};
    idle.cpu_temperature_c = 41.5;
    run.idle_baseline = store.record_idle(campaign, idle);
    store.record_run(campaign, run);
  }
  Store store(file);
  const auto without = store.runs(campaign);
  ASSERT_EQ(without.size(), 1u);
  expect_same_run(run, without[0], false);
  EXPECT_TRUE(without[0].timeline.channels.empty());
  EXPECT_TRUE(without[0].timeline.time_s.empty());

  const auto with = store.runs(campaign, {}, true);
  ASSERT_EQ(with.size(), 1u);
  expect_same_run(run, with[0], true);
  EXPECT_TRUE(std::isnan(with[0].timeline.power_w[1]));
  EXPECT_EQ(std::bit_cast<std::uint32_t>(with[0].timeline.power_w[2]), 0x7fc01234u);
  EXPECT_TRUE(std::signbit(with[0].timeline.power_w[3]));

  const auto idles = store.idle_baselines(campaign);
  ASSERT_EQ(idles.size(), 1u);
  EXPECT_EQ(idles[0].id, *run.idle_baseline);
  EXPECT_EQ(idles[0].started_unix_s, 1714567800.5);
  EXPECT_EQ(idles[0].duration_s, 10);
  EXPECT_EQ(idles[0].power_w, (std::vector<std::pair<std::string, double>>{{"cpu", 4.5}, {"dram", 1.25}}));
  EXPECT_EQ(idles[0].cpu_temperature_c, 41.5);
  EXPECT_FALSE(idles[0].gpu_temperature_c.has_value());
  EXPECT_TRUE(idles[0].complete);

  // The blob: 4 + 4 x 4 bytes per sample, plus 8 for the one escaped interval.
  EXPECT_EQ(count_rows(file, "timelines"), 1);
  store_detail::Db raw(file);
  EXPECT_EQ(raw.query_integer("SELECT length(data) FROM timelines"), 1000 * 20 + 8);
}

TEST(Store, KeepsMinimalAndNotRunRecords) {
  TempDir dir;
  Store store(dir.path() / "s.db");
  const auto campaign = store.create_campaign(make_plan(), Shard{}, 2, {});
  RunRecord not_run;
  not_run.index = 0;
  not_run.workload = "w";
  not_run.status = RunStatus::not_run;
  not_run.reason = "setup failed: exit code 1";
  RunRecord crashed = not_run;
  crashed.index = 1;
  crashed.status = RunStatus::signaled;
  crashed.signal = 11;
  crashed.time_s = std::numeric_limits<double>::quiet_NaN();
  crashed.timeline.channels = {"cpu-0"};  // channels but no samples yet
  store.record_run(campaign, not_run);
  store.record_run(campaign, crashed);
  const auto runs = store.runs(campaign, {}, true);
  ASSERT_EQ(runs.size(), 2u);
  expect_same_run(not_run, runs[0], true);
  EXPECT_EQ(runs[1].status, RunStatus::signaled);
  EXPECT_EQ(runs[1].signal, 11);
  EXPECT_TRUE(std::isnan(runs[1].time_s));
  EXPECT_EQ(runs[1].timeline.channels, std::vector<std::string>{"cpu-0"});
  EXPECT_TRUE(runs[1].timeline.time_s.empty());
}

TEST(Store, RefusesAnIndexAlreadyRecordedAndWritesNothingOfIt) {
  TempDir dir;
  const fs::path file = dir.path() / "s.db";
  Store store(file);
  const auto campaign = store.create_campaign(make_plan(), Shard{}, 10, {});
  const RunRecord first = full_run(3, 50);
  store.record_run(campaign, first);
  const auto before = [&] {
    std::vector<std::int64_t> counts;
    for (const char* table : kRunTables) counts.push_back(count_rows(file, table));
    return counts;
  }();

  RunRecord again = full_run(3, 70);
  again.workload = "another";
  again.metrics.push_back({"loss", 0.5, "", "events"});
  const std::string message = error_of([&] { store.record_run(campaign, again); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("run 3"), std::string::npos) << message;
  EXPECT_NE(message.find("already recorded"), std::string::npos) << message;

  for (std::size_t i = 0; i < std::size(kRunTables); ++i) EXPECT_EQ(count_rows(file, kRunTables[i]), before[i]);
  const auto runs = store.runs(campaign, {}, true);
  ASSERT_EQ(runs.size(), 1u);
  expect_same_run(first, runs[0], true);

  // The same index in another campaign of the store is another run.
  const auto other = store.create_campaign(make_plan("other"), Shard{}, 10, {});
  EXPECT_NO_THROW(store.record_run(other, again));
  EXPECT_THROW(store.record_run(campaign + 100, full_run(0)), StoreError);
}

TEST(Store, RecordedRunsAreTheCommittedIndices) {
  TempDir dir;
  Store store(dir.path() / "s.db");
  const auto a = store.create_campaign(make_plan(), Shard{}, 10, {});
  const auto b = store.create_campaign(make_plan("b"), Shard{}, 10, {});
  EXPECT_TRUE(store.recorded_runs(a).empty());
  for (std::size_t i : {7u, 0u, 3u}) store.record_run(a, full_run(i));
  store.record_run(b, full_run(1));
  EXPECT_EQ(store.recorded_runs(a), (std::set<std::size_t>{0, 3, 7}));
  EXPECT_EQ(store.recorded_runs(b), (std::set<std::size_t>{1}));
  // In campaign order, whatever order they were recorded in.
  const auto runs = store.runs(a);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].index, 0u);
  EXPECT_EQ(runs[1].index, 3u);
  EXPECT_EQ(runs[2].index, 7u);
}

TEST(Store, ARunThatFailsMidwayLeavesNoTrace) {
  TempDir dir;
  const fs::path file = dir.path() / "s.db";
  Store store(file);
  const auto campaign = store.create_campaign(make_plan(), Shard{}, 10, {});
  // Everything is written in order (run, labels, energies, regions, metrics...); the second
  // metric breaks a constraint of the schema (metric names are never empty).
  RunRecord bad = full_run(4, 100);
  bad.metrics.push_back({"", 1.0, "", "regex"});
  const std::string message = error_of([&] { store.record_run(campaign, bad); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("metric_name_not_empty"), std::string::npos) << message;
  EXPECT_TRUE(store.recorded_runs(campaign).empty());
  expect_no_run_rows(file);

  // A reference to an idle baseline that does not exist: refused by the foreign key.
  RunRecord dangling = full_run(4);
  dangling.idle_baseline = 999;
  EXPECT_THROW(store.record_run(campaign, dangling), StoreError);
  expect_no_run_rows(file);

  // A timeline whose sizes do not agree, or whose time goes backwards.
  RunRecord ragged = full_run(4, 10);
  ragged.timeline.power_w.pop_back();
  EXPECT_THROW(store.record_run(campaign, ragged), StoreError);
  RunRecord backwards = full_run(4, 10);
  backwards.timeline.time_s[5] = backwards.timeline.time_s[4] - 0.001;
  EXPECT_THROW(store.record_run(campaign, backwards), StoreError);
  expect_no_run_rows(file);

  // The connection is still usable, and the index is still free.
  const RunRecord good = full_run(4, 100);
  store.record_run(campaign, good);
  const auto runs = store.runs(campaign, {}, true);
  ASSERT_EQ(runs.size(), 1u);
  expect_same_run(good, runs[0], true);
}

TEST(Store, AProcessKilledInsideARecordLeavesNoTrace) {
  TempDir dir;
  const fs::path file = dir.path() / "s.db";
  std::int64_t campaign = 0;
  {
    Store store(file);
    campaign = store.create_campaign(make_plan(), Shard{}, 10, {});
    store.record_run(campaign, full_run(0, 10));
  }
  // A child writes half of run 1 inside a transaction and dies without committing, as a
  // joulebench killed with SIGKILL in the middle of record_run would.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sqlite3* db = nullptr;
    sqlite3_open(file.c_str(), &db);
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    const std::string sql = fmt_insert(campaign);
    sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    ::kill(::getpid(), SIGKILL);
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));

  Store store(file);
  EXPECT_EQ(store.recorded_runs(campaign), (std::set<std::size_t>{0}));
  store_detail::Db raw(file);
  EXPECT_EQ(raw.query_text("PRAGMA integrity_check"), "ok");
  store.record_run(campaign, full_run(1, 10));
  EXPECT_EQ(store.recorded_runs(campaign), (std::set<std::size_t>{0, 1}));
}

TEST(Store, FiltersRuns) {
  TempDir dir;
  Store store(dir.path() / "s.db");
  const auto campaign = store.create_campaign(make_plan(), Shard{}, 10, {});
  const auto make = [](std::size_t index, std::string workload, std::string framework, std::string phase, bool warmup,
                       RunStatus status) {
    RunRecord r = full_run(index);
    r.workload = std::move(workload);
    r.labels = {{"framework", std::move(framework)}, {"phase", std::move(phase)}};
    r.warmup = warmup;
    r.status = status;
    return r;
  };
  store.record_run(campaign, make(0, "torch-train", "libtorch", "train", true, RunStatus::ok));
  store.record_run(campaign, make(1, "torch-train", "libtorch", "train", false, RunStatus::ok));
  store.record_run(campaign, make(2, "dlib-train", "dlib", "train", false, RunStatus::timed_out));
  store.record_run(campaign, make(3, "torch-infer", "libtorch", "infer", false, RunStatus::ok));
  store.record_run(campaign, make(4, "dlib-infer", "dlib", "infer", false, RunStatus::ok));

  const auto indices = [&](const RunFilter& f) {
    std::vector<std::size_t> out;
    for (const auto& r : store.runs(campaign, f)) out.push_back(r.index);
    return out;
  };
  const auto filter = [](std::optional<std::string> workload, std::optional<RunStatus> status,
                         std::optional<bool> warmup, KeyValues labels) {
    RunFilter f;
    f.workload = std::move(workload);
    f.status = status;
    f.warmup = warmup;
    f.labels = std::move(labels);
    return f;
  };
  const auto none = std::nullopt;
  using V = std::vector<std::size_t>;
  EXPECT_EQ(indices({}), (V{0, 1, 2, 3, 4}));
  EXPECT_EQ(indices(filter("torch-train", none, none, {})), (V{0, 1}));
  EXPECT_EQ(indices(filter(none, RunStatus::timed_out, none, {})), (V{2}));
  EXPECT_EQ(indices(filter(none, none, false, {})), (V{1, 2, 3, 4}));
  EXPECT_EQ(indices(filter(none, none, true, {})), (V{0}));
  EXPECT_EQ(indices(filter(none, none, none, {{"framework", "libtorch"}})), (V{0, 1, 3}));
  EXPECT_EQ(indices(filter(none, none, none, {{"framework", "libtorch"}, {"phase", "infer"}})), (V{3}));
  EXPECT_EQ(indices(filter(none, none, false, {{"phase", "train"}})), (V{1, 2}));
  EXPECT_EQ(indices(filter(none, none, none, {{"framework", "tensorflow"}})), (V{}));
  EXPECT_EQ(indices(filter(none, RunStatus::ok, false, {{"framework", "dlib"}})), (V{4}));
  EXPECT_EQ(indices(filter("torch-train", RunStatus::ok, none, {{"framework", "dlib"}})), (V{}));
  // A filtered read still carries every child row of the runs it returns.
  const auto one = store.runs(campaign, filter("dlib-infer", none, none, {}));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].energy.size(), 5u);
  EXPECT_EQ(one[0].regions.size(), 3u);
  EXPECT_EQ(one[0].regions[0].energy.size(), 2u);
  EXPECT_EQ(one[0].metrics.size(), 2u);
}

TEST(Store, StatusNames) {
  for (auto s : {RunStatus::ok, RunStatus::failed, RunStatus::signaled, RunStatus::timed_out, RunStatus::not_run}) {
    EXPECT_EQ(parse_run_status(run_status_name(s)), s);
  }
  EXPECT_EQ(run_status_name(RunStatus::timed_out), "timed-out");
  EXPECT_EQ(parse_run_status("timed_out"), RunStatus::timed_out);
  EXPECT_FALSE(parse_run_status("crashed").has_value());
}

// --- merge -----------------------------------------------------------------------------------

struct ShardStore {
  fs::path file;
  std::int64_t campaign;
};

/// A shard of a 2-workload campaign: warm-up runs 0 and 1 in every shard, measured runs by index.
ShardStore make_shard(const fs::path& file, Shard shard, const std::vector<std::size_t>& measured,
                      const KeyValues& environment, const std::string& hash = "fnv1a64:00000000000000aa",
                      bool finish = true) {
  Store store(file);
  const auto campaign = store.create_campaign(make_plan("frameworks", hash), shard, 2 + measured.size(), environment);
  IdleRecord idle;
  idle.duration_s = 10;
  idle.power_w = {{"cpu", 10.0 * shard.index}};
  const auto idle_id = store.record_idle(campaign, idle);
  for (std::size_t index : {std::size_t{0}, std::size_t{1}}) {
    RunRecord r = full_run(index, 20);
    r.warmup = true;
    r.repetition = 1;
    r.idle_baseline = idle_id;
    store.record_run(campaign, r);
  }
  for (std::size_t index : measured) {
    RunRecord r = full_run(index, 30);
    r.repetition = static_cast<int>(index);
    r.idle_baseline = idle_id;
    r.metrics = {{"accuracy", static_cast<double>(index) / 100, "", "events"}};
    store.record_run(campaign, r);
  }
  if (finish) store.finish_campaign(campaign);
  return {file, campaign};
}

/// The name of the temporary file a merge into `output` by process `pid` writes.
std::string temporary_name(const std::string& output, pid_t pid, const std::string& suffix = "") {
  return "." + output + ".merging-" + std::to_string(pid) + suffix;
}

/// The merges' temporary files in `folder`.
std::vector<std::string> merge_temporaries(const fs::path& folder) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".merging-") != std::string::npos) out.push_back(name);
  }
  return out;
}

TEST(StoreMerge, JoinsTheShardsOfACampaign) {
  TempDir dir;
  const auto a = make_shard(dir.path() / "a.db", {1, 3}, {2, 5}, {{"cpu.model", "X"}, {"host", "node1"}});
  const auto b = make_shard(dir.path() / "b.db", {2, 3}, {3, 6}, {{"cpu.model", "X"}, {"host", "node2"}},
                            "fnv1a64:00000000000000aa", false);
  // Shard 3 of 3 is missing: allowed, and said.
  const fs::path out = dir.path() / "all.db";
  const MergeResult result = Store::merge({b.file, a.file}, out);
  EXPECT_EQ(result.shard_count, 3);
  EXPECT_EQ(result.missing_shards, (std::vector<int>{3}));
  ASSERT_EQ(result.unfinished_shards.size(), 1u);
  EXPECT_EQ(result.unfinished_shards[0].file, b.file);
  EXPECT_EQ(result.unfinished_shards[0].shard, (Shard{2, 3}));
  EXPECT_EQ(result.unfinished_shards[0].recorded_runs, 4u);
  EXPECT_EQ(result.unfinished_shards[0].planned_runs, 4u);
  EXPECT_FALSE(result.finished);
  EXPECT_TRUE(result.removed_leftovers.empty());

  Store merged(out);
  const auto campaigns = merged.campaigns();
  ASSERT_EQ(campaigns.size(), 1u);
  const auto& c = campaigns[0];
  EXPECT_EQ(c.name, "frameworks");
  EXPECT_EQ(c.plan_hash, "fnv1a64:00000000000000aa");
  EXPECT_EQ(c.plan_text, make_plan().text);
  EXPECT_EQ(c.seed, 0xFEDCBA9876543210ull);
  EXPECT_EQ(c.shard, (Shard{1, 1}));
  EXPECT_EQ(c.planned_runs, 8u);
  EXPECT_FALSE(c.finished);  // shard 2 was not finished, and shard 3 is missing
  EXPECT_EQ(merged.environment(c.id),
            (KeyValues{{"cpu.model", "X"}, {"shard1.host", "node1"}, {"shard2.host", "node2"}}));

  EXPECT_EQ(merged.recorded_runs(c.id), (std::set<std::size_t>{0, 1, 2, 3, 5, 6}));
  const auto runs = merged.runs(c.id, {}, true);
  ASSERT_EQ(runs.size(), 8u);  // each shard's own warm-up runs are kept
  std::vector<std::size_t> indices;
  for (const auto& r : runs) indices.push_back(r.index);
  EXPECT_EQ(indices, (std::vector<std::size_t>{0, 0, 1, 1, 2, 3, 5, 6}));

  // Everything came along, idle baselines re-linked to the right copies.
  const auto idles = merged.idle_baselines(c.id);
  ASSERT_EQ(idles.size(), 2u);
  std::map<std::int64_t, double> idle_power;
  for (const auto& i : idles) idle_power[i.id] = i.power_w.at(0).second;
  for (const auto& r : runs) {
    ASSERT_TRUE(r.idle_baseline.has_value());
    EXPECT_TRUE(idle_power.count(*r.idle_baseline));
  }
  const auto find = [&](std::size_t index) {
    for (const auto& r : runs) {
      if (r.index == index) return r;
    }
    return RunRecord{};
  };
  EXPECT_EQ(idle_power.at(*find(2).idle_baseline), 10.0);  // shard 1's
  EXPECT_EQ(idle_power.at(*find(6).idle_baseline), 20.0);  // shard 2's
  RunRecord expected = full_run(6, 30);
  expected.repetition = 6;
  expected.metrics = {{"accuracy", 0.06, "", "events"}};
  expected.idle_baseline = find(6).idle_baseline;
  expect_same_run(expected, find(6), true);

  // The inputs are untouched; the merged store is a store like any other.
  EXPECT_EQ(Store(a.file).runs(a.campaign).size(), 4u);
  EXPECT_THROW(merged.record_run(c.id, full_run(5)), StoreError);
  merged.record_run(c.id, full_run(7));
}

TEST(StoreMerge, KeepsOneEnvironmentWhenTheShardsAgree) {
  TempDir dir;
  const KeyValues env{{"cpu.model", "X"}, {"kernel", "6.1"}};
  const auto a = make_shard(dir.path() / "a.db", {1, 2}, {2}, env);
  const auto b = make_shard(dir.path() / "b.db", {2, 2}, {3}, env);
  const MergeResult result = Store::merge({a.file, b.file}, dir.path() / "all.db");
  EXPECT_TRUE(result.finished);
  EXPECT_TRUE(result.missing_shards.empty());
  EXPECT_TRUE(result.unfinished_shards.empty());
  Store merged(dir.path() / "all.db");
  const auto c = merged.campaigns().at(0);
  EXPECT_EQ(merged.environment(c.id), env);
  EXPECT_TRUE(c.finished);
  EXPECT_EQ(c.planned_runs, 6u);
}

TEST(StoreMerge, Refusals) {
  TempDir dir;
  const auto a = make_shard(dir.path() / "a.db", {1, 2}, {2, 4}, {});
  const auto b = make_shard(dir.path() / "b.db", {2, 2}, {3, 5}, {});
  const auto other_plan = make_shard(dir.path() / "other.db", {2, 2}, {3}, {}, "fnv1a64:00000000000000bb");
  const auto other_split = make_shard(dir.path() / "split.db", {2, 3}, {3}, {});
  const auto same_shard = make_shard(dir.path() / "again.db", {1, 2}, {6}, {});
  const auto overlap = make_shard(dir.path() / "overlap.db", {2, 2}, {3, 4}, {});  // run 4 is also in a

  const auto refused = [&](const std::vector<fs::path>& inputs, const std::string& named, const std::string& says) {
    const fs::path out = dir.path() / "out.db";
    const std::string message = error_of([&] { Store::merge(inputs, out); });
    EXPECT_NE(message.find(named), std::string::npos) << message;
    EXPECT_NE(message.find(says), std::string::npos) << message;
    EXPECT_FALSE(fs::exists(out)) << message;
    EXPECT_FALSE(fs::exists(out.string() + "-wal")) << message;
    EXPECT_EQ(merge_temporaries(dir.path()), std::vector<std::string>{}) << message;
  };
  refused({a.file, other_plan.file}, other_plan.file.string(), "another plan");
  refused({a.file, other_split.file}, other_split.file.string(), "2/3");
  refused({a.file, same_shard.file}, "shard 1/2", "and so is");
  refused({a.file, overlap.file}, overlap.file.string(), "run 4 is also in " + a.file.string());
  refused({a.file, dir.path() / "missing.db"}, (dir.path() / "missing.db").string(), "no such store");
  refused({a.file, a.file}, a.file.string(), "twice");
  refused({}, "out.db", "no input");

  // An existing output is never overwritten.
  const fs::path existing = dir.path() / "existing.db";
  testing::write_file(existing, "keep me");
  const std::string message = error_of([&] { Store::merge({a.file, b.file}, existing); });
  EXPECT_NE(message.find(existing.string()), std::string::npos) << message;
  EXPECT_NE(message.find("already exists"), std::string::npos) << message;
  std::ifstream in(existing);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "keep me");
  // Nor is a symbolic link there followed, even one to nothing.
  const fs::path link = dir.path() / "link.db";
  fs::create_symlink(dir.path() / "target.db", link);
  EXPECT_NE(error_of([&] { Store::merge({a.file, b.file}, link); }).find("already exists"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "target.db"));
  EXPECT_EQ(merge_temporaries(dir.path()), std::vector<std::string>{});

  // A store with two campaigns is ambiguous.
  {
    Store two(dir.path() / "two.db");
    two.create_campaign(make_plan(), Shard{1, 2}, 1, {});
    two.create_campaign(make_plan(), Shard{2, 2}, 1, {});
  }
  refused({dir.path() / "two.db"}, "two.db", "2 campaigns");

  // And the good pair still merges, leaving the store and nothing else: no temporary file, no
  // WAL that the store's content would depend on.
  EXPECT_NO_THROW(Store::merge({a.file, b.file}, dir.path() / "good.db"));
  EXPECT_EQ(merge_temporaries(dir.path()), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(dir.path() / "good.db-wal"));
  EXPECT_FALSE(fs::exists(dir.path() / "good.db-journal"));
}

TEST(StoreMerge, MissingShardsLeaveTheCampaignUnfinished) {
  TempDir dir;
  const auto s1 = make_shard(dir.path() / "s1.db", {1, 3}, {2, 5}, {});
  const auto s2 = make_shard(dir.path() / "s2.db", {2, 3}, {3, 6}, {});
  const auto s3 = make_shard(dir.path() / "s3.db", {3, 3}, {4, 7}, {});
  const auto finished_flag = [](const fs::path& file) { return Store(file).campaigns().at(0).finished; };

  // Every given shard is finished, but shard 2 of 3 is not given: the campaign is not whole.
  const MergeResult partial = Store::merge({s3.file, s1.file}, dir.path() / "partial.db");
  EXPECT_EQ(partial.shard_count, 3);
  EXPECT_EQ(partial.missing_shards, (std::vector<int>{2}));
  EXPECT_TRUE(partial.unfinished_shards.empty());
  EXPECT_FALSE(partial.finished);
  EXPECT_FALSE(finished_flag(dir.path() / "partial.db"));

  const MergeResult one = Store::merge({s2.file}, dir.path() / "one.db");
  EXPECT_EQ(one.missing_shards, (std::vector<int>{1, 3}));
  EXPECT_FALSE(finished_flag(dir.path() / "one.db"));

  const MergeResult whole = Store::merge({s3.file, s1.file, s2.file}, dir.path() / "whole.db");
  EXPECT_TRUE(whole.missing_shards.empty());
  EXPECT_TRUE(whole.finished);
  EXPECT_TRUE(finished_flag(dir.path() / "whole.db"));

  // An unfinished shard says how far it got.
  {
    Store store(dir.path() / "u2.db");
    const auto campaign = store.create_campaign(make_plan(), Shard{2, 3}, 5, {});
    store.record_run(campaign, full_run(3));
    store.record_run(campaign, full_run(6));
  }
  const MergeResult unfinished = Store::merge({s1.file, dir.path() / "u2.db", s3.file}, dir.path() / "u.db");
  EXPECT_TRUE(unfinished.missing_shards.empty());
  ASSERT_EQ(unfinished.unfinished_shards.size(), 1u);
  EXPECT_EQ(unfinished.unfinished_shards[0].file, dir.path() / "u2.db");
  EXPECT_EQ(unfinished.unfinished_shards[0].shard, (Shard{2, 3}));
  EXPECT_EQ(unfinished.unfinished_shards[0].recorded_runs, 2u);
  EXPECT_EQ(unfinished.unfinished_shards[0].planned_runs, 5u);
  EXPECT_FALSE(unfinished.finished);
  EXPECT_FALSE(finished_flag(dir.path() / "u.db"));
}

/// A process that has exited and been reaped: its pid names no process (until it is reused).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

/// A process that lives until the object goes.
struct LiveProcess {
  LiveProcess() : pid(::fork()) {
    if (pid == 0) {
      ::pause();
      ::_exit(0);
    }
  }
  ~LiveProcess() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  LiveProcess(const LiveProcess&) = delete;
  LiveProcess& operator=(const LiveProcess&) = delete;
  pid_t pid;
};

TEST(StoreMerge, RemovesWhatKilledMergesLeftBehind) {
  TempDir dir;
  const auto a = make_shard(dir.path() / "a.db", {1, 2}, {2}, {});
  const auto b = make_shard(dir.path() / "b.db", {2, 2}, {3}, {});
  const pid_t dead = dead_pid();
  const LiveProcess live;
  ASSERT_GT(live.pid, 0);
  const auto name = [](const std::string& output, pid_t pid, const std::string& suffix = "") {
    return temporary_name(output, pid, suffix);
  };
  const std::vector<std::string> removable = {name("all.db", dead), name("all.db", dead, "-shm"),
                                              name("all.db", dead, "-wal")};
  const std::vector<std::string> kept = {
      // A live process's: its merge may still be running.
      name("all.db", live.pid),
      name("all.db", live.pid, "-wal"),
      // Another output's.
      name("other.db", dead),
      // Not exactly the names a merge writes.
      name("all.db", dead, ".bak"),
      name("all.db", dead, "-wal-old"),
      ".all.db.merging-0" + std::to_string(dead),
      ".all.db.merging-",
      "all.db.merging-" + std::to_string(dead),
  };
  for (const auto& file : removable) testing::write_file(dir.path() / file, "half a store");
  for (const auto& file : kept) testing::write_file(dir.path() / file, "half a store");

  const MergeResult result = Store::merge({a.file, b.file}, dir.path() / "all.db");
  std::vector<fs::path> expected;
  for (const auto& file : removable) expected.push_back(dir.path() / file);
  EXPECT_EQ(result.removed_leftovers, expected);
  for (const auto& file : removable) EXPECT_FALSE(fs::exists(dir.path() / file)) << file;
  for (const auto& file : kept) EXPECT_TRUE(fs::exists(dir.path() / file)) << file;
  EXPECT_TRUE(Store(dir.path() / "all.db").campaigns().at(0).finished);

  // A merge that is refused (its output exists) leaves the others' files alone.
  const fs::path again = dir.path() / name("all.db", dead);
  testing::write_file(again, "half a store");
  EXPECT_THROW(Store::merge({a.file, b.file}, dir.path() / "all.db"), StoreError);
  EXPECT_TRUE(fs::exists(again));
}

}  // namespace
}  // namespace joulebench
