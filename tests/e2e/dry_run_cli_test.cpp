// `joulebench run --dry-run` refuses what `run` would refuse before its first run, at the key
// that is wrong, and says which programs cannot be found.
#include <gtest/gtest.h>

#include "fakes/cli_runner.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::Result;
using testing::Runner;
using testing::TempDir;

constexpr const char* kHeader = "[campaign]\nname = \"d\"\nidle = \"0s\"\ncooldown = \"0s\"\n";  // lines 1-4

std::string workload(const std::string& extra) {  // lines 5-10, then extra from line 11
  return "[[workload]]\nname = \"w\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"p\"\ncommand = [\"true\"]\n" + extra;
}

class DryRunCli : public ::testing::Test {
 protected:
  Result dry_run(const std::string& plan_text) {
    testing::write_file(dir.path() / "plan.toml", plan_text);
    return runner.run(
        {"run", (dir.path() / "plan.toml").string(), "--db", (dir.path() / "d.db").string(), "--dry-run"});
  }
  Result real_run() {
    return runner.run({"run", (dir.path() / "plan.toml").string(), "--db", (dir.path() / "d.db").string()});
  }
  TempDir dir;
  Runner runner;
};

TEST_F(DryRunCli, ABadRegexIsRefusedAtTheRegexAsRunRefusesIt) {
  const Result dry = dry_run(std::string(kHeader) + workload("regex = ['loss=(?<loss>[0-9.]+)', 'acc=(?<acc>[0-9']\n"));
  EXPECT_EQ(dry.exit_code, 1) << dry.out;
  const std::string at = (dir.path() / "plan.toml").string() + ":11:35: 'regex': ";
  EXPECT_TRUE(dry.err.starts_with("joulebench: " + at)) << dry.err;
  const Result run = real_run();
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.err, dry.err) << "the run and its dry run refuse it alike";
  EXPECT_FALSE(fs::exists(dir.path() / "d.db")) << "the refused run made a store";
}

TEST_F(DryRunCli, AMissingCwdIsRefusedAtTheCwd) {
  const Result dry = dry_run(std::string(kHeader) + workload("cwd = \"nowhere\"\n"));
  EXPECT_EQ(dry.exit_code, 1) << dry.out;
  EXPECT_NE(dry.err.find("plan.toml:11:7: 'cwd' of workload 'w': " + (dir.path() / "nowhere").string() +
                         " is not a folder (it does not exist)"),
            std::string::npos)
      << dry.err;
  EXPECT_EQ(real_run().err, dry.err);
}

TEST_F(DryRunCli, AnEmptyProgramIsRefusedAtTheCommand) {
  const Result dry =
      dry_run(std::string(kHeader) +
              "[[workload]]\nname = \"w\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"p\"\ncommand = [\"\"]\n");
  EXPECT_EQ(dry.exit_code, 1) << dry.out;
  EXPECT_NE(dry.err.find("plan.toml:10:12: 'command' starts with an empty program name"), std::string::npos) << dry.err;
}

TEST_F(DryRunCli, SaysWhichProgramsCannotBeFound) {
  const Result dry = dry_run(std::string(kHeader) +
                             "[[workload]]\nname = \"w\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"p\"\n"
                             "command = [\"no-such-program-here\"]\n");
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(
      dry.err.find("warning: workload 'w': cannot run 'no-such-program-here': command not found in PATH: its runs "
                   "would be recorded as not run"),
      std::string::npos)
      << dry.err;
}

}  // namespace
}  // namespace joulebench
