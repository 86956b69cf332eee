#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "joulebench/json_output.hpp"
#include "joulebench/report.hpp"

namespace joulebench {

namespace {

std::string channel_list(const std::vector<Channel>& channels) {
  std::string out;
  for (const auto& c : channels) out += (out.empty() ? "" : ", ") + c.id;
  return out.empty() ? "-" : out;
}

/// What a channel measured while it was watched; nothing when it was not (or not in use).
struct WatchedChannel {
  std::string state;  ///< "ok", "frozen" or "unmeasured"
  std::optional<double> power_w;
  std::string problem;
  bool estimated = false;
};

std::optional<WatchedChannel> watched_channel(const MeterWindow* window, const Channel& channel) {
  if (window == nullptr) return std::nullopt;
  for (std::size_t i = 0; i < window->channels.size(); ++i) {
    const Channel& c = window->channels[i];
    if (c.id != channel.id || c.source != channel.source) continue;
    const ChannelTotal& total = window->totals[i];
    if (total.complete()) return WatchedChannel{"ok", (total.energy / window->duration()).value, {}, c.estimated};
    return WatchedChannel{total.stalled ? "frozen" : "unmeasured", std::nullopt, total.first_problem, c.estimated};
  }
  return std::nullopt;
}

/// A source that works but whose every watched channel is frozen measures nothing.
std::string shown_status(const SourceReport& r, const MeterWindow* window) {
  if (r.status != SourceStatus::ok || r.channels.empty()) return std::string(status_name(r.status));
  for (const auto& c : r.channels) {
    const auto watched = watched_channel(window, c);
    if (!watched || watched->state != "frozen") return std::string(status_name(r.status));
  }
  return "frozen";
}

std::string watched_text(const WatchedChannel& w, Seconds duration) {
  if (w.power_w)
    return fmt::format("{}: {:.3g} W over {:.1f} s", w.estimated ? "estimated" : "ok", *w.power_w, duration.count());
  return fmt::format("{}: {}", w.state, w.problem);
}

}  // namespace

std::string sensors_text(const SensorSet& sensors, const MeterWindow* watched) {
  std::string out = fmt::format("{:<15} {:<12} {}\n", "source", "status", "channels");
  for (const SourceReport* r : sensors.reports()) {
    out += fmt::format("{:<15} {:<12} {}\n", r->name, shown_status(*r, watched), channel_list(r->channels));
    if (r->status == SourceStatus::ok && !r->resolution.empty())
      out += fmt::format("    resolution: {}\n", r->resolution);
    for (const auto& c : r->channels) {
      out += fmt::format("    {:<8} {}{}\n", c.id, c.origin, c.estimated ? " [estimated]" : "");
      if (const auto w = watched_channel(watched, c))
        out += fmt::format("             {}\n", watched_text(*w, watched->duration()));
    }
    for (const auto& [key, value] : r->properties) out += fmt::format("    {}: {}\n", key, value);
    if (!r->reason.empty())
      out += fmt::format("    {}: {}\n", r->status == SourceStatus::ok ? "note" : "reason", r->reason);
    if (!r->remedy.empty()) out += fmt::format("    remedy: {}\n", r->remedy);
  }
  out += "\nin use:\n";
  bool any = false;
  bool estimated = false;
  for (std::size_t d = 0; d < kDomainCount; ++d) {
    const auto domain = static_cast<Domain>(d);
    const std::string source = sensors.source_of(domain);
    if (source.empty()) continue;
    any = true;
    bool is_estimated = false;
    std::string measures;
    for (const auto& c : sensors.channels()) {
      if (c.domain != domain) continue;
      is_estimated = is_estimated || c.estimated;
      if (const auto w = watched_channel(watched, c); w && !w->power_w)
        measures += fmt::format(" ({}: {})", w->state, c.id);
    }
    estimated = estimated || is_estimated;
    out +=
        fmt::format("  {:<7} <- {}{}{}{}\n", domain_name(domain), source, is_estimated ? " (estimated)" : "", measures,
                    counts_toward_total(domain) ? "" : " (not added to the total: overlaps other domains)");
  }
  if (!any) out += "  nothing: no source works on this machine\n";
  if (estimated) {
    out +=
        "\nEstimated figures come from a model of utilisation, not from a sensor; joulebench labels them "
        "'estimated' everywhere.\n";
  }
  return out;
}

std::string sensors_json(const SensorSet& sensors, const MeterWindow* watched) {
  nlohmann::json sources = nlohmann::json::array();
  for (const SourceReport* r : sensors.reports()) {
    nlohmann::json channels = nlohmann::json::array();
    for (const auto& c : r->channels) {
      nlohmann::json channel = {{"id", c.id},
                                {"domain", domain_name(c.domain)},
                                {"device", c.device},
                                {"method", method_name(c.method)},
                                {"estimated", c.estimated},
                                {"origin", c.origin}};
      if (const auto w = watched_channel(watched, c)) {
        channel["watched"] = {{"state", w->state}, {"seconds", watched->duration().count()}};
        if (w->power_w) channel["watched"]["power_w"] = *w->power_w;
        if (!w->problem.empty()) channel["watched"]["problem"] = w->problem;
      }
      channels.push_back(channel);
    }
    nlohmann::json properties = nlohmann::json::object();
    for (const auto& [key, value] : r->properties) properties[key] = value;
    sources.push_back({{"name", r->name},
                       {"status", shown_status(*r, watched)},
                       {"reason", r->reason},
                       {"remedy", r->remedy},
                       {"resolution", r->resolution},
                       {"channels", channels},
                       {"properties", properties}});
  }
  nlohmann::json in_use = nlohmann::json::object();
  for (std::size_t d = 0; d < kDomainCount; ++d) {
    const auto domain = static_cast<Domain>(d);
    if (auto source = sensors.source_of(domain); !source.empty()) in_use[std::string(domain_name(domain))] = source;
  }
  Json document = json_document(JsonSchema::sensors);
  document["sources"] = Json(sources);
  document["in_use"] = Json(in_use);
  return dump_json(document);
}

}  // namespace joulebench
