// Containers as workloads, end to end with a real runtime: podman from Debian's packages, a
// busybox image imported from a tarball (no registry is reachable), joulebench's own cleanup under
// a timeout, Ctrl-C and kill -9. Skipped, saying why, where podman cannot run a container.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "fakes/cli_runner.hpp"
#include "joulebench/process.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::guard_of;
using testing::read_all;
using testing::Result;
using testing::Runner;
using testing::TempDir;

constexpr const char* kImage = "localhost/joulebench-test-busybox:latest";
/// The host's own Debian Python, as an image of its own: a container's Python for the pure-Python
/// helper (the host's interpreter, libraries and standard library; no joulebench module in it).
constexpr const char* kPythonImage = "localhost/joulebench-test-python:latest";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A shell command's output and exit status (the test's own podman queries).
std::pair<int, std::string> shell(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  char buffer[4096];
  for (std::size_t n = 0; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

/// The podman every test uses: runc, cgroupfs, ulimits at or below the hard limits and no network
/// (this VM's hybrid cgroups and capabilities: docs/containers.md).
class PodmanHere {
 public:
  PodmanHere() {
    if (shell("command -v podman").first != 0) {
      why_not_ = "podman is not installed (scripts/setup --tests installs podman, runc and busybox-static)";
      return;
    }
    const fs::path busybox = fs::exists("/bin/busybox") ? "/bin/busybox" : "/usr/bin/busybox";
    if (!fs::exists(busybox)) {
      why_not_ = "busybox is not installed (the test image is made from busybox-static)";
      return;
    }
    testing::write_file(conf_.path() / "containers.conf",
                        "[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"
                        "[containers]\nnetns = \"none\"\n"
                        "default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n");
    ::setenv("CONTAINERS_CONF", conf_path().c_str(), 1);
    // A busybox root file system, imported as an image: the only image a machine without a
    // registry can have.
    const fs::path root = conf_.path() / "rootfs";
    fs::create_directories(root / "bin");
    fs::copy_file(busybox, root / "bin" / "busybox");
    for (const char* tool : {"sh", "sleep", "echo", "cat", "touch", "true", "yes", "head"}) {
      fs::create_symlink("busybox", root / "bin" / tool);
    }
    const auto imported = shell("tar -C " + root.string() + " -cf " + (conf_.path() / "rootfs.tar").string() +
                                " . && podman import " + (conf_.path() / "rootfs.tar").string() + " " + kImage);
    if (imported.first != 0) {
      why_not_ = "podman cannot import an image here: " + imported.second;
      return;
    }
    image_id_ = trimmed(shell(std::string("podman image inspect --format '{{.Id}}' ") + kImage).second);
    const auto trial = shell(std::string("podman run --rm ") + kImage + " true");
    if (trial.first != 0) why_not_ = "podman cannot run a container here: " + trial.second;
  }
  ~PodmanHere() { shell(std::string("podman rmi --force ") + kImage + " " + kPythonImage); }

  /// Imports the Python image at the first call; empty when it is there, else why not.
  std::string python_image() {
    if (python_tried_) return python_why_not_;
    python_tried_ = true;
    if (!fs::exists("/usr/bin/python3") || !fs::exists("/usr/lib/python3.11")) {
      python_why_not_ = "Debian's /usr/bin/python3 (3.11) is not installed";
      return python_why_not_;
    }
    const std::string tar = (conf_.path() / "python.tar").string();
    const auto made =
        shell("tar --create --file " + tar +
              " --exclude=__pycache__ --exclude=test --exclude=idlelib --exclude=tkinter --exclude=ensurepip "
              "--exclude=lib2to3 --exclude=site-packages --exclude=dist-packages --dereference "
              "/usr/bin/python3 /usr/lib/python3.11 /lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libz.so.1 "
              "/lib/x86_64-linux-gnu/libexpat.so.1 /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2 "
              "2>&1 && podman import " +
              tar + " " + kPythonImage);
    if (made.first != 0) python_why_not_ = "the Python image cannot be made here: " + made.second;
    return python_why_not_;
  }
  const std::string& why_not() const { return why_not_; }
  const std::string& image_id() const { return image_id_; }
  std::string conf_path() const { return (conf_.path() / "containers.conf").string(); }

 private:
  TempDir conf_;
  std::string why_not_;
  std::string image_id_;
  bool python_tried_ = false;
  std::string python_why_not_;
};

PodmanHere& podman() {
  static PodmanHere here;
  return here;
}

/// The containers joulebench labelled that still exist.
std::string labelled_containers() {
  return trimmed(shell("podman ps --all --filter label=joulebench.owner --format '{{.Names}}'").second);
}

/// The cgroups joulebench named for its containers that are still there.
std::string leftover_cgroups() {
  std::string found;
  std::error_code ec;
  std::vector<fs::path> roots{"/sys/fs/cgroup"};
  for (const auto& entry : fs::directory_iterator("/sys/fs/cgroup", ec)) roots.push_back(entry.path());
  for (const auto& root : roots) {
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      if (entry.path().filename().string().starts_with("joulebench-")) found += entry.path().string() + " ";
    }
  }
  return found;
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds patience) {
  const auto until = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

class ContainerCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // One container test at a time on the machine (ctest runs tests side by side): each checks that
    // no labelled container and no joulebench cgroup is left, and removes what it finds.
    serial_ = ::open("/tmp/joulebench-container-tests.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (serial_ >= 0) ::flock(serial_, LOCK_EX);
    if (!podman().why_not().empty()) GTEST_SKIP() << "no container runtime can run here: " << podman().why_not();
    runner.deadline = std::chrono::seconds(90);
    fs::permissions(dir.path(), fs::perms::all);
  }
  void TearDown() override {
    // Whatever happened, no container of these tests outlives them.
    if (podman().why_not().empty()) {
      shell("podman rm --force --time 0 $(podman ps --all --quiet --filter label=joulebench.owner) 2>/dev/null");
    }
    if (serial_ >= 0) ::close(serial_);
  }
  fs::path plan(const std::string& command, const std::string& extra = "", int repetitions = 1) {
    const fs::path path = dir.path() / "plan.toml";
    testing::write_file(path, "[campaign]\nname = \"containers\"\nrepetitions = " + std::to_string(repetitions) +
                                  "\nwarmup = 0\ncooldown = \"0s\"\nidle = \"0s\"\n\n[[workload]]\n"
                                  "name = \"box\"\nframework = \"sh\"\nmodel = \"busybox\"\nphase = \"run\"\n"
                                  "container = { image = \"" +
                                  std::string(kImage) + "\", runtime = \"podman\", mounts = [\"" + dir.path().string() +
                                  ":/out\"] }\ncommand = " + command + "\n" + extra);
    return path;
  }
  testing::Env env() const { return {{"CONTAINERS_CONF", podman().conf_path()}}; }
  nlohmann::json runs(const fs::path& db) {
    const Result exported = runner.run({"export", "--db", db.string(), "--format", "json"});
    EXPECT_EQ(exported.exit_code, 0) << exported.err;
    return testing::parse_json(exported.out)["runs"];
  }

  TempDir dir;
  Runner runner;
  int serial_ = -1;
};

TEST_F(ContainerCli, RunsTheWorkloadInsideRecordsTheImageAndRemovesTheContainer) {
  // A busy loop (CPU time inside the container), an event through the named pipe, a file in a mount.
  const std::string command =
      R"(["sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo '{\"event\":\"metric\",\"name\":\"loops\",\"value\":100000}' > $JOULEBENCH_EVENTS_PATH; touch /out/ran; echo done"])";
  const fs::path db = dir.path() / "c.db";
  const Result r = runner.run({"run", plan(command).string(), "--db", db.string()}, env());
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_TRUE(fs::exists(dir.path() / "ran")) << "the mount did not reach the container";
  const auto all = runs(db);
  ASSERT_EQ(all.size(), 1u);
  const auto& run = all[0];
  EXPECT_EQ(run["status"], "ok");
  // The image that ran, by ID, and the runtime with its version.
  const auto& meta = run["metadata"];
  EXPECT_EQ(meta["container.image_id"], podman().image_id()) << meta.dump();
  EXPECT_EQ(meta["container.runtime"], "podman");
  EXPECT_FALSE(meta["container.runtime_version"].get<std::string>().empty());
  EXPECT_EQ(meta["container.image"], kImage);
  // The event crossed into joulebench from inside.
  ASSERT_EQ(run["metrics"].size(), 1u) << run.dump();
  EXPECT_EQ(run["metrics"][0]["name"], "loops");
  // Container start-up is a region of its own, inside the run.
  ASSERT_GE(run["regions"].size(), 1u) << run.dump();
  EXPECT_EQ(run["regions"][0]["name"], "container-start");
  const double started = run["regions"][0]["end_s"].get<double>();
  EXPECT_GT(started, 0.0);
  EXPECT_LT(started, run["time_s"].get<double>());
  // CPU from the container's cgroup: the busy loop ran there, not in the client. Memory is the
  // cgroup's peak; no single process's peak is known.
  EXPECT_GT(run["user_cpu_s"].get<double>() + run["system_cpu_s"].get<double>(), 0.05) << run.dump();
  EXPECT_GT(run["peak_memory_kib"].get<double>(), 0.0);
  EXPECT_TRUE(run["max_rss_kib"].is_null());
  // Nothing was left running or killed: the runtime's monitor went with the container.
  EXPECT_TRUE(run["warnings"].empty() || !contains(run["warnings"].dump(), "leftover-processes"))
      << run["warnings"].dump();
  EXPECT_EQ(labelled_containers(), "");
  EXPECT_EQ(leftover_cgroups(), "");
}

TEST_F(ContainerCli, ThePurePythonHelperReachesJoulebenchFromAContainersPython) {
  if (const std::string why = podman().python_image(); !why.empty()) GTEST_SKIP() << why;
  // The helper joulebench mounts, found through PYTHONPATH as docs/containers.md says; a region
  // and a metric through the named pipe.
  const fs::path path = dir.path() / "plan.toml";
  testing::write_file(
      path,
      std::string("[campaign]\nname = \"py\"\nrepetitions = 1\nwarmup = 0\ncooldown = \"0s\"\nidle = \"0s\"\n\n") +
          "[[workload]]\nname = \"py\"\nframework = \"python\"\nmodel = \"sum\"\nphase = \"run\"\n"
          "container = { image = \"" +
          kPythonImage +
          "\", runtime = \"podman\" }\nenv = { PYTHONPATH = \"/run/joulebench-helpers\" }\n"
          "command = [\"python3\", \"-c\", \"import joulebench_events as jb\\nassert jb.enabled()\\n"
          "with jb.region('work'): sum(range(3000000))\\njb.metric('answer', 42)\\njb.meta('python', "
          "'container')\"]\n");
  const fs::path db = dir.path() / "py.db";
  const Result r = runner.run({"run", path.string(), "--db", db.string()}, env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto all = runs(db);
  ASSERT_EQ(all.size(), 1u);
  const auto& run = all[0];
  ASSERT_EQ(run["status"], "ok") << run.dump() << read_all(db.string() + ".logs/c1/00000-py.stderr");
  ASSERT_EQ(run["metrics"].size(), 1u) << run.dump();
  EXPECT_EQ(run["metrics"][0]["value"], 42.0);
  EXPECT_EQ(run["metadata"]["python"], "container");
  std::vector<std::string> regions;
  for (const auto& region : run["regions"]) regions.push_back(region["name"]);
  EXPECT_EQ(regions, (std::vector<std::string>{"container-start", "work"}));
  EXPECT_EQ(labelled_containers(), "");
}

TEST_F(ContainerCli, AMissingImageStopsTheCampaignAtThePlansLine) {
  const fs::path path = dir.path() / "plan.toml";
  testing::write_file(path,
                      "[campaign]\nname = \"c\"\n\n[[workload]]\nname = \"w\"\nframework = \"f\"\nmodel = \"m\"\n"
                      "phase = \"p\"\ncontainer = { image = \"localhost/no-such-image:1\", runtime = \"podman\" }\n"
                      "command = [\"true\"]\n");
  const Result r = runner.run({"run", path.string(), "--db", (dir.path() / "m.db").string()}, env());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, path.string() + ":9:")) << r.err;
  EXPECT_TRUE(contains(r.err, "not among podman's local images")) << r.err;
  // A dry run says so too, without running anything.
  const Result dry = runner.run({"run", path.string(), "--db", (dir.path() / "m.db").string(), "--dry-run"}, env());
  EXPECT_TRUE(contains(dry.out + dry.err, "not among podman's local images")) << dry.out << dry.err;
  EXPECT_FALSE(fs::exists(dir.path() / "m.db"));
}

