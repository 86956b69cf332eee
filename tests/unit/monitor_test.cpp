// The in-program Monitor (include/joulebench/monitor.hpp) over the real powercap source, reading a
// fake RAPL tree advanced at a known power; its requests and joulebench's replies on the events
// channel (monitor_protocol.hpp); and a Monitor over the machine's own sources.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "fakes/fake_tree.hpp"
#include "joulebench/event_parser.hpp"
#include "joulebench/monitor.hpp"
#include "joulebench/monitor_protocol.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::PoweredCounter;
using testing::TempDir;

using testing::ScopedVariable;

/// A powercap package zone whose counter advances at `watts`, with the Monitor's sources pointed at it.
class KnownPower : public ::testing::Test {
 protected:
  static constexpr double kWatts = 40.0;
  KnownPower()
      : zone_(make_zone(sysfs_.path())),
        counter_(zone_ / "energy_uj", kWatts),
        sysfs_variable_("JOULEBENCH_SYSFS_ROOT", sysfs_.path().string()),
        events_variable_("JOULEBENCH_EVENTS_FD", "") {}
  static fs::path make_zone(const fs::path& sysfs) {
    const fs::path zone = sysfs / "class" / "powercap" / "intel-rapl:0";
    testing::make_powercap_zone(zone, "package-0", 1'000'000, 262'143'328'850);
    return zone;
  }
  static MonitorOptions powercap() {
    MonitorOptions options;
    options.sources = {"rapl-powercap"};
    options.interval = 20ms;
    return options;
  }
  /// The energy a window of `time_s` must show: within 1 % of the known power's.
  static void expect_known_power(const Measurement& m, double watts = kWatts) {
    ASSERT_TRUE(m.energy_j.contains("cpu")) << m.to_json();
    EXPECT_NEAR(m.energy_j.at("cpu"), watts * m.time_s, 0.01 * watts * m.time_s) << m.to_json();
  }

  TempDir sysfs_;
  fs::path zone_;
  PoweredCounter counter_;
  ScopedVariable sysfs_variable_;
  ScopedVariable events_variable_;  // standalone: no joulebench around these tests
};

TEST_F(KnownPower, AWindowMeasuresTheKnownPowerWithinOnePercent) {
  Monitor monitor(powercap());
  EXPECT_FALSE(monitor.under_joulebench());
  EXPECT_EQ(monitor.sources(), (std::map<std::string, std::string>{{"cpu", "rapl-powercap"}}));
  monitor.begin_window("train");
  std::this_thread::sleep_for(400ms);
  const Measurement m = monitor.end_window("train");
  EXPECT_EQ(m.name, "train");
  EXPECT_NEAR(m.time_s, 0.4, 0.1);
  expect_known_power(m);
  EXPECT_DOUBLE_EQ(m.total_j, m.energy_j.at("cpu"));
  EXPECT_FALSE(m.estimated.at("cpu"));
  EXPECT_TRUE(m.complete.at("cpu"));
  EXPECT_EQ(m.sources.at("cpu"), "rapl-powercap");
  EXPECT_TRUE(m.dynamic_energy_j.empty());
  EXPECT_FALSE(m.dynamic_total_j);

  // The JSON names its figures as `measure --json` does.
  const auto json = nlohmann::json::parse(m.to_json());
  EXPECT_EQ(json["name"], "train");
  ASSERT_EQ(json["energy"].size(), 2U);  // cpu, then the total
  EXPECT_EQ(json["energy"][0]["domain"], "cpu");
  EXPECT_EQ(json["energy"][0]["source"], "rapl-powercap");
  EXPECT_EQ(json["energy"][0]["method"], "counter");
  EXPECT_EQ(json["energy"][1]["domain"], "total");
  EXPECT_DOUBLE_EQ(json["energy"][1]["energy_j"].get<double>(), m.total_j);
}

TEST_F(KnownPower, WindowsNestOverlapAndEndInAnyOrder) {
  Monitor monitor(powercap());
  monitor.begin_window("outer");
  std::this_thread::sleep_for(100ms);
  {
    ScopedWindow inner(monitor, "inner");
    std::this_thread::sleep_for(150ms);
    monitor.begin_window("overlap");
    std::this_thread::sleep_for(100ms);
    const Measurement i = inner.end();
    expect_known_power(i);
    EXPECT_THROW(inner.end(), MonitorError);
  }
  std::this_thread::sleep_for(100ms);
  const Measurement outer = monitor.end_window("outer");
  const Measurement overlap = monitor.end_window("overlap");
  expect_known_power(outer);
  expect_known_power(overlap);
  EXPECT_GT(outer.time_s, overlap.time_s);
  EXPECT_GT(outer.total_j, overlap.total_j);
}

TEST_F(KnownPower, NamesAreCheckedWithClearErrors) {
  Monitor monitor(powercap());
  monitor.begin_window("a");
  try {
    monitor.begin_window("a");
    FAIL() << "a second begin of an open window was accepted";
  } catch (const MonitorError& e) {
    EXPECT_STREQ(e.what(), "window 'a' is already open: end it before beginning it again");
  }
  monitor.end_window("a");
  try {
    monitor.end_window("a");
    FAIL() << "a second end was accepted";
  } catch (const MonitorError& e) {
    EXPECT_STREQ(e.what(), "window 'a' has already ended");
  }
  try {
    monitor.end_window("never");
    FAIL() << "the end of a window never begun was accepted";
  } catch (const MonitorError& e) {
    EXPECT_STREQ(e.what(), "no window 'never' is open: begin_window opens it");
  }
  EXPECT_THROW(monitor.begin_window(""), MonitorError);
  // Once ended, a name may be used again.
  monitor.begin_window("a");
  EXPECT_NO_THROW(monitor.end_window("a"));

  MonitorOptions unknown;
  unknown.sources = {"rapl-magic"};
  try {
    Monitor bad(unknown);
    FAIL() << "an unknown source was accepted";
  } catch (const MonitorError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown source 'rapl-magic'"), std::string::npos) << e.what();
  }
  MonitorOptions no_interval = powercap();
  no_interval.interval = 0s;
  EXPECT_THROW(Monitor{no_interval}, MonitorError);
}

TEST_F(KnownPower, WindowsFromSeveralThreadsAtOnce) {
  Monitor monitor(powercap());
  std::vector<std::thread> threads;
  std::vector<Measurement> results(4);
  for (std::size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      const std::string name = "thread-" + std::to_string(t);
      for (int i = 0; i < 20; ++i) {
        monitor.begin_window(name);
        std::this_thread::sleep_for(5ms);
        results[t] = monitor.end_window(name);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& m : results) {
    EXPECT_GE(m.time_s, 0.005);
    EXPECT_GT(m.total_j, 0.0);
  }
}

TEST_F(KnownPower, TrackedCallsAreSummed) {
  Monitor monitor(powercap());
  for (int i = 0; i < 5; ++i) {
    TrackedCall call = monitor.begin_call("step");
    std::this_thread::sleep_for(40ms);
    monitor.end_call(std::move(call));
  }
  const Totals steps = monitor.totals("step");
  EXPECT_EQ(steps.calls, 5U);
  EXPECT_NEAR(steps.time_s, 0.2, 0.08);
  expect_known_power(steps);
  EXPECT_EQ(monitor.tracked(), std::vector<std::string>{"step"});
  EXPECT_EQ(monitor.totals("other").calls, 0U);
  TrackedCall ended = monitor.begin_call("step");
  monitor.end_call(std::move(ended));
  EXPECT_THROW(monitor.end_call(std::move(ended)), MonitorError);  // NOLINT: used after move on purpose
}

TEST_F(KnownPower, AnIdleBaselineGivesDynamicEnergy) {
  MonitorOptions options = powercap();
  options.idle = 300ms;
  Monitor monitor(options);  // idle at kWatts
  ASSERT_TRUE(monitor.idle_power_w().contains("cpu"));
  EXPECT_NEAR(monitor.idle_power_w().at("cpu"), kWatts, 0.01 * kWatts);
  counter_.set_watts(kWatts + 25.0);
  monitor.begin_window("busy");
  std::this_thread::sleep_for(300ms);
  const Measurement m = monitor.end_window("busy");
  expect_known_power(m, kWatts + 25.0);
  ASSERT_TRUE(m.dynamic_energy_j.contains("cpu"));
  EXPECT_NEAR(m.dynamic_energy_j.at("cpu"), 25.0 * m.time_s, 0.02 * (kWatts + 25.0) * m.time_s);
  ASSERT_TRUE(m.dynamic_total_j);
  EXPECT_NEAR(*m.dynamic_total_j, m.dynamic_energy_j.at("cpu"), 1e-9);
}

TEST_F(KnownPower, EdgesCallTheHookBeforeReading) {
  MonitorOptions options = powercap();
  int edges = 0;
  options.at_edge = [&] { ++edges; };
  Monitor monitor(options);
  monitor.begin_window("w");
  monitor.end_window("w");
  TrackedCall call = monitor.begin_call("c");
  monitor.end_call(std::move(call));
  EXPECT_EQ(edges, 4);
}

TEST_F(KnownPower, AForkedChildMustMakeItsOwn) {
  Monitor monitor(powercap());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      monitor.begin_window("child");
    } catch (const MonitorError&) {
      ::_exit(0);
    }
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child used its parent's Monitor";
}

TEST_F(KnownPower, ACounterThatNeverAdvancesMeasuresNothingEvenInShortWindows) {
  // A platform zone that reads the same forever (a VM's psys): no window is a measurement of it.
  testing::make_powercap_zone(sysfs_.path() / "class" / "powercap" / "intel-rapl:1", "psys", 5'000'000,
                              262'143'328'850);
  Monitor monitor(powercap());
  ASSERT_EQ(monitor.sources().count("psys"), 1U);
  monitor.begin_window("long");
  std::this_thread::sleep_for(150ms);
  const Measurement long_window = monitor.end_window("long");
  monitor.begin_window("short");  // too short to judge alone; the counter's history judges it
  std::this_thread::sleep_for(10ms);
  const Measurement short_window = monitor.end_window("short");
  expect_known_power(long_window);  // the counter is written every millisecond: 10 ms is too short
  for (const Measurement* m : {&long_window, &short_window}) {
    EXPECT_FALSE(m->energy_j.contains("psys")) << m->to_json();
    EXPECT_FALSE(m->complete.at("psys"));
    EXPECT_TRUE(m->complete.at("cpu"));
    EXPECT_NE(m->to_json().find("did not advance"), std::string::npos) << m->to_json();
  }
}

// The machine as it is: whatever sources it has, unredirected (the estimate on a VM).
TEST(MonitorOnThisMachine, GivesFiniteLabelledFigures) {
  ::unsetenv("JOULEBENCH_EVENTS_FD");
  Monitor monitor;
  monitor.begin_window("spin");
  const auto until = std::chrono::steady_clock::now() + 200ms;
  volatile double x = 1;
  while (std::chrono::steady_clock::now() < until) x = std::sqrt(x + 1.0);
  const Measurement m = monitor.end_window("spin");
  EXPECT_GT(m.time_s, 0.19);
  for (const auto& [domain, joules] : m.energy_j) {
    EXPECT_TRUE(std::isfinite(joules)) << domain;
    EXPECT_GE(joules, 0.0) << domain;
    EXPECT_EQ(m.estimated.at(domain), m.sources.at(domain) == "estimate") << domain;
  }
  EXPECT_GE(m.total_j, 0.0);
}

TEST(MonitorProtocol, RepliesReadBackExactly) {
  std::vector<Channel> channels(2);
  channels[0] = {"cpu-0", Domain::cpu, 0, "rapl-powercap", Method::counter, false, "intel-rapl:0"};
  channels[1] = {"dram-0", Domain::dram, 0, "estimate", Method::model, true, "ccf \"linear\""};
  const std::string hello = protocol::hello_reply(7, channels, Seconds(0.05));
  EXPECT_EQ(hello.back(), '\n');
  EXPECT_EQ(protocol::reply_number(hello), 7U);
  const protocol::Hello read = protocol::parse_hello(hello);
  ASSERT_EQ(read.channels.size(), 2U);
  EXPECT_EQ(read.channels[1].id, "dram-0");
  EXPECT_EQ(read.channels[1].domain, Domain::dram);
  EXPECT_EQ(read.channels[1].method, Method::model);
  EXPECT_TRUE(read.channels[1].estimated);
  EXPECT_EQ(read.channels[1].origin, "ccf \"linear\"");
  EXPECT_DOUBLE_EQ(read.interval.count(), 0.05);

  Meter::Mark mark{Seconds(1.25), {Joules(10.5), Joules(0.1 + 0.2)}, {Seconds(0), Seconds(0.3)}, {"", "lost"}};
  const std::string line = protocol::mark_reply(8, mark);
  EXPECT_EQ(protocol::reply_number(line), 8U);
  const Meter::Mark back = protocol::parse_mark(line, 2);
  EXPECT_EQ(back.time, mark.time);
  EXPECT_EQ(back.energy[1].value, mark.energy[1].value);  // exactly: the JSON keeps every bit
  EXPECT_EQ(back.unmeasured[1], mark.unmeasured[1]);
  EXPECT_EQ(back.problems[1], "lost");
  EXPECT_THROW(protocol::parse_mark(line, 3), std::invalid_argument);
  EXPECT_THROW(protocol::parse_hello("{\"reply\":1}"), std::invalid_argument);
  EXPECT_FALSE(protocol::reply_number("not json"));
}

TEST(MonitorProtocol, RequestsAreEventsWithAReplyNumber) {
  const auto begin = parse_event_line(R"({"event":"begin","region":"train","reply":3})");
  ASSERT_TRUE(begin);
  EXPECT_EQ(begin->kind, WorkloadEvent::Kind::region_begin);
  EXPECT_EQ(begin->reply, 3U);
  const auto plain = parse_event_line(R"({"event":"end","region":"train"})");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->reply);
  const auto mark = parse_event_line(R"({"event":"mark","reply":4})");
  ASSERT_TRUE(mark);
  EXPECT_EQ(mark->kind, WorkloadEvent::Kind::mark);
  const auto hello = parse_event_line(R"({"event":"hello","reply":1})");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->kind, WorkloadEvent::Kind::hello);
  // A request nobody waits for, or a number that is not a whole one, is malformed.
  EXPECT_FALSE(parse_event_line(R"({"event":"mark"})"));
  EXPECT_FALSE(parse_event_line(R"({"event":"mark","reply":-1})"));
  EXPECT_FALSE(parse_event_line(R"({"event":"begin","region":"x","reply":"2"})"));
}

}  // namespace
}  // namespace joulebench
