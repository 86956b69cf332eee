// CSV writing shared by the reporters.
#pragma once

#include <string>
#include <string_view>

namespace joulebench::report_detail {

/// RFC 4180: a field with a comma, a double quote or a line break is quoted, quotes doubled.
inline std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace joulebench::report_detail