TEST_F(ContainerCli, ATimeoutRemovesTheContainerBeforeTheNextRun) {
  const fs::path db = dir.path() / "t.db";
  const Result r =
      runner.run({"run", plan(R"(["sh", "-c", "touch /out/started; sleep 60"])", "timeout = \"2s\"\n", 2).string(),
                  "--db", db.string()},
                 env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto all = runs(db);
  ASSERT_EQ(all.size(), 2u);
  for (const auto& run : all) {
    EXPECT_EQ(run["status"], "timed-out") << run.dump();
    EXPECT_LT(run["time_s"].get<double>(), 10.0);
  }
  EXPECT_LT(r.wall_s, 40.0) << "a timed-out container ran on";
  EXPECT_EQ(labelled_containers(), "");
  EXPECT_EQ(leftover_cgroups(), "");
}

TEST_F(ContainerCli, CtrlCTwiceKillsAndRemovesTheContainer) {
  const fs::path db = dir.path() / "i.db";
  const fs::path started = dir.path() / "started";
  const Result r =
      runner.run({"run", plan(R"(["sh", "-c", "touch /out/started; sleep 60"])").string(), "--db", db.string()}, env(),
                 std::nullopt, [&](pid_t joulebench) {
                   ASSERT_TRUE(wait_for([&] { return fs::exists(started); }, std::chrono::seconds(30)));
                   ::kill(joulebench, SIGINT);
                   std::this_thread::sleep_for(std::chrono::milliseconds(200));
                   ::kill(joulebench, SIGINT);
                 });
  EXPECT_LT(r.wall_s, 40.0);
  EXPECT_TRUE(contains(r.err, "killed on request")) << r.err;
  EXPECT_EQ(labelled_containers(), "");
  EXPECT_EQ(leftover_cgroups(), "");
}

TEST_F(ContainerCli, AKilledJoulebenchsGuardRemovesItsContainer) {
  const fs::path started = dir.path() / "started";
  const Result r = runner.run(
      {"run", plan(R"(["sh", "-c", "touch /out/started; sleep 60"])").string(), "--db", (dir.path() / "k.db").string()},
      env(), std::nullopt, [&](pid_t joulebench) {
        ASSERT_TRUE(wait_for([&] { return fs::exists(started); }, std::chrono::seconds(30)));
        ::kill(joulebench, SIGKILL);
      });
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_TRUE(wait_for([] { return labelled_containers().empty(); }, std::chrono::seconds(30)))
      << "left: " << labelled_containers();
}

TEST_F(ContainerCli, TheNextJoulebenchRemovesTheContainerAKilledOneLeft) {
  const fs::path started = dir.path() / "started";
  pid_t guard = 0;
  const Result r = runner.run(
      {"run", plan(R"(["sh", "-c", "touch /out/started; sleep 60"])").string(), "--db", (dir.path() / "k.db").string()},
      env(), std::nullopt, [&](pid_t joulebench) {
        ASSERT_TRUE(wait_for([&] { return fs::exists(started); }, std::chrono::seconds(30)));
        guard = guard_of(joulebench);
        if (guard > 0) ::kill(guard, SIGKILL);
        ::kill(joulebench, SIGKILL);
      });
  ASSERT_GT(guard, 0) << r.err;
  // The runtime runs the container, not joulebench: it outlives both.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::string left = labelled_containers();
  ASSERT_FALSE(left.empty()) << "nothing was left for the next joulebench to remove";
  const Result next = runner.run({"measure", "--", "true"}, env());
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_TRUE(contains(next.err, "container " + left)) << next.err;
  EXPECT_EQ(labelled_containers(), "");
}

}  // namespace
}  // namespace joulebench

