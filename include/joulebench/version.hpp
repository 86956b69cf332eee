#pragma once

#include <string_view>

namespace joulebench {

inline constexpr std::string_view kVersion = "0.1.0";

}  // namespace joulebench
