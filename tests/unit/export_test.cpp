// `joulebench export`: the tidy CSV and JSON, column names and order, values, missing cells.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"
#include "joulebench/report.hpp"
#include "joulebench/store.hpp"
#include "joulebench/version.hpp"

namespace joulebench {
namespace {

using testing::TempDir;

EnergyFigure energy(const std::string& domain, double j, bool estimated = false, bool complete = true,
                    std::optional<double> dynamic = std::nullopt) {
  EnergyFigure e;
  e.domain = *DomainId::parse(domain);
  e.energy_j = j;
  e.source = "src";
  e.method = estimated ? FigureMethod::model : FigureMethod::counter;
  e.estimated = estimated;
  e.complete = complete;
  e.unmeasured_s = complete ? 0.0 : 0.25;
  e.dynamic_energy_j = dynamic;
  e.problem = complete ? "" : "a read failed";
  return e;
}

/// A small campaign: a warm-up, a failed run with more of everything, and a run that never ran.
struct Demo {
  TempDir dir;
  Store store{dir.path() / "demo.db"};
  std::int64_t campaign = 0;

  Demo() {
    CampaignPlan plan;
    plan.name = "demo";
    plan.hash = "fnv1a64:0000000000000001";
    campaign = store.create_campaign(plan, Shard{}, 3, {});

    RunRecord r0;
    r0.index = 0;
    r0.workload = "torch-train";
    r0.labels = {{"framework", "libtorch"}, {"model", "ncf"}, {"phase", "train"}};
    r0.repetition = 1;
    r0.warmup = true;
    r0.status = RunStatus::ok;
    r0.exit_code = 0;
    r0.time_s = 1.5;
    r0.user_cpu_s = 1.25;
    r0.system_cpu_s = 0.125;
    r0.max_rss_kib = 2048;
    r0.energy = {energy("cpu", 10.5, false, true, 5.25), energy("dram", 2.25),
                 energy("total", 12.75, false, true, 5.25)};
    r0.metrics = {{"accuracy", 0.5, "", "events"}};
    r0.regions = {{"train", 0.5, 1.5, {energy("total", 8)}}};

    RunRecord r1;
    r1.index = 1;
    r1.workload = "dlib-train";
    r1.labels = {{"framework", "dlib"}, {"model", "ncf"}, {"phase", "train"}, {"batch", "64"}};
    r1.repetition = 1;
    r1.status = RunStatus::failed;
    r1.exit_code = 3;
    r1.time_s = 2;
    r1.user_cpu_s = 3;
    r1.system_cpu_s = 0.5;
    r1.max_rss_kib = 4096;
    r1.cooldown_s = 5;
    // Out of order, with a domain the meter does not know: columns still come cpu, dram, gpu, others.
    r1.energy = {energy("gpu", 100, true, false), energy("fpga", 3.5, true), energy("cpu", 20, false, true, 15.0),
                 energy("total", 123.5, true, false)};
    r1.metrics = {{"throughput", 1000, "samples/s", "dllogger"},
                  {"accuracy", 0.75, "", "events"},
                  {"accuracy", 0.8, "", "events"}};
    r1.regions = {{"load", 0, 0.25, {energy("total", 1)}},
                  {"train", 0.25, 1.0, {energy("total", 2.5)}},
                  {"train", 1.0, 2.0, {energy("total", 4)}}};

    RunRecord r2;
    r2.index = 2;
    r2.workload = "dlib-infer";
    r2.labels = {{"framework", "dlib"}, {"model", "ncf"}, {"phase", "infer, \"fast\""}};
    r2.repetition = 2;
    r2.status = RunStatus::not_run;
    r2.reason = "setup failed";

    store.record_run(campaign, r2);  // recorded out of order: exported in campaign order
    store.record_run(campaign, r0);
    store.record_run(campaign, r1);
  }
};

const std::string kHeader =
    "campaign,workload,repetition,status,warmup,framework,model,phase,batch,time_s,"
    "energy_cpu_j,energy_dram_j,energy_gpu_j,energy_fpga_j,energy_total_j,"
    "energy_cpu_estimated,energy_dram_estimated,energy_gpu_estimated,energy_fpga_estimated,energy_total_estimated,"
    "dynamic_energy_cpu_j,dynamic_energy_dram_j,dynamic_energy_gpu_j,dynamic_energy_fpga_j,dynamic_energy_total_j,"
    "metric_accuracy,metric_throughput,"
    "exit_code,signal,user_cpu_s,system_cpu_s,max_rss_kib,cooldown_s,"
    "energy_cpu_complete,energy_dram_complete,energy_gpu_complete,energy_fpga_complete,energy_total_complete,"
    "region_train_time_s,region_train_energy_total_j,region_load_time_s,region_load_energy_total_j";

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> split_header(const std::string& header) {
  std::vector<std::string> out;
  std::istringstream in(header);
  for (std::string field; std::getline(in, field, ',');) out.push_back(field);
  return out;
}

TEST(ExportCsv, HeaderAndRows) {
  Demo demo;
  const std::string csv = export_csv(demo.store, demo.campaign, {});
  ASSERT_FALSE(csv.empty());
  EXPECT_EQ(csv.back(), '\n');
  const auto rows = lines(csv);
  ASSERT_EQ(rows.size(), 4u) << csv;
  EXPECT_EQ(rows[0], kHeader);
  EXPECT_EQ(split_header(kHeader).size(), 42u);
  EXPECT_EQ(rows[1],
            "demo,torch-train,1,ok,true,libtorch,ncf,train,,1.5,"
            "10.5,2.25,,,12.75,"
            "false,false,,,false,"
            "5.25,,,,5.25,"
            "0.5,,"
            "0,,1.25,0.125,2048,0,"
            "true,true,,,true,"
            "1,8,,");
  EXPECT_EQ(rows[2],
            "demo,dlib-train,1,failed,false,dlib,ncf,train,64,2,"
            "20,,100,3.5,123.5,"
            "false,,true,true,true,"
            "15,,,,,"
            "0.8,1000,"
            "3,,3,0.5,4096,5,"
            "true,,false,true,false,"
            "1.75,6.5,0.25,1");
  // Not run: no times, no energies, the label quoted as RFC 4180 says.
  EXPECT_EQ(rows[3], "demo,dlib-infer,2,not-run,false,dlib,ncf,\"infer, \"\"fast\"\"\"" + std::string(24, ',') + ",0" +
                         std::string(9, ','));
}

/// A run's energy figure of `domain` in a JSON run object; null when the run has none.
nlohmann::ordered_json figure(const nlohmann::ordered_json& run, const std::string& domain) {
  for (const auto& f : run["energy"]) {
    if (f["domain"] == domain) return f;
  }
  return nullptr;
}

/// The last value of a metric in a JSON run object.
nlohmann::ordered_json metric(const nlohmann::ordered_json& run, const std::string& name) {
  nlohmann::ordered_json value = nullptr;
  for (const auto& m : run["metrics"]) {
    if (m["name"] == name) value = m["value"];
  }
  return value;
}

TEST(ExportJson, TheRunsAsEveryJsonOutputWritesThem) {
  Demo demo;
  const std::string text = export_json(demo.store, demo.campaign, {});
  const auto json = nlohmann::ordered_json::parse(text);
  ASSERT_TRUE(json.is_object());
  EXPECT_EQ(json["schema"], "runs/2");
  EXPECT_EQ(json["joulebench_version"], std::string(kVersion));
  EXPECT_EQ(json["campaign"]["name"], "demo");
  const auto& runs = json["runs"];
  ASSERT_EQ(runs.size(), 3u);

  const auto& r0 = runs[0];  // in campaign order
  EXPECT_EQ(r0["workload"], "torch-train");
  EXPECT_EQ(r0["repetition"], 1);
  EXPECT_EQ(r0["status"], "ok");
  EXPECT_EQ(r0["warmup"], true);
  EXPECT_FALSE(r0["labels"].contains("batch"));
  EXPECT_EQ(r0["labels"]["framework"], "libtorch");
  EXPECT_EQ(r0["time_s"], 1.5);
  EXPECT_EQ(figure(r0, "cpu")["energy_j"], 10.5);
  EXPECT_TRUE(figure(r0, "gpu").is_null());
  EXPECT_EQ(figure(r0, "cpu")["estimated"], false);
  EXPECT_EQ(figure(r0, "total")["dynamic_energy_j"], 5.25);
  EXPECT_FALSE(figure(r0, "dram").contains("dynamic_energy_j"));
  EXPECT_EQ(r0["exit_code"], 0);
  EXPECT_TRUE(r0["signal"].is_null());
  EXPECT_EQ(r0["max_rss_kib"], 2048);
  ASSERT_EQ(r0["regions"].size(), 1u);
  EXPECT_EQ(r0["regions"][0]["name"], "train");
  EXPECT_EQ(figure(r0["regions"][0], "total")["energy_j"], 8.0);

  const auto& r1 = runs[1];
  EXPECT_EQ(r1["labels"]["batch"], "64");
  EXPECT_EQ(figure(r1, "gpu")["estimated"], true);
  EXPECT_EQ(figure(r1, "gpu")["complete"], false);
  EXPECT_EQ(figure(r1, "fpga")["energy_j"], 3.5);
  EXPECT_EQ(figure(r1, "total")["energy_j"], 123.5);
  EXPECT_EQ(metric(r1, "accuracy"), 0.8);
  EXPECT_EQ(metric(r1, "throughput"), 1000.0);
  ASSERT_EQ(r1["regions"].size(), 3u);  // every visit, as measured (the CSV sums them)
  EXPECT_EQ(r1["regions"][0]["name"], "load");
  EXPECT_EQ(r1["regions"][0]["end_s"], 0.25);

  const auto& r2 = runs[2];
  EXPECT_EQ(r2["status"], "not-run");
  EXPECT_EQ(r2["labels"]["phase"], "infer, \"fast\"");
  EXPECT_EQ(r2["reason"], "setup failed");
  EXPECT_TRUE(r2["time_s"].is_null());
  EXPECT_TRUE(r2["energy"].empty());
  EXPECT_TRUE(r2["max_rss_kib"].is_null());
  EXPECT_EQ(r2["cooldown_s"], 0.0);
}

TEST(Export, FiltersChooseTheRowsAndTheColumns) {
  Demo demo;
  RunFilter measured;
  measured.warmup = false;
  auto rows = lines(export_csv(demo.store, demo.campaign, measured));
  ASSERT_EQ(rows.size(), 3u);
  // Columns are the union over the selected runs only: no dram (only the warm-up had it), and
  // metrics and regions in the order the selected runs show them.
  EXPECT_EQ(rows[0],
            "campaign,workload,repetition,status,warmup,framework,model,phase,batch,time_s,energy_cpu_j,energy_gpu_j,"
            "energy_fpga_j,energy_total_j,energy_cpu_estimated,energy_gpu_estimated,energy_fpga_estimated,"
            "energy_total_estimated,dynamic_energy_cpu_j,dynamic_energy_gpu_j,dynamic_energy_fpga_j,"
            "dynamic_energy_total_j,metric_throughput,metric_accuracy,exit_code,signal,user_cpu_s,system_cpu_s,"
            "max_rss_kib,cooldown_s,energy_cpu_complete,energy_gpu_complete,energy_fpga_complete,"
            "energy_total_complete,region_load_time_s,region_load_energy_total_j,region_train_time_s,"
            "region_train_energy_total_j");
  EXPECT_TRUE(rows[1].starts_with("demo,dlib-train,"));
  EXPECT_TRUE(rows[2].starts_with("demo,dlib-infer,"));

  RunFilter libtorch;
  libtorch.labels = {{"framework", "libtorch"}};
  rows = lines(export_csv(demo.store, demo.campaign, libtorch));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0],
            "campaign,workload,repetition,status,warmup,framework,model,phase,time_s,energy_cpu_j,energy_dram_j,"
            "energy_total_j,energy_cpu_estimated,energy_dram_estimated,energy_total_estimated,dynamic_energy_cpu_j,"
            "dynamic_energy_dram_j,dynamic_energy_total_j,metric_accuracy,exit_code,signal,user_cpu_s,system_cpu_s,"
            "max_rss_kib,cooldown_s,energy_cpu_complete,energy_dram_complete,energy_total_complete,"
            "region_train_time_s,region_train_energy_total_j");

