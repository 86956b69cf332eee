#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "joulebench/report.hpp"

namespace joulebench {

namespace {

std::string channel_list(const std::vector<Channel>& channels) {
  std::string out;
  for (const auto& c : channels) out += (out.empty() ? "" : ", ") + c.id;
  return out.empty() ? "-" : out;
}

}  // namespace

std::string sensors_text(const SensorSet& sensors) {
  std::string out = fmt::format("{:<15} {:<12} {}\n", "source", "status", "channels");
  for (const SourceReport* r : sensors.reports()) {
    out += fmt::format("{:<15} {:<12} {}\n", r->name, status_name(r->status), channel_list(r->channels));
    if (r->status == SourceStatus::ok && !r->resolution.empty()) out += fmt::format("    resolution: {}\n", r->resolution);
    for (const auto& c : r->channels) out += fmt::format("    {:<8} {}{}\n", c.id, c.origin, c.estimated ? " [estimated]" : "");
    for (const auto& [key, value] : r->properties) out += fmt::format("    {}: {}\n", key, value);
    if (!r->reason.empty()) out += fmt::format("    {}: {}\n", r->status == SourceStatus::ok ? "note" : "reason", r->reason);
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
    for (const auto& c : sensors.channels()) is_estimated = is_estimated || (c.domain == domain && c.estimated);
    estimated = estimated || is_estimated;
    out += fmt::format("  {:<7} <- {}{}{}\n", domain_name(domain), source, is_estimated ? " (estimated)" : "",
                       counts_toward_total(domain) ? "" : " (not added to the total: overlaps other domains)");
  }
  if (!any) out += "  nothing: no source works on this machine\n";
  if (estimated) {
    out += "\nEstimated figures come from a model of utilisation, not from a sensor; joulebench labels them "
           "'estimated' everywhere.\n";
  }
  return out;
}

std::string sensors_json(const SensorSet& sensors) {
  nlohmann::json sources = nlohmann::json::array();
  for (const SourceReport* r : sensors.reports()) {
    nlohmann::json channels = nlohmann::json::array();
    for (const auto& c : r->channels) {
      channels.push_back({{"id", c.id},
                          {"domain", domain_name(c.domain)},
                          {"device", c.device},
                          {"method", method_name(c.method)},
                          {"estimated", c.estimated},
                          {"origin", c.origin}});
    }
    nlohmann::json properties = nlohmann::json::object();
    for (const auto& [key, value] : r->properties) properties[key] = value;
    sources.push_back({{"name", r->name},
                       {"status", status_name(r->status)},
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
  return nlohmann::json{{"sources", sources}, {"in_use", in_use}}.dump(2) + "\n";
}

}  // namespace joulebench
