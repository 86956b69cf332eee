// Multiple-testing corrections as R's p.adjust, and the names of the enumerations.
#include <algorithm>
#include <cmath>
#include <limits>

#include "joulebench/stats.hpp"

namespace joulebench::stats {

std::vector<double> adjust_p_values(std::span<const double> p_values, Correction correction) {
  std::vector<double> adjusted(p_values.begin(), p_values.end());
  if (correction == Correction::none) return adjusted;
  // As R: NaN p-values stay NaN in place and do not count towards the number of tests (R's
  // p.adjust evaluates n = length(p) after dropping the NAs).
  std::vector<std::size_t> tested;
  for (std::size_t i = 0; i < p_values.size(); ++i) {
    if (!std::isnan(p_values[i])) tested.push_back(i);
  }
  const auto m = static_cast<double>(tested.size());
  switch (correction) {
    case Correction::bonferroni:
      for (std::size_t i : tested) adjusted[i] = std::min(1.0, m * p_values[i]);
      break;
    case Correction::holm: {
      // Step-down: the k-th smallest (from 0) is multiplied by m - k, then a running maximum keeps
      // the adjusted values in the order of the raw ones. A stable sort, as R's order().
      std::stable_sort(tested.begin(), tested.end(),
                       [&](std::size_t a, std::size_t b) { return p_values[a] < p_values[b]; });
      double running_max = -std::numeric_limits<double>::infinity();
      for (std::size_t k = 0; k < tested.size(); ++k) {
        running_max = std::max(running_max, (m - static_cast<double>(k)) * p_values[tested[k]]);
        adjusted[tested[k]] = std::min(1.0, running_max);
      }
      break;
    }
    case Correction::none: break;
  }
  return adjusted;
}

std::string_view correction_name(Correction correction) {
  switch (correction) {
    case Correction::holm: return "holm";
    case Correction::bonferroni: return "bonferroni";
    case Correction::none: return "none";
  }
  return "unknown";
}

std::string_view alternative_name(Alternative alternative) {
  switch (alternative) {
    case Alternative::two_sided: return "two-sided";
    case Alternative::less: return "less";
    case Alternative::greater: return "greater";
  }
  return "unknown";
}

std::string_view effect_magnitude_name(EffectMagnitude magnitude) {
  switch (magnitude) {
    case EffectMagnitude::negligible: return "negligible";
    case EffectMagnitude::small: return "small";
    case EffectMagnitude::medium: return "medium";
    case EffectMagnitude::large: return "large";
  }
  return "unknown";
}

}  // namespace joulebench::stats
