#include "store/timeline_codec.hpp"

#include <bit>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace joulebench::store_detail {

namespace {

constexpr std::uint32_t kEscape = 0xFFFFFFFFu;

inline void put32(std::uint8_t*& p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
  p[2] = static_cast<std::uint8_t>(v >> 16);
  p[3] = static_cast<std::uint8_t>(v >> 24);
  p += 4;
}

inline std::uint32_t get32(const std::uint8_t*& p) {
  const std::uint32_t v = static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
                          (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
  p += 4;
  return v;
}

}  // namespace

std::vector<std::uint8_t> encode_timeline(const StoredTimeline& timeline) {
  const std::size_t samples = timeline.time_s.size();
  const std::size_t channels = timeline.channels.size();
  if (timeline.power_w.size() != samples * channels) {
    throw std::invalid_argument(fmt::format("the timeline has {} power values for {} samples of {} channels",
                                            timeline.power_w.size(), samples, channels));
  }
  // Escapes are rare: count them first so the buffer is allocated once.
  std::size_t escapes = 0;
  std::vector<std::int64_t> end_us(samples);
  std::int64_t previous = 0;
  for (std::size_t i = 0; i < samples; ++i) {
    const double t = timeline.time_s[i];
    if (!std::isfinite(t) || t < 0 || t > 9.0e12) {
      throw std::invalid_argument(fmt::format("timeline sample {} has end time {} s", i, t));
    }
    const auto us = std::llround(t * 1e6);
    if (us < previous) {
      throw std::invalid_argument(fmt::format("timeline sample {} ends at {} s, before the previous sample ({} s)", i,
                                              t, static_cast<double>(previous) * 1e-6));
    }
    if (us - previous >= kEscape) ++escapes;
    end_us[i] = us;
    previous = us;
  }

  std::vector<std::uint8_t> out(samples * (4 + 4 * channels) + escapes * 8);
  std::uint8_t* p = out.data();
  const float* power = timeline.power_w.data();
  previous = 0;
  for (std::size_t i = 0; i < samples; ++i) {
    const auto delta = static_cast<std::uint64_t>(end_us[i] - previous);
    previous = end_us[i];
    if (delta >= kEscape) {
      put32(p, kEscape);
      put32(p, static_cast<std::uint32_t>(delta));
      put32(p, static_cast<std::uint32_t>(delta >> 32));
    } else {
      put32(p, static_cast<std::uint32_t>(delta));
    }
    for (std::size_t c = 0; c < channels; ++c) put32(p, std::bit_cast<std::uint32_t>(*power++));
  }
  return out;
}

void decode_timeline(const std::uint8_t* data, std::size_t size, std::size_t samples, StoredTimeline& out) {
  const std::size_t channels = out.channels.size();
  const std::size_t fixed = samples * (4 + 4 * channels);
  if (size < fixed || (size - fixed) % 8 != 0) {
    throw std::invalid_argument(
        fmt::format("the timeline holds {} bytes, not {} samples of {} channels", size, samples, channels));
  }
  out.time_s.resize(samples);
  out.power_w.resize(samples * channels);
  const std::uint8_t* p = data;
  const std::uint8_t* const end = data + size;
  float* power = out.power_w.data();
  std::uint64_t t_us = 0;
  for (std::size_t i = 0; i < samples; ++i) {
    if (static_cast<std::size_t>(end - p) < 4 + 4 * channels) {
      throw std::invalid_argument(fmt::format("the timeline ends inside sample {}", i));
    }
    std::uint64_t delta = get32(p);
    if (delta == kEscape) {
      if (static_cast<std::size_t>(end - p) < 8 + 4 * channels) {
        throw std::invalid_argument(fmt::format("the timeline ends inside sample {}", i));
      }
      const std::uint64_t low = get32(p);
      delta = low | (static_cast<std::uint64_t>(get32(p)) << 32);
    }
    t_us += delta;
    out.time_s[i] = static_cast<double>(t_us) / 1e6;
    for (std::size_t c = 0; c < channels; ++c) *power++ = std::bit_cast<float>(get32(p));
  }
  if (p != end) throw std::invalid_argument(fmt::format("the timeline has {} bytes after its last sample", end - p));
}

std::string channels_to_text(const std::vector<std::string>& channels) { return nlohmann::json(channels).dump(); }

std::vector<std::string> channels_from_text(const std::string& text) {
  try {
    return nlohmann::json::parse(text).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(fmt::format("the timeline's channel list is not readable: {}", e.what()));
  }
}

}  // namespace joulebench::store_detail
