// A dry run's findings: the run list, the programs that cannot be found, and how long the
// campaign would take from what the store knows of earlier runs.
#include <algorithm>
#include <map>
#include <set>

#include "joulebench/campaign.hpp"
#include "joulebench/container.hpp"
#include "joulebench/process.hpp"

namespace joulebench {

CampaignPreview preview_campaign(const CampaignPlan& plan, const Shard& shard, const std::filesystem::path& db) {
  CampaignPreview preview;
  std::set<std::string> looked_up;
  for (const auto& w : plan.workloads) {
    if (w.container) {
      // The command's program is inside the image: what must be here is the runtime and the image.
      if (!looked_up.insert(w.container->runtime + " " + w.container->image).second) continue;
      try {
        inspect_container_image(*w.container);
      } catch (const std::exception& e) {
        preview.missing_programs.emplace_back(w.name, e.what());
      }
      continue;
    }
    const auto argv = resolve_joulebench(w.command);
    if (argv.empty() || !looked_up.insert(argv.front()).second) continue;
    try {
      find_executable(argv.front());
    } catch (const LaunchError& e) {
      preview.missing_programs.emplace_back(w.name, e.what());
    }
  }
  preview.runs = shard_runs(schedule_runs(plan), shard);

  std::map<std::string, std::vector<double>> earlier;
  if (std::filesystem::exists(db)) {
    const Store store(db);
    for (const auto& c : store.campaigns()) {
      RunFilter ok;
      ok.status = RunStatus::ok;
      for (const auto& r : store.runs(c.id, ok)) earlier[r.workload].push_back(r.time_s);
    }
  }
  for (const auto& r : preview.runs) {
    const auto& w = plan.workloads[r.workload];
    auto it = earlier.find(w.name);
    if (it != earlier.end() && !it->second.empty()) {
      auto times = it->second;
      std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
      preview.measured_before_s += times[times.size() / 2];
      ++preview.measured_before;
    } else {
      ++preview.never_measured;
      if (w.timeout) preview.never_measured_bound_s += w.timeout->count();
      else preview.unbounded = true;
    }
  }
  preview.protocol_s = plan.idle.count();
  if (plan.idle_every_runs && *plan.idle_every_runs > 0) {
    preview.protocol_s +=
        plan.idle.count() * static_cast<double>(preview.runs.size() / static_cast<std::size_t>(*plan.idle_every_runs));
  }
  const double cooldown_each =
      plan.cooldown.kind == Cooldown::Kind::fixed ? plan.cooldown.fixed.count() : plan.cooldown.window.count();
  if (!preview.runs.empty()) preview.protocol_s += cooldown_each * static_cast<double>(preview.runs.size() - 1);
  return preview;
}

}  // namespace joulebench
