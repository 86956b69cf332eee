#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/store.hpp"

namespace joulebench::cli {

namespace {

/// "shard 3/3 is missing", "shards 2/3 and 3/3 are missing", "shards 2/4, 3/4 and 4/4 are missing".
std::string missing_shards_text(const MergeResult& result) {
  std::string names;
  const auto& missing = result.missing_shards;
  for (std::size_t i = 0; i < missing.size(); ++i) {
    if (i > 0) names += i + 1 == missing.size() ? " and " : ", ";
    names += fmt::format("{}/{}", missing[i], result.shard_count);
  }
  return missing.size() == 1 ? fmt::format("shard {} is missing", names) : fmt::format("shards {} are missing", names);
}

}  // namespace

Command add_merge(CLI::App& app) {
  auto* cmd = app.add_subcommand("merge", "Join the stores of a campaign's shards into one");
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto output = std::make_shared<std::string>();
  cmd->add_option("stores", *inputs, "the shard stores")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", *output, "the new store to write (must not exist)")->required()->type_name("FILE");
  return {
      cmd, [inputs, output] {
        std::vector<std::filesystem::path> paths(inputs->begin(), inputs->end());
        const MergeResult result = Store::merge(paths, *output);
        for (const auto& file : result.removed_leftovers) {
          std::fprintf(stderr, "removed %s: left by a merge into %s that was killed\n", file.c_str(), output->c_str());
        }
        const Store merged(*output);
        const auto campaign = merged.campaigns().back();
        std::fprintf(stderr, "merged %zu store(s) into %s: campaign '%s', %zu of %zu runs\n", paths.size(),
                     output->c_str(), campaign.name.c_str(), merged.runs(campaign.id).size(), campaign.planned_runs);
        for (const auto& shard : result.unfinished_shards) {
          std::fprintf(stderr, "%s: shard %s is not finished: %zu of its %zu planned runs are recorded\n",
                       shard.file.c_str(), shard.shard.text().c_str(), shard.recorded_runs, shard.planned_runs);
        }
        if (!result.missing_shards.empty()) {
          const bool one = result.missing_shards.size() == 1;
          std::fprintf(stderr, "%s: the merged campaign is not finished; merge again with %s\n",
                       missing_shards_text(result).c_str(), one ? "it" : "them");
        } else if (!result.unfinished_shards.empty()) {
          std::fprintf(stderr, "the merged campaign is not finished: resume those shards and merge again\n");
        }
        // Exit status 0 even for a partial merge: merging the shards there are so far is a
        // legitimate step (to look at results early), the store says it is not finished, and
        // the lines above say what is missing. A script wanting the whole campaign checks that.
        return 0;
      }};
}

}  // namespace joulebench::cli
