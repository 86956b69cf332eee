// Plans written as TOML (plan_toml): the one writer of plans, for plans built in code.
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "joulebench/plan.hpp"
#include "plan/placeholders.hpp"

namespace joulebench {

namespace {

/// A TOML basic string: quotes and backslashes escaped, control characters as \uXXXX.
std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (const unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04X}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

/// A duration as parse_duration reads it back exactly: the shortest decimal of its seconds.
std::string toml_duration(Seconds d) { return toml_string(fmt::format("{}s", d.count())); }

/// A value the plan reader substitutes placeholders in (names, labels, commands, cwd, env):
/// written so that the substitution gives it back as it is.
std::string toml_text(std::string_view text) { return toml_string(plan_detail::escape_placeholders(text)); }

/// An array of strings; `substituted`: ones the reader substitutes placeholders in.
std::string toml_array(const std::vector<std::string>& values, bool substituted) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    out += (i ? ", " : "") + (substituted ? toml_text(values[i]) : toml_string(values[i]));
  }
  return out + "]";
}

/// An inline table of strings whose values the reader substitutes placeholders in.
std::string toml_inline_table(const KeyValues& values) {
  std::string out = "{ ";
  for (std::size_t i = 0; i < values.size(); ++i) {
    out += fmt::format("{}{} = {}", i ? ", " : "", toml_string(values[i].first), toml_text(values[i].second));
  }
  return out + " }";
}

constexpr std::array<std::string_view, 3> kFirstLabels{"framework", "model", "phase"};

}  // namespace

std::string plan_toml(const CampaignPlan& plan) {
  std::string out = "[campaign]\n";
  out += fmt::format("name = {}\nseed = {}\nrepetitions = {}\nwarmup = {}\norder = {}\n", toml_string(plan.name),
                     plan.seed, plan.repetitions, plan.warmup, toml_string(run_order_name(plan.order)));
  const Cooldown& c = plan.cooldown;
  if (c.kind == Cooldown::Kind::fixed) {
    out += fmt::format("cooldown = {}\n", toml_duration(c.fixed));
  } else {
    out += fmt::format(
        "cooldown = {{ until = \"stable\", max = {}, window = {}, max_cv = {}, max_temperature_rise_c = {} }}\n",
        toml_duration(c.max), toml_duration(c.window), c.max_cv, c.max_temperature_rise_c);
  }
  out += fmt::format("idle = {}\n", toml_duration(plan.idle));
  if (plan.idle_every_runs) out += fmt::format("idle_every = {}\n", *plan.idle_every_runs);
  out += fmt::format("interval = {}\nmax_other_cpu = {}\n", toml_duration(plan.interval), plan.max_other_cpu_cores);

  for (const auto& w : plan.workloads) {
    out += fmt::format("\n[[workload]]\nname = {}\n", toml_text(w.name));
    KeyValues others;
    for (const auto& [key, value] : w.labels) {
      if (std::find(kFirstLabels.begin(), kFirstLabels.end(), key) != kFirstLabels.end()) {
        out += fmt::format("{} = {}\n", key, toml_text(value));
      } else {
        others.emplace_back(key, value);
      }
    }
    if (!others.empty()) out += fmt::format("labels = {}\n", toml_inline_table(others));
    if (w.shell && w.command.size() == 3) {
      out += fmt::format("command = {}\nshell = true\n", toml_text(w.command[2]));
    } else {
      out += fmt::format("command = {}\n", toml_array(w.command, true));
    }
    if (w.working_directory) out += fmt::format("cwd = {}\n", toml_text(w.working_directory->string()));
    if (!w.environment.empty()) out += fmt::format("env = {}\n", toml_inline_table(w.environment));
    if (w.timeout) out += fmt::format("timeout = {}\n", toml_duration(*w.timeout));
    if (!w.setup.empty()) out += fmt::format("setup = {}\n", toml_array(w.setup, true));
    if (!w.prepare.empty()) out += fmt::format("prepare = {}\n", toml_array(w.prepare, true));
    if (!w.cleanup.empty()) out += fmt::format("cleanup = {}\n", toml_array(w.cleanup, true));
    if (w.repetitions != plan.repetitions) out += fmt::format("repetitions = {}\n", w.repetitions);
    if (w.warmup != plan.warmup) out += fmt::format("warmup = {}\n", w.warmup);
    std::vector<std::string> parse;
    std::vector<std::string> regex;
    for (const auto& p : w.parsers) {
      if (p.kind == OutputParser::Kind::dllogger) parse.emplace_back("dllogger");
      if (p.kind == OutputParser::Kind::mllog) parse.emplace_back("mllog");
      if (p.kind == OutputParser::Kind::regex) regex.push_back(p.pattern);
    }
    if (!parse.empty()) out += fmt::format("parse = {}\n", toml_array(parse, false));
    if (!regex.empty()) out += fmt::format("regex = {}\n", toml_array(regex, false));
    if (!w.profile.empty()) out += fmt::format("profile = {}\n", toml_array(w.profile, false));
    if (const auto& box = w.container) {
      out += fmt::format("container = {{ image = {}, runtime = {}", toml_text(box->image), toml_string(box->runtime));
      if (!box->mounts.empty()) out += fmt::format(", mounts = {}", toml_array(box->mounts, true));
      if (box->workdir) out += fmt::format(", workdir = {}", toml_text(*box->workdir));
      if (!box->options.empty()) out += fmt::format(", options = {}", toml_array(box->options, true));
      out += " }\n";
    }
    if (!w.gpus.empty()) out += fmt::format("gpus = {}\n", toml_array(w.gpus, false));
  }
  return out;
}

void seal_plan(CampaignPlan& plan, std::string_view heading) {
  if (plan.workloads.empty()) throw std::invalid_argument("a plan needs at least one workload");
  // What a plan file can hold (TOML integers are signed 64-bit).
  if (plan.seed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw std::invalid_argument(fmt::format("the seed {} is larger than a plan can hold ({})", plan.seed,
                                            std::numeric_limits<std::int64_t>::max()));
  }
  std::set<std::string> names;
  for (const auto& w : plan.workloads) {
    if (w.name.empty()) throw std::invalid_argument("a workload needs a name");
    if (!names.insert(w.name).second) throw std::invalid_argument(fmt::format("two workloads are named '{}'", w.name));
    if (w.timeout && w.timeout->count() <= 0) {
      throw std::invalid_argument(fmt::format("workload '{}': a timeout must be more than 0s", w.name));
    }
    if (w.command.empty() || w.command.front().empty()) {
      throw std::invalid_argument(fmt::format("workload '{}' has no command", w.name));
    }
    for (std::size_t i = 0; i < kFirstLabels.size(); ++i) {
      if (w.labels.size() <= i || w.labels[i].first != kFirstLabels[i] || w.labels[i].second.empty()) {
        throw std::invalid_argument(fmt::format(
            "workload '{}' needs its {} label, and framework, model and phase first", w.name, kFirstLabels[i]));
      }
    }
  }
  plan.text.clear();
  if (!heading.empty()) plan.text = fmt::format("# {}\n", heading);
  plan.text += plan_toml(plan);
  plan.hash = plan_hash(plan.text);
}

}  // namespace joulebench
