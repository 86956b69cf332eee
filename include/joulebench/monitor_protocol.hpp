// The events channel made two-way: what joulebench answers a Monitor (monitor.hpp) that runs inside
// its workload, and how the Monitor reads the answers. The Monitor writes requests on the events
// descriptor (event_parser.hpp), each with a number; joulebench answers each with one JSON line on
// the replies descriptor (JOULEBENCH_REPLIES_FD), quoting the number:
//
//   {"event":"hello","reply":1}
//     -> {"reply":1,"interval_s":0.1,"channels":[{"id":"cpu-0","domain":"cpu","device":0,
//         "source":"rapl-perf","method":"counter","estimated":false,"origin":"..."}, ...]}
//   {"event":"mark","reply":2}   (and begin/end of a region with "reply": the same reading, taken
//                                 for the region's edge)
//     -> {"reply":2,"time_s":1.25,"energy_j":[...],"unmeasured_s":[...],"problems":[...]}
//
// A reading's lists follow the hello's channels; its values run from the start of the run's window.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "joulebench/meter.hpp"
#include "joulebench/sensors.hpp"
#include "joulebench/units.hpp"

namespace joulebench::protocol {

/// The answer to a hello: the channels and the meter's interval.
std::string hello_reply(std::uint64_t reply, std::span<const Channel> channels, Seconds interval);
/// The answer to a mark (or a region edge that asked for one): a reading.
std::string mark_reply(std::uint64_t reply, const Meter::Mark& mark);

struct Hello {
  std::vector<Channel> channels;
  Seconds interval{0};
};

/// The request number a reply line quotes; nothing if the line is not a reply.
std::optional<std::uint64_t> reply_number(std::string_view line);
/// Throw std::invalid_argument when the line is not such a reply.
Hello parse_hello(std::string_view line);
Meter::Mark parse_mark(std::string_view line, std::size_t channels);

}  // namespace joulebench::protocol
