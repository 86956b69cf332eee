// Workload events: the JSON lines of the events descriptor, and metrics found in plain output
// (NVIDIA DLLogger, MLPerf logging, user regexes).
#include "joulebench/event_parser.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

namespace joulebench {
namespace {

using json = nlohmann::json;

constexpr std::string_view kSpace = " \t\r\n\f\v";

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

/// One JSON object, or nothing (never throws).
std::optional<json> parse_object(std::string_view text) {
  json value = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

/// Python's json.dumps writes NaN, Infinity and -Infinity as bare words, which JSON does not
/// have: the same text with those words (outside strings) replaced by null.
std::string python_non_finite_as_null(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool replaced = false;
    for (const std::string_view word :
         {std::string_view("-Infinity"), std::string_view("Infinity"), std::string_view("NaN")}) {
      if (text.substr(i, word.size()) == word) {
        out += "null";
        i += word.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

/// A DLLogger or MLPerf object: as written, or with Python's bare non-finite numbers as null.
std::optional<json> parse_logged_object(std::string_view text) {
  if (auto value = parse_object(text)) return value;
  if (text.find("NaN") == std::string_view::npos && text.find("Infinity") == std::string_view::npos) {
    return std::nullopt;
  }
  return parse_object(python_non_finite_as_null(text));
}

/// The JSON text after the first `prefix` that is followed (after spaces) by '{', to the end of
/// the line; nothing if the line has no such prefix.
std::optional<std::string_view> logged_json(std::string_view line, std::string_view prefix) {
  std::size_t from = 0;
  while (true) {
    const auto at = line.find(prefix, from);
    if (at == std::string_view::npos) return std::nullopt;
    const auto body = line.find_first_not_of(' ', at + prefix.size());
    if (body != std::string_view::npos && line[body] == '{') return trim(line.substr(body));
    from = at + 1;
  }
}

std::optional<double> finite_number(const json& value) {
  if (!value.is_number()) return std::nullopt;  // bools are not numbers here
  const double number = value.get<double>();
  if (!std::isfinite(number)) return std::nullopt;
  return number;
}

const std::string* string_member(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

/// A scalar as text: strings as they are, numbers and bools as JSON writes them.
std::optional<std::string> scalar_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return std::string(value.get<bool>() ? "true" : "false");
  if (value.is_number()) return value.dump();
  return std::nullopt;
}

WorkloadEvent make_metric(std::string name, double value, std::string unit, const char* origin) {
  WorkloadEvent event;
  event.kind = WorkloadEvent::Kind::metric;
  event.name = std::move(name);
  event.value = value;
  event.unit = std::move(unit);
  event.origin = origin;
  return event;
}

WorkloadEvent make_metadata(std::string key, std::string text, const char* origin) {
  WorkloadEvent event;
  event.kind = WorkloadEvent::Kind::metadata;
  event.name = std::move(key);
  event.text = std::move(text);
  event.origin = origin;
  return event;
}

WorkloadEvent make_region(WorkloadEvent::Kind kind, std::string name, const char* origin) {
  WorkloadEvent event;
  event.kind = kind;
  event.name = std::move(name);
  event.origin = origin;
  return event;
}

/// The whole text as a finite number ("12", "-0.5", "1e-3", "+7"), or nothing.
std::optional<double> parse_number(std::string_view text) {
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);  // from_chars takes no '+'
    if (!text.empty() && (text.front() == '+' || text.front() == '-')) return std::nullopt;
  }
  if (text.empty()) return std::nullopt;
  double value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

struct CodeFree {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchDataFree {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

struct Regex {
  std::string pattern;
  std::unique_ptr<pcre2_code, CodeFree> code;
  std::unique_ptr<pcre2_match_data, MatchDataFree> match;
  std::vector<std::pair<std::string, std::uint32_t>> groups;  ///< named groups: name, number
};

Regex compile_regex(const std::string& pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  Regex regex;
  regex.pattern = pattern;
  regex.code.reset(
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0, &error, &offset, nullptr));
  if (!regex.code) {
    PCRE2_UCHAR message[256];
    const int length = pcre2_get_error_message(error, message, sizeof message);
    const std::string text =
        length < 0 ? "error " + std::to_string(error)
                   : std::string(reinterpret_cast<const char*>(message), static_cast<std::size_t>(length));
    throw std::invalid_argument("invalid regex '" + pattern + "' at offset " + std::to_string(offset) + ": " + text);
  }
  (void)pcre2_jit_compile(regex.code.get(), PCRE2_JIT_COMPLETE);  // faster when available; fine without

  std::uint32_t count = 0;
  std::uint32_t entry_size = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(regex.code.get(), PCRE2_INFO_NAMECOUNT, &count);
  pcre2_pattern_info(regex.code.get(), PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
  pcre2_pattern_info(regex.code.get(), PCRE2_INFO_NAMETABLE, &table);
  for (std::uint32_t i = 0; i < count; ++i) {
    const PCRE2_SPTR entry = table + static_cast<std::size_t>(i) * entry_size;
    const auto number = static_cast<std::uint32_t>((entry[0] << 8) | entry[1]);
    regex.groups.emplace_back(std::string(reinterpret_cast<const char*>(entry + 2)), number);
  }
  // The name table is sorted by name: report a match's metrics in the pattern's order instead.
  std::sort(regex.groups.begin(), regex.groups.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  if (regex.groups.empty()) {
    throw std::invalid_argument("invalid regex '" + pattern +
                                "': it has no named group, so it can yield no metric (name one: (?<loss>[0-9.]+))");
  }
  regex.match.reset(pcre2_match_data_create_from_pattern(regex.code.get(), nullptr));
  if (!regex.match) throw std::bad_alloc();
  return regex;
}

}  // namespace

std::optional<WorkloadEvent> parse_event_line(std::string_view line) {
  const auto object = parse_object(trim(line));
  if (!object) return std::nullopt;
  const std::string* event = string_member(*object, "event");
  if (event == nullptr) return std::nullopt;

  // A Monitor's request: a whole number to quote in the reply.
  std::optional<std::uint64_t> reply;
  if (const auto reply_it = object->find("reply"); reply_it != object->end()) {
    if (!reply_it->is_number_unsigned()) return std::nullopt;
    reply = reply_it->get<std::uint64_t>();
  }
  if (*event == "begin" || *event == "end") {
    const std::string* region = string_member(*object, "region");
    if (region == nullptr || region->empty()) return std::nullopt;
    auto e = make_region(*event == "begin" ? WorkloadEvent::Kind::region_begin : WorkloadEvent::Kind::region_end,
                         *region, "events");
    e.reply = reply;
    return e;
  }
  if (*event == "hello" || *event == "mark") {
    if (!reply) return std::nullopt;  // a question nobody waits for the answer to
    WorkloadEvent e;
    e.kind = *event == "hello" ? WorkloadEvent::Kind::hello : WorkloadEvent::Kind::mark;
    e.origin = "events";
    e.reply = reply;
    return e;
  }
  if (*event == "metric") {
    const std::string* name = string_member(*object, "name");
    if (name == nullptr || name->empty()) return std::nullopt;
    const auto value_it = object->find("value");
    if (value_it == object->end()) return std::nullopt;
    const auto value = finite_number(*value_it);
    if (!value) return std::nullopt;
    std::string unit;
    if (const auto unit_it = object->find("unit"); unit_it != object->end()) {
      if (unit_it->is_string()) {
        unit = unit_it->get<std::string>();
      } else if (!unit_it->is_null()) {
        return std::nullopt;
      }
    }
    return make_metric(*name, *value, std::move(unit), "events");
  }
  if (*event == "meta") {
    const std::string* key = string_member(*object, "key");
    if (key == nullptr || key->empty()) return std::nullopt;
    const auto value_it = object->find("value");
    if (value_it == object->end()) return std::nullopt;
    auto text = scalar_text(*value_it);
    if (!text) return std::nullopt;
    return make_metadata(*key, std::move(*text), "events");
  }
  return std::nullopt;
}

struct OutputScanner::Impl {
  bool dllogger = false;
  bool mllog = false;
  std::vector<Regex> regexes;
  std::unordered_map<std::string, std::string> dllogger_units;  ///< from METADATA lines
  std::size_t malformed = 0;

  void scan_dllogger(std::string_view line, std::vector<WorkloadEvent>& out);
  void scan_mllog(std::string_view line, std::vector<WorkloadEvent>& out);
  void scan_regex(Regex& regex, std::string_view line, std::vector<WorkloadEvent>& out);
};

void OutputScanner::Impl::scan_dllogger(std::string_view line, std::vector<WorkloadEvent>& out) {
  const auto body = logged_json(line, "DLLL ");
  if (!body) return;
  const auto object = parse_logged_object(*body);
  const std::string* type = object ? string_member(*object, "type") : nullptr;
  if (type == nullptr) {
    ++malformed;
    return;
  }
  if (*type == "METADATA") {
    // {"type": "METADATA", "metric": "throughput", "metadata": {"unit": "samples/s", ...}}
    const std::string* metric = string_member(*object, "metric");
    const auto metadata = object->find("metadata");
    if (metric == nullptr || metadata == object->end() || !metadata->is_object()) {
      ++malformed;
      return;
    }
    if (const std::string* unit = string_member(*metadata, "unit")) {
      dllogger_units[*metric] = *unit;
    } else if (const auto unit_it = metadata->find("unit"); unit_it != metadata->end() && unit_it->is_null()) {
      dllogger_units.erase(*metric);  // "unit": null, as DeepLearningExamples write for losses
    }
    return;
  }
  if (*type != "LOG") return;
  const auto data = object->find("data");
  if (data == object->end() || !data->is_object()) {
    ++malformed;
    return;
  }
  const auto step = object->find("step");
  const bool parameters =
      step != object->end() && step->is_string() && step->get_ref<const std::string&>() == "PARAMETER";
  for (const auto& [name, value] : data->items()) {
    if (name.empty()) continue;
    if (parameters) {
      if (value.is_null()) continue;
      auto text = scalar_text(value);
      out.push_back(make_metadata(name, text ? std::move(*text) : value.dump(), "dllogger"));
      continue;
    }
    const auto number = finite_number(value);
    if (!number) continue;
    const auto unit = dllogger_units.find(name);
    out.push_back(make_metric(name, *number, unit == dllogger_units.end() ? std::string() : unit->second, "dllogger"));
  }
}

void OutputScanner::Impl::scan_mllog(std::string_view line, std::vector<WorkloadEvent>& out) {
  const auto body = logged_json(line, ":::MLLOG ");
  if (!body) return;
  const auto object = parse_logged_object(*body);
  const std::string* event_type = object ? string_member(*object, "event_type") : nullptr;
  const std::string* key = object ? string_member(*object, "key") : nullptr;
  if (event_type == nullptr || key == nullptr || key->empty()) {
    ++malformed;
    return;
  }
  if (*event_type == "POINT_IN_TIME") {
    const auto value = object->find("value");
    if (value == object->end() || value->is_null()) return;
    if (const auto number = finite_number(*value)) {
      out.push_back(make_metric(*key, *number, {}, "mllog"));
    } else if (value->is_object()) {
      // {"key": "tracked_stats", "value": {"throughput": 5154997.3}}
      for (const auto& [member, member_value] : value->items()) {
        if (const auto member_number = finite_number(member_value)) {
          out.push_back(make_metric(*key + "." + member, *member_number, {}, "mllog"));
        }
      }
    } else if (value->is_string() || value->is_boolean()) {
      out.push_back(make_metadata(*key, *scalar_text(*value), "mllog"));
    }
    return;
  }
  const bool start = *event_type == "INTERVAL_START";
  if (!start && *event_type != "INTERVAL_END") return;
  std::string_view name = *key;
  const std::string_view suffix = start ? "_start" : "_stop";
  if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
    name.remove_suffix(suffix.size());
  }
  out.push_back(make_region(start ? WorkloadEvent::Kind::region_begin : WorkloadEvent::Kind::region_end,
                            std::string(name), "mllog"));
}

void OutputScanner::Impl::scan_regex(Regex& regex, std::string_view line, std::vector<WorkloadEvent>& out) {
  // PCRE2 refuses a null subject, which an empty string_view may have.
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(line.empty() ? "" : line.data());
  const PCRE2_SIZE length = line.size();
  PCRE2_SIZE start = 0;
  while (start <= length) {
    const int found = pcre2_match(regex.code.get(), subject, length, start, 0, regex.match.get(), nullptr);
    if (found <= 0) break;  // no (further) match, or an error such as a match limit
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(regex.match.get());
    for (const auto& [name, number] : regex.groups) {
      if (number >= static_cast<std::uint32_t>(found)) continue;  // not set in this match
      const PCRE2_SIZE from = ovector[2 * number];
      const PCRE2_SIZE to = ovector[2 * number + 1];
      if (from == PCRE2_UNSET || to < from) continue;
      if (const auto value = parse_number(line.substr(from, to - from))) {
        out.push_back(make_metric(name, *value, {}, "regex"));
      }
    }
    // Go on after this match; after an empty match, one character further (no endless loop).
    PCRE2_SIZE next = ovector[1];
    if (next <= start || ovector[1] == ovector[0]) next = std::max(next, start) + 1;
    start = next;
  }
}

OutputScanner::OutputScanner(const std::vector<OutputParser>& parsers) : impl_(std::make_unique<Impl>()) {
  for (const OutputParser& parser : parsers) {
    switch (parser.kind) {
      case OutputParser::Kind::dllogger: impl_->dllogger = true; break;
      case OutputParser::Kind::mllog: impl_->mllog = true; break;
      case OutputParser::Kind::regex: impl_->regexes.push_back(compile_regex(parser.pattern)); break;
    }
  }
}

OutputScanner::~OutputScanner() = default;
OutputScanner::OutputScanner(OutputScanner&&) noexcept = default;
OutputScanner& OutputScanner::operator=(OutputScanner&&) noexcept = default;

std::vector<WorkloadEvent> OutputScanner::scan(std::string_view line) {
  std::vector<WorkloadEvent> events;
  if (impl_->dllogger) impl_->scan_dllogger(line, events);
  if (impl_->mllog) impl_->scan_mllog(line, events);
  for (Regex& regex : impl_->regexes) impl_->scan_regex(regex, line, events);
  return events;
}

std::size_t OutputScanner::malformed() const { return impl_->malformed; }

}  // namespace joulebench
