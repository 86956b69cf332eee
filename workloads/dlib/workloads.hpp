// workloads.hpp: the models joulebench-dlib runs, one entry point each.
#pragma once

#include "common.hpp"

namespace jbdlib {

int run_resnet(const Options& options);
int run_ncf(const Options& options);

}  // namespace jbdlib
