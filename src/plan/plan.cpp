// Plans: TOML read with toml++ (header-only here), checked key by key, with every mistake reported
// at its line and column, then expanded (matrices, placeholders) into fully resolved workloads.
#define TOML_HEADER_ONLY 1
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <unordered_map>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/plan.hpp"

namespace joulebench {

std::string_view run_order_name(RunOrder order) {
  switch (order) {
    case RunOrder::shuffled: return "shuffled";
    case RunOrder::interleaved: return "interleaved";
    case RunOrder::blocked: return "blocked";
  }
  return "unknown";
}

std::string WorkloadSpec::label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Shards

Shard Shard::parse(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) {
    throw std::invalid_argument("'" + text + "' is not a shard: write K/N, e.g. 2/4 for the second of four parts");
  }
  auto number = [&](std::string_view part, int& out) {
    if (part.empty() || !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
    return ec == std::errc() && ptr == part.data() + part.size();
  };
  Shard shard;
  const std::string_view all(text);
  if (!number(all.substr(0, slash), shard.index) || !number(all.substr(slash + 1), shard.count)) {
    throw std::invalid_argument("'" + text + "' is not a shard: K and N in K/N must be whole numbers, e.g. 2/4");
  }
  if (shard.count < 1) throw std::invalid_argument("shard '" + text + "': N must be at least 1");
  if (shard.index < 1 || shard.index > shard.count) {
    throw std::invalid_argument(fmt::format("shard '{}': K must be from 1 to {}", text, shard.count));
  }
  return shard;
}

std::string Shard::text() const { return fmt::format("{}/{}", index, count); }

// ---------------------------------------------------------------------------------------------
// Small helpers

std::string plan_hash(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return fmt::format("fnv1a64:{:016x}", hash);
}

std::string PlanOverrides::text() const {
  std::vector<std::string> parts;
  if (repetitions) parts.push_back(fmt::format("--repetitions {}", *repetitions));
  if (warmup) parts.push_back(fmt::format("--warmup {}", *warmup));
  if (cooldown) parts.push_back(fmt::format("--cooldown {:g}s", cooldown->count()));
  if (idle) parts.push_back(fmt::format("--idle {:g}s", idle->count()));
  return fmt::format("{}", fmt::join(parts, " "));
}

void apply_overrides(CampaignPlan& plan, const PlanOverrides& overrides) {
  if (overrides.empty()) return;
  if (overrides.repetitions && *overrides.repetitions < 1) throw std::invalid_argument("repetitions must be at least 1");
  if (overrides.warmup && *overrides.warmup < 0) throw std::invalid_argument("warm-up runs must not be negative");
  if (overrides.cooldown && overrides.cooldown->count() < 0) throw std::invalid_argument("the cool-down must not be negative");
  if (overrides.idle && overrides.idle->count() < 0) throw std::invalid_argument("the idle baseline must not be negative");
  if (overrides.repetitions) plan.repetitions = *overrides.repetitions;
  if (overrides.warmup) plan.warmup = *overrides.warmup;
  for (auto& w : plan.workloads) {
    if (overrides.repetitions) w.repetitions = *overrides.repetitions;
    if (overrides.warmup) w.warmup = *overrides.warmup;
  }
  if (overrides.cooldown) {
    plan.cooldown = Cooldown{};
    plan.cooldown.fixed = *overrides.cooldown;
  }
  if (overrides.idle) plan.idle = *overrides.idle;
  plan.text += fmt::format("\n# run with: {}\n", overrides.text());
  plan.hash = plan_hash(plan.text);
}

std::vector<std::string> split_shell_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // an empty quoted word ('' or "") is still a word
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (i < n) {
    const char c = text[i];
    if (is_space(c)) {
      if (in_word) {
        words.push_back(std::move(word));
        word.clear();
        in_word = false;
      }
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= n) {  // a trailing backslash stays as it is
        word += '\\';
        in_word = true;
        ++i;
      } else if (text[i + 1] == '\n') {  // line continuation
        i += 2;
      } else {
        word += text[i + 1];
        in_word = true;
        i += 2;
      }
    } else if (c == '\'') {
      const auto end = text.find('\'', i + 1);
      if (end == std::string_view::npos) {
        throw std::invalid_argument("unterminated single quote (') in: " + std::string(text));
      }
      word.append(text.substr(i + 1, end - i - 1));
      in_word = true;
      i = end + 1;
    } else if (c == '"') {
      ++i;
      bool closed = false;
      while (i < n) {
        const char d = text[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < n) {
          const char e = text[i + 1];
          if (e == '$' || e == '`' || e == '"' || e == '\\') {
            word += e;
            i += 2;
            continue;
          }
          if (e == '\n') {
            i += 2;
            continue;
          }
        }
        word += d;
        ++i;
      }
      if (!closed) throw std::invalid_argument("unterminated double quote (\") in: " + std::string(text));
      in_word = true;
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

PlanError::PlanError(PlanLocation where, const std::string& message)
    : std::runtime_error(fmt::format("{}:{}:{}: {}", where.file, where.line, where.column, message)),
      where_(std::move(where)),
      message_(message) {}

namespace {

namespace fs = std::filesystem;

// Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions),
// case-insensitive: 'Name' is one edit from 'name'.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

/// The candidate nearest to `word`, if it is near enough to be a likely typo.
std::optional<std::string> nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const auto& candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  if (best && best_distance <= std::max<std::size_t>(2, word.size() / 3)) return best;
  return std::nullopt;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

/// "a string", "an integer"...: what a TOML value is, for messages.
std::string kind_of(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return node.is_array_of_tables() && !node.as_array()->empty() ? "an array of tables" : "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

/// A word that can be a placeholder: a letter or '_', then letters, digits, '_' or '-'.
bool is_placeholder_word(std::string_view word) {
  if (word.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(word[0])) return false;
  return std::all_of(word.begin(), word.end(), [&](char c) { return alpha(c) || (c >= '0' && c <= '9') || c == '-'; });
}

/// A string from the plan, remembered with where it was written, for substitution and messages.
struct Text {
  std::string value;
  toml::source_region where;
  std::string key;  ///< for messages: "command", "env.OMP_NUM_THREADS"
};

using Vars = std::vector<std::pair<std::string, std::string>>;

struct MatrixKey {
  std::string name;
  std::vector<std::string> values;
};

struct WorkloadTemplate {
  toml::source_region where;
  Text name;
  Text framework;
  Text model;
  Text phase;
  std::vector<Text> command;
  bool shell = false;
  std::optional<Text> cwd;
  std::vector<std::pair<std::string, Text>> env;
  std::optional<Seconds> timeout;
  std::vector<Text> setup;
  std::vector<Text> prepare;
  int repetitions = 10;
  int warmup = 1;
  std::vector<OutputParser> parsers;
  std::vector<std::string> profile;
  std::vector<std::pair<std::string, Text>> labels;
  std::vector<MatrixKey> matrix;
};

const std::vector<std::string> kTopLevelKeys = {"campaign", "workload"};
const std::vector<std::string> kCampaignKeys = {"name",     "seed", "repetitions", "warmup",  "order",
                                                "cooldown", "idle", "idle_every",  "interval", "max_other_cpu"};
const std::vector<std::string> kCooldownKeys = {"until", "max", "window", "max_cv", "max_temperature_rise_c"};
const std::vector<std::string> kWorkloadKeys = {"name",    "framework", "model",   "phase",       "command", "shell",
                                                "cwd",     "env",       "timeout", "setup",       "prepare", "repetitions",
                                                "warmup",  "parse",     "regex",   "labels",      "matrix", "profile"};
const std::vector<std::string> kBuiltinPlaceholders = {"framework", "model", "phase"};

/// The largest plan joulebench takes: beyond these, a plan is a mistake (a matrix multiplied out
/// too far), and a campaign would outlast any machine.
constexpr std::uint64_t kMaxWorkloads = 100'000;
constexpr std::uint64_t kMaxCampaignRuns = 1'000'000;

class Reader {
 public:
  Reader(std::string_view text, const fs::path& source_name)
      : text_(text), file_(source_name.string()), base_(source_name.parent_path()) {}

  CampaignPlan read() {
    toml::table root;
    try {
      root = toml::parse(text_, std::string_view(file_));
    } catch (const toml::parse_error& e) {
      throw PlanError(PlanLocation{file_, static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column)},
                      std::string(e.description()));
    }
    refuse_nul_bytes(root);
    CampaignPlan plan;
    for (const auto& [key, node] : ordered(root)) {
      const std::string name(key->str());
      if (std::find(kTopLevelKeys.begin(), kTopLevelKeys.end(), name) != kTopLevelKeys.end()) continue;
      auto written = [](const std::string& k, const toml::node& n) {
        if (n.is_table()) return "[" + k + "]";
        if (n.is_array_of_tables() && !n.as_array()->empty()) return "[[" + k + "]]";
        return "'" + k + "'";
      };
      const auto suggestion = nearest(name, kTopLevelKeys);
      if (suggestion) {
        fail(key->source(), fmt::format("unknown {} {} (did you mean {}?)", node->is_table() || node->is_array_of_tables() ? "table" : "key",
                                        written(name, *node), *suggestion == "campaign" ? "[campaign]" : "[[workload]]"));
      }
      fail(key->source(), fmt::format("unknown {} {} (a plan has [campaign] and [[workload]] tables)",
                                      node->is_table() || node->is_array_of_tables() ? "table" : "key", written(name, *node)));
    }

    const toml::node* campaign = root.get("campaign");
    if (campaign == nullptr) fail(root.source(), "missing required table [campaign]");
    if (!campaign->is_table()) fail(campaign->source(), "'campaign' must be a table ([campaign]), not " + kind_of(*campaign));
    read_campaign(*campaign->as_table(), plan);

    const toml::node* workloads = root.get("workload");
    if (workloads == nullptr || (workloads->is_array() && workloads->as_array()->empty())) {
      fail(workloads ? workloads->source() : root.source(), "the plan has no [[workload]] tables: nothing to run");
    }
    if (!workloads->is_array_of_tables()) {
      fail(workloads->source(), "'workload' must be an array of tables ([[workload]]), not " + kind_of(*workloads));
    }
    // Names already used, for duplicates: a hash map keeps a large matrix's expansion linear.
    std::unordered_map<std::string, toml::source_region> seen;
    std::uint64_t runs = 0;
    for (const toml::node& element : *workloads->as_array()) {
      const WorkloadTemplate tmpl = read_workload(*element.as_table(), plan);
      // Sized before it is expanded: an absurd matrix is refused, not built.
      constexpr std::uint64_t kCountCap = std::uint64_t{1} << 40;  // saturates: no overflow
      std::uint64_t count = 1;
      for (const auto& key : tmpl.matrix) count = std::min<std::uint64_t>(count * key.values.size(), kCountCap);
      if (plan.workloads.size() + count > kMaxWorkloads) {
        fail(tmpl.where, fmt::format("this [[workload]] makes the plan {} workloads{}; a plan may have at most {}",
                                     count >= kCountCap ? "more than " + std::to_string(kCountCap)
                                                        : std::to_string(plan.workloads.size() + count),
                                     tmpl.matrix.empty() ? "" : " (its matrix multiplies out)", kMaxWorkloads));
      }
      const std::uint64_t runs_each = static_cast<std::uint64_t>(tmpl.warmup + tmpl.repetitions) + tmpl.profile.size();
      runs += count * runs_each;
      if (runs > kMaxCampaignRuns) {
        fail(tmpl.where, fmt::format("with this [[workload]] the campaign has more than {} runs ({} workloads of {} runs "
                                     "each here): split it into several plans",
                                     kMaxCampaignRuns, count, runs_each));
      }
      for (WorkloadSpec& spec : expand(tmpl)) {
        const auto [it, added] = seen.try_emplace(spec.name, tmpl.where);
        if (!added) {
          const toml::source_region& where = it->second;
          if (where.begin == tmpl.where.begin) {
            fail(tmpl.where, fmt::format("duplicate workload name '{}': the matrix gives two workloads this name", spec.name));
          }
          fail(tmpl.where, fmt::format("duplicate workload name '{}' (already used by the [[workload]] at line {}, column {})",
                                       spec.name, where.begin.line, where.begin.column));
        }
        plan.workloads.push_back(std::move(spec));
      }
    }
    plan.path = fs::path(file_);
    plan.text = std::string(text_);
    plan.hash = plan_hash(text_);
    return plan;
  }

 private:
  std::string_view text_;
  std::string file_;
  fs::path base_;

  PlanLocation location_of(const toml::source_region& where) const {
    return PlanLocation{file_, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column)};
  }

  [[noreturn]] void fail(const toml::source_region& where, const std::string& message) const {
    throw PlanError(PlanLocation{file_, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column)}, message);
  }

  /// A NUL byte (TOML's "\u0000") in any key or string: names, labels and arguments become C
  /// strings, which end at the first NUL, so a plan would run something other than it says.
  void refuse_nul_bytes(const toml::node& node) const {
    const auto check = [&](std::string_view text, const toml::source_region& where, std::string_view what) {
      if (text.find('\0') != std::string_view::npos) {
        fail(where, fmt::format("a NUL byte in {}: joulebench refuses them in names, labels and arguments (a command "
                                "would see the text cut short at it)",
                                what));
      }
    };
    if (const auto* table = node.as_table()) {
      for (const auto& [key, value] : *table) {
        check(key.str(), key.source(), "a key");
        refuse_nul_bytes(value);
      }
    } else if (const auto* array = node.as_array()) {
      for (const auto& element : *array) refuse_nul_bytes(element);
    } else if (const auto* text = node.as_string()) {
      check(text->get(), node.source(), "a string");
    }
  }

  /// A table's entries in the order they were written (toml::table sorts its keys).
  static std::vector<std::pair<const toml::key*, const toml::node*>> ordered(const toml::table& table) {
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    for (const auto& [key, node] : table) entries.emplace_back(&key, &node);
    std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      const auto& x = a.first->source().begin;
      const auto& y = b.first->source().begin;
      return x.line != y.line ? x.line < y.line : x.column < y.column;
    });
    return entries;
  }

  void check_keys(const toml::table& table, const std::vector<std::string>& valid, std::string_view where) const {
    for (const auto& [key, node] : ordered(table)) {
      const std::string name(key->str());
      if (std::find(valid.begin(), valid.end(), name) != valid.end()) continue;
      if (const auto suggestion = nearest(name, valid)) {
        fail(key->source(), fmt::format("unknown key '{}' in {} (did you mean '{}'?)", name, where, *suggestion));
      }
      fail(key->source(), fmt::format("unknown key '{}' in {} (valid keys: {})", name, where, join(valid, ", ")));
    }
  }

  std::int64_t integer(const toml::node& node, std::string_view key, std::int64_t min, std::int64_t max) const {
    const std::string expected = fmt::format("an integer >= {}", min);
    if (!node.is_integer()) fail(node.source(), fmt::format("'{}' must be {}, not {}", key, expected, kind_of(node)));
    const std::int64_t value = node.as_integer()->get();
    if (value < min) fail(node.source(), fmt::format("'{}' must be {}, not {}", key, expected, value));
    if (value > max) fail(node.source(), fmt::format("'{}' must be at most {}, not {}", key, max, value));
    return value;
  }

  double number(const toml::node& node, std::string_view key, double min, bool min_allowed) const {
    const std::string expected = fmt::format("a number {} {}", min_allowed ? ">=" : ">", min);
    double value = 0;
    if (node.is_integer()) {
      value = static_cast<double>(node.as_integer()->get());
    } else if (node.is_floating_point()) {
      value = node.as_floating_point()->get();
    } else {
      fail(node.source(), fmt::format("'{}' must be {}, not {}", key, expected, kind_of(node)));
    }
    if (!std::isfinite(value) || value < min || (!min_allowed && value == min)) {
      fail(node.source(), fmt::format("'{}' must be {}, not {}", key, expected, value_text(node)));
    }
    return value;
  }

  Text string(const toml::node& node, const std::string& key, bool allow_empty = false) const {
    if (!node.is_string()) fail(node.source(), fmt::format("'{}' must be a string, not {}", key, kind_of(node)));
    Text text{node.as_string()->get(), node.source(), key};
    if (!allow_empty && text.value.empty()) fail(node.source(), fmt::format("'{}' must not be empty", key));
    return text;
  }

  bool boolean(const toml::node& node, std::string_view key) const {
    if (!node.is_boolean()) fail(node.source(), fmt::format("'{}' must be true or false, not {}", key, kind_of(node)));
    return node.as_boolean()->get();
  }

  Seconds duration(const toml::node& node, std::string_view key) const {
    if (!node.is_string()) {
      fail(node.source(), fmt::format("'{}' must be a duration such as \"100ms\", \"10s\" or \"5m\", not {}", key, kind_of(node)));
    }
    try {
      return parse_duration(node.as_string()->get());
    } catch (const std::invalid_argument& e) {
      fail(node.source(), fmt::format("'{}': {}", key, e.what()));
    }
  }

  /// The text a scalar was written as: strings as they are, integers in decimal, floats exactly as
  /// written in the plan (so 0.50 stays "0.50" and 1e-4 stays "1e-4"), booleans as true/false.
  std::string value_text(const toml::node& node) const {
    if (node.is_string()) return node.as_string()->get();
    if (node.is_integer()) return std::to_string(node.as_integer()->get());
    if (node.is_boolean()) return node.as_boolean()->get() ? "true" : "false";
    if (node.is_floating_point()) {
      std::string written = slice(node.source());
      written.erase(std::remove(written.begin(), written.end(), '_'), written.end());
      if (!written.empty()) return written;
      char buffer[64];
      const auto result = std::to_chars(buffer, buffer + sizeof buffer, node.as_floating_point()->get());
      return std::string(buffer, result.ptr);
    }
    return {};
  }

  /// The plan's text between a region's begin and end (columns count code points).
  std::string slice(const toml::source_region& region) const {
    if (region.begin.line != region.end.line || region.end.column <= region.begin.column) return {};
    std::size_t offset = 0;
    for (toml::source_index line = 1; line < region.begin.line; ++line) {
      offset = text_.find('\n', offset);
      if (offset == std::string_view::npos) return {};
      ++offset;
    }
    auto advance = [&](std::size_t from, toml::source_index code_points) {
      while (code_points > 0 && from < text_.size()) {
        ++from;
        while (from < text_.size() && (static_cast<unsigned char>(text_[from]) & 0xC0) == 0x80) ++from;
        --code_points;
      }
      return from;
    };
    const std::size_t begin = advance(offset, region.begin.column - 1);
    const std::size_t end = advance(begin, region.end.column - region.begin.column);
    return std::string(text_.substr(begin, end - begin));
  }

  /// A command given as an array of strings, or as a string split like shell words.
  std::vector<Text> command(const toml::node& node, const std::string& key) const {
    std::vector<Text> words;
    if (node.is_string()) {
      try {
        for (auto& word : split_shell_words(node.as_string()->get())) words.push_back(Text{std::move(word), node.source(), key});
      } catch (const std::invalid_argument& e) {
        fail(node.source(), fmt::format("'{}': {}", key, e.what()));
      }
    } else if (node.is_array()) {
      std::size_t i = 0;
      for (const toml::node& element : *node.as_array()) {
        if (!element.is_string()) {
          fail(element.source(), fmt::format("'{}[{}]' must be a string, not {}", key, i, kind_of(element)));
        }
        words.push_back(Text{element.as_string()->get(), element.source(), key});
        ++i;
      }
    } else {
      fail(node.source(), fmt::format("'{}' must be an array of strings or a string, not {}", key, kind_of(node)));
    }
    if (words.empty()) fail(node.source(), fmt::format("'{}' must not be empty", key));
    if (words.front().value.empty()) {
      fail(words.front().where, fmt::format("'{}' starts with an empty program name: there is nothing to run", key));
    }
    return words;
  }

  /// One string or an array of strings.
  std::vector<std::pair<std::string, toml::source_region>> strings(const toml::node& node, std::string_view key) const {
    std::vector<std::pair<std::string, toml::source_region>> out;
    if (node.is_string()) {
      out.emplace_back(node.as_string()->get(), node.source());
    } else if (node.is_array()) {
      std::size_t i = 0;
      for (const toml::node& element : *node.as_array()) {
        if (!element.is_string()) fail(element.source(), fmt::format("'{}[{}]' must be a string, not {}", key, i, kind_of(element)));
        out.emplace_back(element.as_string()->get(), element.source());
        ++i;
      }
    } else {
      fail(node.source(), fmt::format("'{}' must be a string or an array of strings, not {}", key, kind_of(node)));
    }
    return out;
  }

  void read_campaign(const toml::table& table, CampaignPlan& plan) const {
    check_keys(table, kCampaignKeys, "[campaign]");
    const toml::node* name = table.get("name");
    if (name == nullptr) fail(table.source(), "missing required key 'name' in [campaign]");
    plan.name = string(*name, "name").value;
    constexpr std::int64_t kMaxRuns = 1'000'000;
    if (const auto* n = table.get("seed")) plan.seed = static_cast<std::uint64_t>(integer(*n, "seed", 0, std::numeric_limits<std::int64_t>::max()));
    if (const auto* n = table.get("repetitions")) plan.repetitions = static_cast<int>(integer(*n, "repetitions", 1, kMaxRuns));
    if (const auto* n = table.get("warmup")) plan.warmup = static_cast<int>(integer(*n, "warmup", 0, kMaxRuns));
    if (const auto* n = table.get("order")) {
      const Text order = string(*n, "order", true);
      const std::vector<std::string> orders = {"shuffled", "interleaved", "blocked"};
      if (order.value == "shuffled") {
        plan.order = RunOrder::shuffled;
      } else if (order.value == "interleaved") {
        plan.order = RunOrder::interleaved;
      } else if (order.value == "blocked") {
        plan.order = RunOrder::blocked;
      } else {
        const auto suggestion = nearest(order.value, orders);
        fail(n->source(), fmt::format("'order' must be \"shuffled\", \"interleaved\" or \"blocked\", not \"{}\"{}", order.value,
                                      suggestion ? fmt::format(" (did you mean \"{}\"?)", *suggestion) : ""));
      }
    }
    if (const auto* n = table.get("max_other_cpu")) plan.max_other_cpu_cores = number(*n, "max_other_cpu", 0, true);
    if (const auto* n = table.get("cooldown")) read_cooldown(*n, plan.cooldown);
    if (const auto* n = table.get("idle")) plan.idle = duration(*n, "idle");
    if (const auto* n = table.get("idle_every")) plan.idle_every_runs = static_cast<int>(integer(*n, "idle_every", 1, kMaxRuns));
    if (const auto* n = table.get("interval")) {
      plan.interval = duration(*n, "interval");
      if (plan.interval < Seconds(1e-3) * (1 - 1e-9)) {
        fail(n->source(), fmt::format("'interval' must be at least 1ms, not \"{}\"", n->as_string()->get()));
      }
    }
  }

  void read_cooldown(const toml::node& node, Cooldown& cooldown) const {
    if (node.is_string()) {
      cooldown.kind = Cooldown::Kind::fixed;
      cooldown.fixed = duration(node, "cooldown");
      return;
    }
    if (!node.is_table()) {
      fail(node.source(), fmt::format("'cooldown' must be a duration such as \"60s\" or a table such as "
                                      "{{ until = \"stable\", max = \"120s\" }}, not {}",
                                      kind_of(node)));
    }
    const toml::table& table = *node.as_table();
    check_keys(table, kCooldownKeys, "[campaign.cooldown]");
    const toml::node* until = table.get("until");
    if (until == nullptr) fail(node.source(), "missing required key 'until' in [campaign.cooldown]");
    if (!until->is_string() || until->as_string()->get() != "stable") {
      fail(until->source(), fmt::format("'until' must be \"stable\", not {}",
                                        until->is_string() ? "\"" + until->as_string()->get() + "\"" : kind_of(*until)));
    }
    cooldown.kind = Cooldown::Kind::until_stable;
    if (const auto* n = table.get("max")) {
      cooldown.max = duration(*n, "max");
      if (cooldown.max <= Seconds(0)) fail(n->source(), "'max' must be more than 0s");
    }
    if (const auto* n = table.get("window")) {
      cooldown.window = duration(*n, "window");
      if (cooldown.window <= Seconds(0)) fail(n->source(), "'window' must be more than 0s");
    }
    if (cooldown.window > cooldown.max) {
      const bool window_given = table.get("window") != nullptr;
      const toml::node* n = window_given ? table.get("window") : table.get("max");
      fail(n->source(), fmt::format("'window' ({}s{}) must not be longer than 'max' ({}s): power could never be judged stable",
                                    cooldown.window.count(), window_given ? "" : " by default", cooldown.max.count()));
    }
    if (const auto* n = table.get("max_cv")) cooldown.max_cv = number(*n, "max_cv", 0, false);
    if (const auto* n = table.get("max_temperature_rise_c")) {
      cooldown.max_temperature_rise_c = number(*n, "max_temperature_rise_c", 0, true);
    }
  }

  /// An optional key/value table whose values are strings (or, where `scalars`, any scalar as text).
  std::vector<std::pair<std::string, Text>> key_values(const toml::node& node, const std::string& key, bool scalars) const {
    if (!node.is_table()) fail(node.source(), fmt::format("'{}' must be a table, not {}", key, kind_of(node)));
    std::vector<std::pair<std::string, Text>> out;
    for (const auto& [k, v] : ordered(*node.as_table())) {
      const std::string name(k->str());
      const std::string full = key + "." + name;
      if (name.empty()) fail(k->source(), fmt::format("'{}' has an empty key", key));
      if (scalars) {
        if (!(v->is_string() || v->is_integer() || v->is_floating_point() || v->is_boolean())) {
          fail(v->source(), fmt::format("'{}' must be a string, number or boolean, not {}", full, kind_of(*v)));
        }
        out.emplace_back(name, Text{value_text(*v), v->source(), full});
      } else {
        out.emplace_back(name, string(*v, full, true));
      }
    }
    return out;
  }

  WorkloadTemplate read_workload(const toml::table& table, const CampaignPlan& plan) const {
    check_keys(table, kWorkloadKeys, "[[workload]]");
    WorkloadTemplate w;
    w.where = table.source();
    auto required = [&](const char* key) -> const toml::node& {
      const toml::node* n = table.get(key);
      if (n == nullptr) fail(table.source(), fmt::format("missing required key '{}' in [[workload]]", key));
      return *n;
    };
    w.name = string(required("name"), "name");
    w.framework = string(required("framework"), "framework");
    w.model = string(required("model"), "model");
    w.phase = string(required("phase"), "phase");
    const toml::node& command_node = required("command");
    if (const auto* n = table.get("shell")) w.shell = boolean(*n, "shell");
    if (w.shell) {
      if (!command_node.is_string()) {
        fail(command_node.source(), fmt::format("'command' must be a string when shell = true, not {}", kind_of(command_node)));
      }
      w.command.push_back(string(command_node, "command"));
    } else {
      w.command = command(command_node, "command");
    }
    if (const auto* n = table.get("cwd")) w.cwd = string(*n, "cwd");
    if (const auto* n = table.get("env")) w.env = key_values(*n, "env", false);
    if (const auto* n = table.get("timeout")) {
      w.timeout = duration(*n, "timeout");
      if (*w.timeout <= Seconds(0)) fail(n->source(), "'timeout' must be more than 0s");
    }
    if (const auto* n = table.get("setup")) w.setup = command(*n, "setup");
    if (const auto* n = table.get("prepare")) w.prepare = command(*n, "prepare");
    constexpr std::int64_t kMaxRuns = 1'000'000;
    w.repetitions = plan.repetitions;
    w.warmup = plan.warmup;
    if (const auto* n = table.get("repetitions")) w.repetitions = static_cast<int>(integer(*n, "repetitions", 1, kMaxRuns));
    if (const auto* n = table.get("warmup")) w.warmup = static_cast<int>(integer(*n, "warmup", 0, kMaxRuns));
    if (const auto* n = table.get("parse")) {
      const std::vector<std::string> kinds = {"dllogger", "mllog"};
      for (const auto& [value, where] : strings(*n, "parse")) {
        if (value == "dllogger") {
          w.parsers.push_back(OutputParser{OutputParser::Kind::dllogger, {}, location_of(where)});
        } else if (value == "mllog") {
          w.parsers.push_back(OutputParser{OutputParser::Kind::mllog, {}, location_of(where)});
        } else {
          const auto suggestion = nearest(value, kinds);
          fail(where, fmt::format("'parse' must name \"dllogger\" or \"mllog\", not \"{}\"{}", value,
                                  suggestion ? fmt::format(" (did you mean \"{}\"?)", *suggestion) : ""));
        }
      }
    }
    if (const auto* n = table.get("profile")) {
      // One extra profiled run per mode (include/joulebench/profile.hpp); the names are
      // ProfileMode's, spelled here so that plans do not depend on the profiler.
      const std::vector<std::string> modes = {"python", "cprofile", "torch", "perf"};
      for (const auto& [value, where] : strings(*n, "profile")) {
        if (std::find(modes.begin(), modes.end(), value) == modes.end()) {
          const auto suggestion = nearest(value, modes);
          fail(where, fmt::format("'profile' must name \"python\", \"cprofile\", \"torch\" or \"perf\", not \"{}\"{}", value,
                                  suggestion ? fmt::format(" (did you mean \"{}\"?)", *suggestion) : ""));
        }
        if (std::find(w.profile.begin(), w.profile.end(), value) != w.profile.end()) {
          fail(where, fmt::format("'profile' names \"{}\" twice", value));
        }
        w.profile.push_back(value);
      }
    }
    if (const auto* n = table.get("regex")) {
      for (const auto& [value, where] : strings(*n, "regex")) {
        if (value.empty()) fail(where, "'regex' must not be empty");
        w.parsers.push_back(OutputParser{OutputParser::Kind::regex, value, location_of(where)});
      }
    }
    if (const auto* n = table.get("labels")) {
      w.labels = key_values(*n, "labels", true);
      const auto* labels = n->as_table();
      for (const auto& [k, v] : ordered(*labels)) {
        const std::string name(k->str());
        if (std::find(kBuiltinPlaceholders.begin(), kBuiltinPlaceholders.end(), name) != kBuiltinPlaceholders.end()) {
          fail(k->source(), fmt::format("label '{}' is set by the workload's own '{}' key", name, name));
        }
      }
    }
    if (const auto* n = table.get("matrix")) {
      if (!n->is_table()) fail(n->source(), fmt::format("'matrix' must be a table such as {{ batch = [32, 64] }}, not {}", kind_of(*n)));
      for (const auto& [k, v] : ordered(*n->as_table())) {
        const std::string name(k->str());
        if (!is_placeholder_word(name)) {
          fail(k->source(), fmt::format("matrix key '{}' cannot be a placeholder: start with a letter or '_', "
                                        "then use letters, digits, '_' or '-'",
                                        name));
        }
        if (std::find(kBuiltinPlaceholders.begin(), kBuiltinPlaceholders.end(), name) != kBuiltinPlaceholders.end()) {
          fail(k->source(), fmt::format("matrix key '{0}' would replace the workload's own '{0}': give the key "
                                        "another name and use it as a placeholder, e.g. {0} = \"{{{1}}}\"",
                                        name, name == "framework" ? "fw" : name.substr(0, 1)));
        }
        for (const auto& [label, text] : w.labels) {
          if (label == name) fail(k->source(), fmt::format("matrix key '{}' is also a label in 'labels'", name));
        }
        const std::string full = "matrix." + name;
        if (!v->is_array() || v->as_array()->empty()) {
          fail(v->source(), fmt::format("'{}' must be a non-empty array of values, not {}", full,
                                        v->is_array() ? "an empty array" : kind_of(*v)));
        }
        MatrixKey key{name, {}};
        std::size_t i = 0;
        for (const toml::node& element : *v->as_array()) {
          if (!(element.is_string() || element.is_integer() || element.is_floating_point() || element.is_boolean())) {
            fail(element.source(), fmt::format("'{}[{}]' must be a string, number or boolean, not {}", full, i, kind_of(element)));
          }
          key.values.push_back(value_text(element));
          ++i;
        }
        w.matrix.push_back(std::move(key));
      }
    }
    return w;
  }

  /// Replaces {key} with its value and {{key}} with a literal {key}. Everything else is left as
  /// written: a shell's `${HOME}` or `{ a; }`, a regex's `{3}`, JSON's `{"a": {"b": 1}}`.
  std::string substitute(const Text& text, const Vars& vars, std::set<std::string>* used = nullptr) const {
    const std::string& in = text.value;
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
      if (in.compare(i, 2, "${") == 0) {
        const auto close = in.find('}', i + 2);
        const auto end = close == std::string::npos ? in.size() : close + 1;
        out.append(in, i, end - i);
        i = end;
        continue;
      }
      if (in.compare(i, 2, "{{") == 0) {
        const auto close = in.find("}}", i + 2);
        if (close != std::string::npos && is_placeholder_word(in.substr(i + 2, close - i - 2))) {
          out += in.substr(i + 1, close - i);
          i = close + 2;
          continue;
        }
      }
      if (in[i] == '{') {
        const auto close = in.find('}', i + 1);
        if (close != std::string::npos) {
          const std::string word = in.substr(i + 1, close - i - 1);
          if (is_placeholder_word(word)) {
            const auto it = std::find_if(vars.begin(), vars.end(), [&](const auto& v) { return v.first == word; });
            if (it == vars.end()) unknown_placeholder(text, word, vars);
            out += it->second;
            if (used != nullptr) used->insert(word);
            i = close + 1;
            continue;
          }
        }
      }
      out += in[i];
      ++i;
    }
    return out;
  }

  [[noreturn]] void unknown_placeholder(const Text& text, const std::string& word, const Vars& vars) const {
    std::vector<std::string> names;
    for (const auto& [name, value] : vars) names.push_back(name);
    if (const auto suggestion = nearest(word, names)) {
      fail(text.where, fmt::format("unknown placeholder '{{{}}}' in '{}' (did you mean '{{{}}}'?)", word, text.key, *suggestion));
    }
    std::vector<std::string> written;
    for (const auto& name : names) written.push_back("{" + name + "}");
    fail(text.where, fmt::format("unknown placeholder '{{{}}}' in '{}' ({}; write '{{{{{}}}}}' for literal braces)", word, text.key,
                                 written.empty() ? std::string("no placeholders can be used here")
                                                 : "valid placeholders: " + join(written, ", "),
                                 word));
  }

  std::vector<WorkloadSpec> expand(const WorkloadTemplate& w) const {
    std::vector<WorkloadSpec> specs;
    std::vector<std::size_t> choice(w.matrix.size(), 0);
    for (;;) {
      Vars matrix_vars;
      for (std::size_t k = 0; k < w.matrix.size(); ++k) matrix_vars.emplace_back(w.matrix[k].name, w.matrix[k].values[choice[k]]);
      specs.push_back(resolve(w, matrix_vars));
      // Odometer: the last key varies fastest, the first slowest.
      std::size_t k = w.matrix.size();
      while (k > 0) {
        --k;
        if (++choice[k] < w.matrix[k].values.size()) break;
        choice[k] = 0;
        if (k == 0) return specs;
      }
      if (w.matrix.empty()) return specs;
    }
  }

  WorkloadSpec resolve(const WorkloadTemplate& w, const Vars& matrix_vars) const {
    WorkloadSpec spec;
    const std::string framework = substitute(w.framework, matrix_vars);
    const std::string model = substitute(w.model, matrix_vars);
    const std::string phase = substitute(w.phase, matrix_vars);
    Vars vars = {{"framework", framework}, {"model", model}, {"phase", phase}};
    vars.insert(vars.end(), matrix_vars.begin(), matrix_vars.end());

    std::set<std::string> used;
    spec.name = substitute(w.name, vars, &used);
    for (const auto& [key, value] : matrix_vars) {
      if (used.count(key) == 0) spec.name += "-" + key + value;
    }
    spec.labels = {{"framework", framework}, {"model", model}, {"phase", phase}};
    for (const auto& [key, text] : w.labels) spec.labels.emplace_back(key, substitute(text, vars));
    spec.labels.insert(spec.labels.end(), matrix_vars.begin(), matrix_vars.end());

    if (w.shell) {
      spec.command = {"/bin/sh", "-c", substitute(w.command.front(), vars)};
    } else {
      for (const Text& word : w.command) spec.command.push_back(substitute(word, vars));
      if (spec.command.front().empty()) {
        fail(w.command.front().where, fmt::format("'command' of workload '{}' starts with an empty program name (after "
                                                  "substitution): there is nothing to run",
                                                  spec.name));
      }
    }
    spec.shell = w.shell;
    if (w.cwd) {
      spec.working_directory = fs::absolute(base_ / substitute(*w.cwd, vars)).lexically_normal();
      spec.working_directory_location = location_of(w.cwd->where);
    }
    for (const auto& [key, text] : w.env) spec.environment.emplace_back(key, substitute(text, vars));
    spec.timeout = w.timeout;
    for (const Text& word : w.setup) spec.setup.push_back(substitute(word, vars));
    for (const Text& word : w.prepare) spec.prepare.push_back(substitute(word, vars));
    spec.parsers = w.parsers;
    spec.profile = w.profile;
    spec.repetitions = w.repetitions;
    spec.warmup = w.warmup;
    spec.location = PlanLocation{file_, static_cast<int>(w.where.begin.line), static_cast<int>(w.where.begin.column)};
    return spec;
  }
};

}  // namespace

CampaignPlan parse_plan(std::string_view text, const std::filesystem::path& source_name) {
  return Reader(text, source_name).read();
}

CampaignPlan load_plan(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read plan {}: {}", path.string(), std::strerror(errno)));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw std::runtime_error(fmt::format("cannot read plan {}: {}", path.string(), std::strerror(errno)));
  return parse_plan(content.str(), path);
}

}  // namespace joulebench
