// The compact form of a run's power timeline, as stored in `timelines.data` (encoding 1).
//
// Per sample, little-endian, no padding:
//   uint32  microseconds from the previous sample's end to this sample's end (the first sample:
//           from the run's start); 0xFFFFFFFF is an escape, followed by a uint64 with the real
//           interval, for the rare gap of 71.6 minutes or more
//   float32 average power in watts for each channel, in the order of `timelines.channels`
//           (NaN: not measured; the bits are kept exactly)
// That is 4 + 4 x channels bytes per sample: 20 bytes for 4 channels (360,000 samples of a
// one-hour 10 ms timeline: 7.2 MB). Times are kept to the microsecond: sample end times are
// rounded to whole microseconds since the run's start, and accumulated exactly as integers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "joulebench/store.hpp"

namespace joulebench::store_detail {

/// Throws std::invalid_argument when the timeline is inconsistent (power_w not samples x
/// channels, a time that is negative, not finite, or earlier than the previous one).
std::vector<std::uint8_t> encode_timeline(const StoredTimeline& timeline);

/// Fills `time_s` and `power_w` of `out` (whose channels are already set). Throws
/// std::invalid_argument when the bytes do not hold `samples` samples.
void decode_timeline(const std::uint8_t* data, std::size_t size, std::size_t samples, StoredTimeline& out);

/// Channel ids to and from the text stored beside the blob (a JSON array of strings).
std::string channels_to_text(const std::vector<std::string>& channels);
std::vector<std::string> channels_from_text(const std::string& text);

}  // namespace joulebench::store_detail
