#include <cstdio>

#include "commands.hpp"
#include "joulebench/store.hpp"

namespace joulebench::cli {

Command add_merge(CLI::App& app) {
  auto* cmd = app.add_subcommand("merge", "Join the stores of a campaign's shards into one");
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto output = std::make_shared<std::string>();
  cmd->add_option("stores", *inputs, "the shard stores")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", *output, "the new store to write (must not exist)")->required()->type_name("FILE");
  return {cmd, [inputs, output] {
            std::vector<std::filesystem::path> paths(inputs->begin(), inputs->end());
            Store::merge(paths, *output);
            const Store merged(*output);
            const auto campaign = merged.campaigns().back();
            std::fprintf(stderr, "merged %zu store(s) into %s: campaign '%s', %zu of %zu runs%s\n", paths.size(),
                         output->c_str(), campaign.name.c_str(), merged.runs(campaign.id).size(), campaign.planned_runs,
                         campaign.finished ? "" : " (not all shards finished)");
            return 0;
          }};
}

}  // namespace joulebench::cli
