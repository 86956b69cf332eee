// libFuzzer harness: the plan parser (TOML, matrix expansion, every key's checks). A bad plan must
// give a PlanError with a location, never a crash, a hang or another exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "joulebench/plan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const joulebench::CampaignPlan plan = joulebench::parse_plan(text, "fuzz.toml");
    // What a run makes of it next: the run list.
    if (plan.workloads.size() < 1000) (void)joulebench::schedule_runs(plan);
  } catch (const joulebench::PlanError& e) {
    if (e.where().line < 0 || e.message().empty()) __builtin_trap();
  }
  return 0;
}
