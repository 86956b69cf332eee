// Test doubles for EnergySource: a source whose energy is a known function of time, and a
// decorator that lets a test's writer thread and the meter take turns on a fake tree; and a
// timeline sink that keeps what the meter passes on.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "joulebench/meter.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench::testing {

/// One channel whose cumulative energy is `energy(seconds since the first read)`; reads listed in
/// `failing_reads` (1-based read numbers) report an unmeasured interval.
class ScriptedSource final : public EnergySource {
 public:
  ScriptedSource(Domain domain, std::function<double(double)> energy_j, std::vector<int> failing_reads = {},
                 Seconds max_interval = Seconds(3600.0))
      : energy_(std::move(energy_j)), failing_(std::move(failing_reads)), max_interval_(max_interval) {
    Channel c;
    c.domain = domain;
    c.id = std::string(domain_name(domain)) + "-0";
    c.source = "scripted";
    c.origin = "test";
    channels_.push_back(c);
    report_.name = "scripted";
    report_.status = SourceStatus::ok;
    report_.channels = channels_;
  }

  const SourceReport& report() const override { return report_; }
  std::span<const Channel> channels() const override { return channels_; }
  void drop_domains(DomainSet domains) override {
    if (domains.test(static_cast<std::size_t>(channels_.front().domain))) channels_.clear();
  }
  void read(Clock::time_point now, std::span<ChannelReading> out) override {
    ++reads_;
    if (reads_ == 1) start_ = now;
    const double truth = energy_(Seconds(now - start_).count());
    const bool fail = std::find(failing_.begin(), failing_.end(), reads_) != failing_.end();
    if (fail) {
      lost_ += truth - last_truth_;
      out[0] = {Joules(last_reported_), false, "scripted failure"};
    } else {
      last_reported_ = truth - lost_;
      out[0] = {Joules(last_reported_), true, {}};
    }
    last_truth_ = truth;
  }
  Seconds max_read_interval() const override { return max_interval_; }

  int reads() const { return reads_; }

 private:
  std::function<double(double)> energy_;
  std::vector<int> failing_;
  Seconds max_interval_;
  SourceReport report_;
  std::vector<Channel> channels_;
  int reads_ = 0;
  Clock::time_point start_{};
  double last_truth_ = 0.0;
  double last_reported_ = 0.0;
  double lost_ = 0.0;
};

/// Wraps a real source so that its reads never overlap a test's writes to the fake tree: the
/// writer holds `mutex` while rewriting files. (Real sysfs values change atomically; regular
/// files rewritten in place do not.)
class TurnTakingSource final : public EnergySource {
 public:
  TurnTakingSource(std::unique_ptr<EnergySource> inner, std::mutex& mutex) : inner_(std::move(inner)), mutex_(mutex) {}
  const SourceReport& report() const override { return inner_->report(); }
  std::span<const Channel> channels() const override { return inner_->channels(); }
  void drop_domains(DomainSet domains) override { inner_->drop_domains(domains); }
  void read(Clock::time_point now, std::span<ChannelReading> out) override {
    std::lock_guard lock(mutex_);
    inner_->read(now, out);
  }
  Seconds max_read_interval() const override { return inner_->max_read_interval(); }

 private:
  std::unique_ptr<EnergySource> inner_;
  std::mutex& mutex_;
};

/// Keeps a copy of every timeline sample the meter passes on.
class RecordingSink final : public TimelineSink {
 public:
  void begin(std::span<const Channel> channels) override { channel_count = channels.size(); }
  void add(const TimelineSample& s) override {
    samples.push_back({s.time, s.interval, std::vector<ChannelPower>(s.channels.begin(), s.channels.end())});
  }
  struct Copy {
    Seconds time;
    Seconds interval;
    std::vector<ChannelPower> channels;
  };
  std::size_t channel_count = 0;
  std::vector<Copy> samples;
};

}  // namespace joulebench::testing
