#include "joulebench/monitor_protocol.hpp"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace joulebench::protocol {

namespace {

using Json = nlohmann::json;

Json parse_reply(std::string_view line) {
  Json object = Json::parse(line, nullptr, false);
  if (!object.is_object() || !object.contains("reply")) throw std::invalid_argument("not a reply of joulebench");
  return object;
}

std::optional<Method> parse_method(std::string_view name) {
  for (const Method m : {Method::counter, Method::power_integration, Method::model}) {
    if (method_name(m) == name) return m;
  }
  return std::nullopt;
}

}  // namespace

std::string hello_reply(std::uint64_t reply, std::span<const Channel> channels, Seconds interval) {
  Json list = Json::array();
  for (const Channel& c : channels) {
    list.push_back({{"id", c.id},
                    {"domain", domain_name(c.domain)},
                    {"device", c.device},
                    {"source", c.source},
                    {"method", method_name(c.method)},
                    {"estimated", c.estimated},
                    {"origin", c.origin}});
  }
  const Json object = {{"reply", reply}, {"interval_s", interval.count()}, {"channels", std::move(list)}};
  return object.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string mark_reply(std::uint64_t reply, const Meter::Mark& mark) {
  Json energy = Json::array();
  Json unmeasured = Json::array();
  Json problems = Json::array();
  for (const Joules& e : mark.energy) energy.push_back(e.value);
  for (const Seconds& s : mark.unmeasured) unmeasured.push_back(s.count());
  for (const std::string& p : mark.problems) problems.push_back(p);
  const Json object = {{"reply", reply},
                       {"time_s", mark.time.count()},
                       {"energy_j", std::move(energy)},
                       {"unmeasured_s", std::move(unmeasured)},
                       {"problems", std::move(problems)}};
  return object.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::optional<std::uint64_t> reply_number(std::string_view line) {
  const Json object = Json::parse(line, nullptr, false);
  if (!object.is_object()) return std::nullopt;
  const auto it = object.find("reply");
  if (it == object.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<std::uint64_t>();
}

Hello parse_hello(std::string_view line) {
  try {
    const Json object = parse_reply(line);
    Hello hello;
    hello.interval = Seconds(object.at("interval_s").get<double>());
    for (const Json& c : object.at("channels")) {
      Channel channel;
      channel.id = c.at("id").get<std::string>();
      const auto domain = parse_domain(c.at("domain").get<std::string>());
      const auto method = parse_method(c.at("method").get<std::string>());
      if (!domain || !method) throw std::invalid_argument("a channel of an unknown domain or method");
      channel.domain = *domain;
      channel.method = *method;
      channel.device = c.at("device").get<int>();
      channel.source = c.at("source").get<std::string>();
      channel.estimated = c.at("estimated").get<bool>();
      channel.origin = c.at("origin").get<std::string>();
      hello.channels.push_back(std::move(channel));
    }
    return hello;
  } catch (const Json::exception& e) {
    throw std::invalid_argument(std::string("joulebench's channels cannot be read: ") + e.what());
  }
}

Meter::Mark parse_mark(std::string_view line, std::size_t channels) {
  try {
    const Json object = parse_reply(line);
    Meter::Mark mark;
    mark.time = Seconds(object.at("time_s").get<double>());
    const Json& energy = object.at("energy_j");
    const Json& unmeasured = object.at("unmeasured_s");
    const Json& problems = object.at("problems");
    if (energy.size() != channels || unmeasured.size() != channels || problems.size() != channels) {
      throw std::invalid_argument("a reading of another number of channels than joulebench named");
    }
    for (std::size_t i = 0; i < channels; ++i) {
      mark.energy.emplace_back(energy[i].get<double>());
      mark.unmeasured.emplace_back(unmeasured[i].get<double>());
      mark.problems.push_back(problems[i].get<std::string>());
    }
    return mark;
  } catch (const Json::exception& e) {
    throw std::invalid_argument(std::string("joulebench's reading cannot be read: ") + e.what());
  }
}

}  // namespace joulebench::protocol
