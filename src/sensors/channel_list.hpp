// The per-channel state a source keeps, with the channel list it exposes kept in step: sorted by
// domain and device, and shrunk when another source covers a domain.
#pragma once

#include <algorithm>
#include <span>
#include <utility>
#include <vector>

#include "joulebench/sensors.hpp"

namespace joulebench::detail {

/// `Item` holds a `Channel channel` member beside whatever the source reads it with.
template <class Item>
class ChannelList {
 public:
  void add(Item item) { items_.push_back(std::move(item)); }

  /// Orders channels as every report shows them, then publishes the list.
  void finish() {
    std::stable_sort(items_.begin(), items_.end(), [](const Item& a, const Item& b) {
      return std::pair(a.channel.domain, a.channel.device) < std::pair(b.channel.domain, b.channel.device);
    });
    rebuild();
  }

  void drop_domains(DomainSet domains) {
    std::erase_if(items_,
                  [&](const Item& item) { return domains.test(static_cast<std::size_t>(item.channel.domain)); });
    rebuild();
  }

  std::span<const Channel> channels() const { return channels_; }
  std::vector<Item>& items() { return items_; }
  const std::vector<Item>& items() const { return items_; }

 private:
  void rebuild() {
    channels_.clear();
    for (const auto& item : items_) channels_.push_back(item.channel);
  }

  std::vector<Item> items_;
  std::vector<Channel> channels_;
};

}  // namespace joulebench::detail