// --- only the GPUs a run uses, in a campaign (fake NVML: three GPUs at 50, 120 and 200 W) --------

namespace joulebench {
namespace {

class CampaignGpus : public ::testing::Test {
 protected:
  testing::Env fake_gpus() const {
    return {{"JOULEBENCH_NVML_LIBRARY", FAKE_NVML_LIBRARY},
            {"FAKE_NVML_GPUS", "3"},
            {"FAKE_NVML_POWERS_W", "50,120,200"},
            {"FAKE_NVML_SCENARIO", std::nullopt},
            {"FAKE_NVML_NO_UUID", std::nullopt}};
  }
  static std::string uuid(int index) { return "GPU-fa4e0000-0000-4000-8000-00000000000" + std::to_string(index); }
  fs::path plan(const std::string& gpus) {
    const fs::path path = dir.path() / "plan.toml";
    testing::write_file(path,
                        "[campaign]\nname = \"gpus\"\nrepetitions = 2\nwarmup = 0\ncooldown = \"0s\"\n"
                        "idle = \"300ms\"\n\n[[workload]]\nname = \"one\"\nframework = \"f\"\nmodel = \"m\"\n"
                        "phase = \"p\"\ngpus = " +
                            gpus + "\ncommand = [\"sh\", \"-c\", \"printf %s \\\"$CUDA_VISIBLE_DEVICES\\\" > " +
                            (dir.path() / "seen").string() + "; sleep 0.3\"]\n");
    return path;
  }
  TempDir dir;
  Runner runner;
};

TEST_F(CampaignGpus, ARunSeesAndIsChargedForItsGpusOnlyAndEachGpuIsExported) {
  const fs::path db = dir.path() / "g.db";
  const Result r = runner.run({"run", plan("[1]").string(), "--db", db.string()}, fake_gpus());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_all(dir.path() / "seen"), uuid(1));
  const Store store(db);
  const auto runs = store.runs(store.campaigns().back().id);
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) {
    const auto figure = [&](const std::string& name) {
      const EnergyFigure* f = find_energy(run.energy, *DomainId::parse(name));
      EXPECT_NE(f, nullptr) << name;
      return f == nullptr ? 0.0 : f->energy_j;
    };
    const double seconds = run.time_s;
    EXPECT_NEAR(figure("gpu"), 120.0 * seconds, 0.05 * 120.0 * seconds);
    EXPECT_NEAR(figure("gpu-other"), 250.0 * seconds, 0.05 * 250.0 * seconds);
    EXPECT_NEAR(figure("gpu-1"), figure("gpu"), 1e-9);
    EXPECT_NEAR(figure("gpu-0") + figure("gpu-2"), figure("gpu-other"), 1e-6);
    // The GPUs the run did not use are not in its total; the selected one's idle power is its
    // dynamic energy's baseline (the same power: nothing but idle ran).
    const EnergyFigure* total = find_energy(run.energy, DomainId::total());
    ASSERT_NE(total, nullptr);
    EXPECT_LT(total->energy_j, figure("gpu") + figure("gpu-other"));
    const EnergyFigure* gpu = find_energy(run.energy, DomainId(Domain::gpu));
    ASSERT_TRUE(gpu->dynamic_energy_j.has_value());
    EXPECT_LT(*gpu->dynamic_energy_j, 0.05 * gpu->energy_j);
  }
  // The idle baseline records each GPU's power beside the domains'.
  const auto idle = store.idle_baselines(store.campaigns().back().id);
  ASSERT_FALSE(idle.empty());
  std::map<std::string, double> watts(idle[0].power_w.begin(), idle[0].power_w.end());
  EXPECT_NEAR(watts["gpu-1"], 120.0, 2.0);
  EXPECT_NEAR(watts["gpu-2"], 200.0, 2.0);
  // The run says which GPUs it used; the report's power figure leaves the others out of its total.
  EXPECT_EQ(value_of(runs[0].metadata, "gpus"), "1");
  const Result report = runner.run({"report", "--db", db.string(), "-o", (dir.path() / "report").string()});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_TRUE(contains(read_all(dir.path() / "report" / "index.html"), "and the GPUs the run did not use"));
  // One column per GPU in the export.
  const Result exported = runner.run({"export", "--db", db.string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  for (const char* column :
       {"energy_gpu_j", "energy_gpu-other_j", "energy_gpu-0_j", "energy_gpu-1_j", "energy_gpu-2_j"}) {
    EXPECT_TRUE(contains(testing::lines_of(exported.out).at(0), column)) << column;
  }
}

TEST_F(CampaignGpus, AGpuThatIsNotHereStopsTheCampaignAtItsLineBeforeAnythingIsMade) {
  const fs::path db = dir.path() / "g.db";
  const fs::path path = plan("[\"GPU-nope\"]");
  const Result r = runner.run({"run", path.string(), "--db", db.string()}, fake_gpus());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, path.string() + ":13:8: 'gpus' of workload 'one'")) << r.err;
  EXPECT_TRUE(contains(r.err, uuid(2))) << "the GPUs that are here are named: " << r.err;
  EXPECT_FALSE(fs::exists(db));
}

TEST_F(CampaignGpus, ProfileTakesGpusAsMeasureDoes) {
  const Result r = runner.run({"profile", "--gpus", "7", "--", "true"}, fake_gpus());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "--gpus")) << r.err;
  EXPECT_TRUE(contains(r.err, uuid(0))) << "the GPUs that are here are named: " << r.err;
}

}  // namespace
}  // namespace joulebench