  RunFilter failed;
  failed.status = RunStatus::failed;
  const auto json = nlohmann::json::parse(export_json(demo.store, demo.campaign, failed));
  ASSERT_EQ(json["runs"].size(), 1u);
  EXPECT_EQ(json["runs"][0]["workload"], "dlib-train");

  RunFilter none;
  none.workload = "nothing";
  EXPECT_TRUE(nlohmann::json::parse(export_json(demo.store, demo.campaign, none))["runs"].empty());
  rows = lines(export_csv(demo.store, demo.campaign, none));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0].starts_with("campaign,workload,repetition,status,warmup,time_s,energy_total_j,"));
}

TEST(Export, LabelsAreTheUnionInFirstSeenOrder) {
  TempDir dir;
  Store store(dir.path() / "s.db");
  CampaignPlan plan;
  plan.name = "labels";
  const auto campaign = store.create_campaign(plan, Shard{}, 3, {});
  const std::vector<KeyValues> labels{
      {{"framework", "a"}, {"lr", "0.1"}},
      {{"model", "m"}, {"framework", "b"}, {"status", "odd"}},  // "status" would shadow a column
      {{"seed", "1"}, {"lr", "0.2"}},
  };
  for (std::size_t i = 0; i < labels.size(); ++i) {
    RunRecord r;
    r.index = i;
    r.workload = "w";
    r.labels = labels[i];
    store.record_run(campaign, r);
  }
  const auto rows = lines(export_csv(store, campaign, {}));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_TRUE(
      rows[0].starts_with("campaign,workload,repetition,status,warmup,framework,lr,model,label_status,seed,time_s,"))
      << rows[0];
  EXPECT_TRUE(rows[1].starts_with("labels,w,1,ok,false,a,0.1,,,,0,")) << rows[1];
  EXPECT_TRUE(rows[2].starts_with("labels,w,1,ok,false,b,,m,odd,,0,")) << rows[2];
  EXPECT_TRUE(rows[3].starts_with("labels,w,1,ok,false,,0.2,,,1,0,")) << rows[3];
}

