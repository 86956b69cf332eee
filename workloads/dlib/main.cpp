// joulebench-dlib: the built-in workloads in dlib (workloads/README.md). Exit status 0 on success,
// 2 with a message on stderr for bad arguments, missing data or an unreadable checkpoint, 1 for
// anything else; never an uncaught exception.
#include <cstdio>
#include <exception>

#include "common.hpp"
#include "workloads.hpp"

int main(int argc, char** argv) {
  using namespace jbdlib;
  try {
    const Options options = parse_options(argc, argv);
    if (options.model == "resnet") return run_resnet(options);
    if (options.model == "ncf") return run_ncf(options);
    if (options.model == "transformer")
      throw InputError("--model transformer is not implemented in dlib (see workloads/README.md)");
    throw UsageError("--model is resnet or ncf, not '" + options.model + "'");
  } catch (const HelpRequested&) {
    std::fputs(usage_text(), stdout);
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "joulebench-dlib: %s\n%s", e.what(), usage_text());
    return 2;
  } catch (const InputError& e) {
    std::fprintf(stderr, "joulebench-dlib: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "joulebench-dlib: error: %s\n", e.what());
    return 1;
  }
}
