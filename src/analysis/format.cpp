// How numbers read in tables and verdicts.
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "joulebench/analysis.hpp"

namespace joulebench {

std::string format_number(double value, int significant) {
  if (!std::isfinite(value)) return fmt::format("{}", value);
  if (value == 0) return "0";
  const double magnitude = std::floor(std::log10(std::fabs(value)));
  // Plain notation between 1e-4 and 1e7; scientific beyond, where plain would be unreadable.
  if (magnitude < -4 || magnitude >= 7) return fmt::format("{:.{}e}", value, significant - 1);
  const int decimals = std::max(0, significant - 1 - static_cast<int>(magnitude));
  return fmt::format("{:.{}f}", value, decimals);
}

std::string format_p_value(double p) {
  if (p < 0.0001) return "< 0.0001";
  return format_number(p, 2);
}

std::string correction_title(stats::Correction correction) {
  switch (correction) {
    case stats::Correction::holm: return "Holm";
    case stats::Correction::bonferroni: return "Bonferroni";
    case stats::Correction::none: return "uncorrected";
  }
  return {};
}

std::string format_ratio(const stats::RatioInterval& ratio) {
  return fmt::format("{:.2f}x [{:.2f}, {:.2f}]", ratio.estimate, ratio.lower, ratio.upper);
}

}  // namespace joulebench