TEST(Export, NumbersRoundTripAndNonFiniteIsMissing) {
  TempDir dir;
  Store store(dir.path() / "s.db");
  CampaignPlan plan;
  plan.name = "numbers";
  const auto campaign = store.create_campaign(plan, Shard{}, 1, {});
  RunRecord r;
  r.workload = "w";
  r.time_s = 0.1 + 0.2;
  r.energy = {energy("cpu", 1e-7), energy("total", std::numeric_limits<double>::quiet_NaN())};
  r.metrics = {{"big", 123456789.123456789, "", "regex"},
               {"inf", std::numeric_limits<double>::infinity(), "", "regex"}};
  store.record_run(campaign, r);
  const auto rows = lines(export_csv(store, campaign, {}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[1].starts_with("numbers,w,1,ok,false,0.30000000000000004,1e-07,,")) << rows[1];
  EXPECT_NE(rows[1].find(",123456789.12345679,,"), std::string::npos) << rows[1];
  const auto json = nlohmann::ordered_json::parse(export_json(store, campaign, {}));
  const auto& run = json["runs"][0];
  EXPECT_EQ(run["time_s"].get<double>(), 0.1 + 0.2);
  EXPECT_EQ(figure(run, "cpu")["energy_j"].get<double>(), 1e-7);
  EXPECT_TRUE(figure(run, "total")["energy_j"].is_null());
  EXPECT_TRUE(metric(run, "inf").is_null());
  EXPECT_EQ(metric(run, "big").get<double>(), 123456789.123456789);
}

/// A campaign whose text a spreadsheet would run as a formula: its name, a workload's name, label
/// values and a label key; and negative numbers, which are numbers, not formulas.
struct Formulas {
  TempDir dir;
  Store store{dir.path() / "formulas.db"};
  std::int64_t campaign = 0;

  Formulas() {
    CampaignPlan plan;
    plan.name = "@sum";
    plan.hash = "fnv1a64:0000000000000002";
    campaign = store.create_campaign(plan, Shard{}, 1, {});
    RunRecord r;
    r.workload = "=cmd|' /C calc'!A0";
    r.labels = {{"framework", "-x"},
                {"plus", "+1"},
                {"tab", "\tt"},
                {"cr", "\rr"},
                {"dash", "-"},
                {"quoted", "'=kept"},
                {"apostrophe", "'plain"},
                {"padded", " padded\t"},
                {"=key", "ncf-libtorch-train"}};
    r.time_s = 1;
    r.metrics = {{"delta", -3.5, "", "events"}, {"tiny", -1e-05, "", "events"}};
    store.record_run(campaign, r);
  }
};

std::map<std::string, std::string> cells_of(const std::string& csv) {
  const auto rows = lines(csv);
  EXPECT_EQ(rows.size(), 2u) << csv;
  if (rows.size() != 2) return {};
  const auto header = testing::csv_fields(rows[0]);
  const auto row = testing::csv_fields(rows[1]);
  EXPECT_EQ(header.size(), row.size()) << csv;
  std::map<std::string, std::string> cells;
  for (std::size_t i = 0; i < header.size() && i < row.size(); ++i) cells[header[i]] = row[i];
  return cells;
}

TEST(ExportCsv, TextASpreadsheetWouldRunIsGuardedNumbersAreNot) {
  Formulas f;
  const std::string csv = export_csv(f.store, f.campaign, {});
  auto cells = cells_of(csv);
  EXPECT_EQ(cells["campaign"], "'@sum");
  EXPECT_EQ(cells["workload"], "'=cmd|' /C calc'!A0");
  EXPECT_EQ(cells["framework"], "'-x");
  EXPECT_EQ(cells["plus"], "'+1");
  EXPECT_EQ(cells["tab"], "'\tt");
  EXPECT_EQ(cells["cr"], "'\rr");
  EXPECT_EQ(cells["dash"], "'-");
  EXPECT_EQ(cells["quoted"], "''=kept") << "so that import, removing one quote, gives the text back";
  EXPECT_EQ(cells["apostrophe"], "'plain");
  EXPECT_EQ(cells["padded"], " padded\t");
  EXPECT_EQ(cells["'=key"], "ncf-libtorch-train") << csv;
  EXPECT_EQ(cells["status"], "ok");
  EXPECT_EQ(cells["metric_delta"], "-3.5");
  EXPECT_EQ(cells["metric_tiny"], "-1e-05");
  // JSON is no spreadsheet: its text stays as written.
  const auto json = nlohmann::json::parse(export_json(f.store, f.campaign, {}));
  EXPECT_EQ(json["runs"][0]["workload"], "=cmd|' /C calc'!A0");

  // Import removes the guard: the same campaign comes back, and exports the same.
  const std::filesystem::path file = f.dir.path() / "exported.csv";
  testing::write_file(file, csv);
  Store again(f.dir.path() / "again.db");
  const ImportResult imported = import_csv(again, file);
  EXPECT_EQ(imported.name, "@sum");
  const auto runs = again.runs(imported.campaign);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].workload, "=cmd|' /C calc'!A0");
  const RunRecord original = f.store.runs(f.campaign).at(0);
  EXPECT_EQ(runs[0].labels, original.labels);
  EXPECT_EQ(export_csv(again, imported.campaign, {}), csv);
}

