// joulebench-libtorch: NCF, the Transformer classifier and the small ResNet of the workload
// contract (workloads/README.md) in LibTorch, phases train and infer, reporting regions, metrics
// and metadata through joulebench's events. This file parses the command line and dispatches to
// the model's entry point (workloads.hpp). Exit status 0 on success, 2 with a message on stderr
// for bad arguments, data or checkpoints, 1 for anything else.
#include <cstdio>
#include <exception>
#include <string_view>

#include <fmt/format.h>

#include "common.hpp"
#include "joulebench/torch_profile.hpp"
#include "workloads.hpp"

namespace {

constexpr std::string_view kProgram = "joulebench-libtorch";

}  // namespace

int main(int argc, char** argv) {
  using namespace joulebench::libtorch;
  // Operator profile for `joulebench profile --mode torch`; nothing without its variables.
  const joulebench::torch_profile::Session profile;
  Arguments arguments;
  try {
    arguments = parse_arguments(argc, argv);
  } catch (const InputError& error) {
    fmt::print(stderr, "{}: {}\n{}", kProgram, error.what(), kUsage);
    return 2;
  }
  if (arguments.help) {
    fmt::print("{}", kUsage);
    return 0;
  }
  try {
    if (arguments.model == "ncf") return run_ncf(arguments);
    if (arguments.model == "transformer") return run_transformer(arguments);
    return run_resnet(arguments);  // parse_arguments accepts only the three models
  } catch (const InputError& error) {
    fmt::print(stderr, "{}: {}\n", kProgram, error.what());
    return 2;
  } catch (const c10::Error& error) {
    fmt::print(stderr, "{}: LibTorch: {}\n", kProgram, error.what_without_backtrace());
    return 1;
  } catch (const std::exception& error) {
    fmt::print(stderr, "{}: {}\n", kProgram, error.what());
    return 1;
  }
}
