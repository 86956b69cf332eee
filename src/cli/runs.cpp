#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/store.hpp"

namespace joulebench::cli {

Command add_runs(CLI::App& app) {
  auto* cmd = app.add_subcommand("runs", "List the runs of a campaign in a store");
  auto selection = std::make_shared<RunSelection>();
  add_selection_options(cmd, *selection);
  return {cmd, [selection] {
            const Store store(selection->db);
            const std::int64_t id = selected_campaign(store, *selection);
            const auto campaign = *store.campaign(id);
            std::printf("campaign %lld '%s', shard %s, %s\n", static_cast<long long>(id), campaign.name.c_str(),
                        campaign.shard.text().c_str(), campaign.finished ? "finished" : "unfinished");
            std::printf("%6s  %-28s %-10s %-9s %10s %12s  %s\n", "index", "workload", "run", "status", "time (s)",
                        "energy (J)", "notes");
            std::size_t count = 0;
            for (const auto& r : store.runs(id, run_filter(*selection))) {
              std::string energy = "-";
              std::string notes;
              if (const EnergyFigure* e = find_energy(r.energy, DomainId::total())) {
                energy = fmt::format("{:.2f}", e->energy_j);
                if (e->estimated) notes = "estimated";
                if (!e->complete) notes += notes.empty() ? "incomplete" : ", incomplete";
              }
              if (!r.reason.empty()) notes += (notes.empty() ? "" : "; ") + r.reason;
              for (const auto& w : r.warnings) notes += (notes.empty() ? "" : "; ") + w.message;
              std::printf("%6zu  %-28s %-10s %-9s %10.3f %12s  %s\n", r.index, r.workload.c_str(),
                          fmt::format("{} {}", r.warmup ? "warm-up" : "rep", r.repetition).c_str(),
                          std::string(run_status_name(r.status)).c_str(), r.time_s, energy.c_str(), notes.c_str());
              ++count;
            }
            std::printf("%zu run(s) of %zu planned%s\n", count, campaign.planned_runs,
                        selection->include_warmup || selection->only_warmup
                            ? ""
                            : " (warm-up runs not listed: --include-warmup lists them)");
            return 0;
          }};
}

}  // namespace joulebench::cli
