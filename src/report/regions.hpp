// The regions of one run as text, for the reports of single commands (`measure`, `profile`).
#pragma once

#include <string>
#include <vector>

#include "joulebench/result.hpp"

namespace joulebench::report_detail {

/// A table of the regions, in the order they began: start, time, total energy and power, and
/// whether the energy is measured, estimated or incomplete. Empty when there are none.
std::string regions_text(const std::vector<StoredRegion>& regions);

}  // namespace joulebench::report_detail
