// workloads.hpp: the models joulebench-libtorch runs, one entry point each (ncf.cpp,
// transformer.cpp, resnet.cpp): the phase that `arguments` asks for, on that model.
#pragma once

#include "common.hpp"

namespace joulebench::libtorch {

int run_ncf(const Arguments& arguments);
int run_transformer(const Arguments& arguments);
int run_resnet(const Arguments& arguments);

}  // namespace joulebench::libtorch
