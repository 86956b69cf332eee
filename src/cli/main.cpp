// joulebench: measure what deep-learning workloads cost in energy and time.
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/machine.hpp"
#include "joulebench/process.hpp"
#include "joulebench/version.hpp"

namespace joulebench::cli {

void write_report(const std::string& text, const std::string& path, std::FILE* otherwise) {
  if (path.empty()) {
    std::fwrite(text.data(), 1, text.size(), otherwise);
    return;
  }
  write_text_file(path, text);
}

Seconds duration_option(const std::string& option, const std::string& text) {
  try {
    return parse_duration(text);
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError(option, e.what());
  }
}

CLI::Option* add_deprecated_option(CLI::App* cmd, const std::string& old_name, const std::string& replacement,
                                   std::function<void(const std::string&)> apply) {
  return cmd
      ->add_option_function<std::string>(
          old_name,
          [old_name, replacement, apply = std::move(apply)](const std::string& value) {
            std::fprintf(stderr, "joulebench: %s is deprecated and goes in the next release: use %s\n",
                         old_name.c_str(), replacement.c_str());
            apply(value);
          },
          "deprecated: " + replacement)
      ->group("");
}

void add_store_options(CLI::App* cmd, RunSelection& selection) {
  cmd->add_option("--db", selection.db, "the store")->required()->check(CLI::ExistingFile)->type_name("FILE");
  cmd->add_option("--campaign", selection.campaign, "the campaign's id (default: the latest)")->type_name("ID");
}

void add_selection_options(CLI::App* cmd, RunSelection& selection) {
  add_store_options(cmd, selection);
  cmd->add_option("--workload", selection.workload, "only this workload")->type_name("NAME");
  cmd->add_option("--status", selection.status, "only runs with this status: ok, failed, signaled, timed-out, not-run")
      ->type_name("STATUS");
  CLI::Option* include = nullptr;
  CLI::Option* only = nullptr;
  if (selection.warmup_options) {
    include = cmd->add_flag("--include-warmup", selection.include_warmup,
                            "the warm-up runs too (default: only the measured runs)");
    only = cmd->add_flag("--only-warmup", selection.only_warmup, "only the warm-up runs")->excludes(include);
  }
  auto* old =
      add_deprecated_option(cmd, "--warmup",
                            selection.warmup_options ? "--include-warmup or --only-warmup"
                                                     : "nothing (the comparison leaves warm-up runs out itself)",
                            [&selection](const std::string& value) {
                              if (value != "yes" && value != "no") throw CLI::ValidationError("--warmup", "yes or no");
                              selection.old_warmup = value == "yes";
                            });
  if (include != nullptr) old->excludes(include)->excludes(only);
  cmd->add_option("--label", selection.labels, "only runs with this label value (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
}

RunFilter run_filter(const RunSelection& selection) {
  RunFilter filter;
  if (!selection.workload.empty()) filter.workload = selection.workload;
  if (!selection.status.empty()) {
    filter.status = parse_run_status(selection.status);
    if (!filter.status) throw CLI::ValidationError("--status", "unknown status '" + selection.status + "'");
  }
  if (selection.old_warmup) {
    filter.warmup = selection.old_warmup;
  } else if (selection.only_warmup) {
    filter.warmup = true;
  } else if (!selection.include_warmup && selection.warmup_options) {
    filter.warmup = false;
  }
  for (const auto& label : selection.labels) {
    const auto equals = label.find('=');
    if (equals == std::string::npos || equals == 0)
      throw CLI::ValidationError("--label", "'" + label + "' is not KEY=VALUE");
    filter.labels.emplace_back(label.substr(0, equals), label.substr(equals + 1));
  }
  return filter;
}

std::int64_t selected_campaign(const Store& store, const RunSelection& selection) {
  const auto campaigns = store.campaigns();
  if (campaigns.empty()) throw std::runtime_error(selection.db + " holds no campaign");
  if (selection.campaign == 0) return campaigns.back().id;
  if (!store.campaign(selection.campaign)) {
    throw CLI::ValidationError("--campaign",
                               "no campaign " + std::to_string(selection.campaign) + " in " + selection.db);
  }
  return selection.campaign;
}

}  // namespace joulebench::cli

int main(int argc, char** argv) {
  CLI::App app{"joulebench: what a workload costs in joules and seconds"};
  const std::string commit_date{joulebench::build_commit_date()};
  app.set_version_flag("--version",
                       fmt::format("joulebench {} (git {}{})", joulebench::kVersion, joulebench::build_commit(),
                                   commit_date.empty() ? "" : ", " + commit_date));
  app.require_subcommand(1);
  bool as_root = false;
  app.add_flag("--as-root", as_root,
               "under sudo, run workloads as root and leave the files joulebench writes to root (default: as the user "
               "who called sudo; docs/permissions.md)");

  const std::vector<joulebench::cli::Command> commands = {
      joulebench::cli::add_sensors(app),        joulebench::cli::add_measure(app),
      joulebench::cli::add_workload(app),       joulebench::cli::add_run(app),
      joulebench::cli::add_runs(app),           joulebench::cli::add_export(app),
      joulebench::cli::add_merge(app),          joulebench::cli::add_compare(app),
      joulebench::cli::add_import(app),         joulebench::cli::add_bench(app),
      joulebench::cli::add_profile(app),        joulebench::cli::add_profiles(app),
      joulebench::cli::add_python_sampler(app), joulebench::cli::add_report(app),
      joulebench::cli::add_generate(app),
  };

  // --as-root may follow the subcommand too: those that take only their own options pass the ones
  // they do not know up to here. `workload` passes everything after its name to the workload.
  for (const auto& command : commands) {
    if (command.app->get_name() != "workload") command.app->fallthrough();
  }

  try {
    app.parse(argc, argv);
    if (!as_root) {
      try {
        joulebench::set_invoking_user(joulebench::UserIdentity::from_sudo());
      } catch (const std::runtime_error& e) {
        throw std::runtime_error(std::string(e.what()) + ": --as-root runs them as root");
      }
    }
    for (const auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    // Help and version succeed; every other parse error is a usage error, as for most tools.
    return code == 0 ? 0 : 2;
  } catch (const joulebench::LockHeld& e) {
    // Busy, not broken: EX_TEMPFAIL, so a script can tell "try later" from a failure.
    std::fprintf(stderr, "joulebench: %s (--wait waits for it%s)\n", e.what(),
                 e.lock() == joulebench::LockHeld::Lock::store_writer ? "; --db names another store" : "");
    return 75;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "joulebench: %s\n", e.what());
    return 1;
  }
  return 0;
}