TEST(ExportCsv, RawLeavesTextAsWritten) {
  Formulas f;
  ExportOptions raw;
  raw.guard_formulas = false;
  auto cells = cells_of(export_csv(f.store, f.campaign, {}, raw));
  EXPECT_EQ(cells["workload"], "=cmd|' /C calc'!A0");
  EXPECT_EQ(cells["framework"], "-x");
  EXPECT_EQ(cells["quoted"], "'=kept");
  EXPECT_EQ(cells["=key"], "ncf-libtorch-train");
  EXPECT_EQ(cells["metric_delta"], "-3.5");
}

TEST(Export, AnUnknownCampaignIsAnError) {
  TempDir dir;
  Store store(dir.path() / "s.db");
  EXPECT_THROW(export_csv(store, 42, {}), StoreError);
  EXPECT_THROW(export_json(store, 42, {}), StoreError);
}

TEST(Import, RefusesNulBytesInNamesLabelsAndValues) {
  TempDir dir;
  const std::filesystem::path file = dir.path() / "nul.csv";
  testing::write_file(file, std::string("workload,framework,time_s\nok,a,1\nbad,b\0x,2\n", 43));
  Store store(dir.path() / "s.db");
  try {
    import_csv(store, file);
    ADD_FAILURE() << "a NUL byte was imported";
  } catch (const ImportError& e) {
    ASSERT_EQ(e.problems().size(), 1u) << e.what();
    EXPECT_EQ(e.problems()[0],
              "line 3, column 'framework': holds a NUL byte, which names, labels and values never may");
  }
  EXPECT_TRUE(store.campaigns().empty()) << "nothing is imported when a row is bad";
}

}  // namespace
}  // namespace joulebench
