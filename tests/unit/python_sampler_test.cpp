// The external Python sampler's pieces: symbols from ELF files, a CPython's version read from its
// executable (checked against what the interpreter says of itself), and the choice between the
// external and the in-process sampler. Its sampling is tested end to end in profile_cli_test.cpp.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"
#include "joulebench/python_sampler.hpp"

extern "C" {
// A symbol of this test program, to be found again in its own file.
extern const unsigned long joulebench_test_marker;
__attribute__((used)) const unsigned long joulebench_test_marker = 0x030b02f0;
}

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_file;

const std::string kPython = testing::profile_test_python();

using testing::ScopedVariable;

/// "3.11" as the interpreter reports itself.
std::string reported_version(const std::string& python) {
  const std::string command = python + " -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'";
  FILE* out = ::popen(command.c_str(), "r");
  if (!out) return "";
  char line[32] = {};
  const bool read = std::fgets(line, sizeof line, out) != nullptr;
  ::pclose(out);
  std::string text = read ? line : "";
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

TEST(PythonSampler, FindsASymbolInAnElfFileAndNothingElsewhere) {
  const fs::path self = fs::read_symlink("/proc/self/exe");
  const auto marker = elf_symbol_value(self, "joulebench_test_marker");
  ASSERT_TRUE(marker.has_value());
  // The file's address and the running one differ by the load bias, a whole number of pages.
  EXPECT_EQ((reinterpret_cast<std::uintptr_t>(&joulebench_test_marker) - *marker) % 4096, 0u);
  EXPECT_FALSE(elf_symbol_value(self, "joulebench_no_such_symbol").has_value());
  TempDir dir;
  write_file(dir.path() / "script", "#!/bin/sh\necho not an ELF file\n");
  EXPECT_FALSE(elf_symbol_value(dir.path() / "script", "main").has_value());
  write_file(dir.path() / "short",
             "\x7f"
             "EL");
  EXPECT_FALSE(elf_symbol_value(dir.path() / "short", "main").has_value());
  EXPECT_FALSE(elf_symbol_value(dir.path() / "missing", "main").has_value());
}

TEST(PythonSampler, ReadsTheVersionOfACPythonFromItsExecutable) {
  const std::string reported = reported_version(kPython);
  ASSERT_FALSE(reported.empty()) << kPython << " does not run";
  const auto version = python_executable_version(fs::canonical(kPython));
  ASSERT_TRUE(version.has_value()) << kPython;
  EXPECT_EQ(std::to_string(version->major) + "." + std::to_string(version->minor), reported);
  EXPECT_FALSE(python_executable_version("/bin/sh").has_value());
}

TEST(PythonSampler, ChoosesTheExternalSamplerWhereItCanReadTheInterpreter) {
  ::unsetenv("JOULEBENCH_PYTHON_SAMPLER");
  const PythonSamplerChoice python = choose_python_sampler(kPython);
  const std::string version = reported_version(kPython);
  if (version == "3.11" || version == "3.12") {
    EXPECT_EQ(python.kind, PythonSamplerKind::external) << python.reason;
    EXPECT_EQ(python.reason, "CPython " + version);
  } else {
    EXPECT_EQ(python.kind, PythonSamplerKind::in_process) << python.reason;
  }
  const PythonSamplerChoice shell = choose_python_sampler("/bin/sh");
  EXPECT_EQ(shell.kind, PythonSamplerKind::in_process);
  EXPECT_EQ(shell.reason, "/bin/sh is not a CPython executable joulebench can read");
  EXPECT_EQ(choose_python_sampler("no-such-python-here").kind, PythonSamplerKind::in_process);
}

TEST(PythonSampler, TheEnvironmentForcesASampler) {
  {
    ScopedVariable forced("JOULEBENCH_PYTHON_SAMPLER", "in-process");
    EXPECT_EQ(choose_python_sampler(kPython).kind, PythonSamplerKind::in_process);
  }
  {
    ScopedVariable forced("JOULEBENCH_PYTHON_SAMPLER", "external");
    EXPECT_EQ(choose_python_sampler("/bin/sh").kind, PythonSamplerKind::external);
  }
  ScopedVariable wrong("JOULEBENCH_PYTHON_SAMPLER", "outside");
  try {
    choose_python_sampler(kPython);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "JOULEBENCH_PYTHON_SAMPLER is 'outside': it must be external or in-process");
  }
}

}  // namespace
}  // namespace joulebench
