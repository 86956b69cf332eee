#pragma once

#include <string_view>

namespace joulebench {

/// joulebench's version; CMakeLists.txt's project() version must match (checked when configuring).
inline constexpr std::string_view kVersion = "0.1.0";

/// The git commit the binary was built from (`3f2896b`, `3f2896b-dirty` with uncommitted changes),
/// or "unknown" where the sources were not a git checkout (a tarball). Generated at build time
/// (cmake/BuildCommit.cmake), so it follows commits without reconfiguring.
std::string_view build_commit();
/// That commit's date (`2026-12-06`), or "" where unknown.
std::string_view build_commit_date();

}  // namespace joulebench
