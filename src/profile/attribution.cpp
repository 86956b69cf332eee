// Attribution: a trace's time, and the run's measured energy, per function (the rule is in
// include/joulebench/profile.hpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>

#include "joulebench/profile.hpp"

namespace joulebench {

namespace {

constexpr double kNanosecond = 1e-9;

/// A stretch of one thread's time charged to one stack (a sample's span, an interval's self time).
struct Piece {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::uint64_t thread = 0;
  std::uint32_t stack = 0;
  // Accumulated by the sweep:
  double energy_j = 0;
  double idle_j = 0;
  double unmeasured_s = 0;
};

/// `cpu_time_period`: perf's samples come every `interval_ns` of the thread's CPU time, so each
/// stands for exactly that much on-CPU time, just before it; a wall-clock sampler's stand for the
/// wall time until the thread's next sample.
std::vector<Piece> sample_pieces(const Trace& trace, std::int64_t interval_ns, bool cpu_time_period) {
  std::vector<TraceSample> samples = trace.samples;
  std::stable_sort(samples.begin(), samples.end(), [](const TraceSample& a, const TraceSample& b) {
    return a.thread != b.thread ? a.thread < b.thread : a.time_ns < b.time_ns;
  });
  std::vector<Piece> pieces;
  pieces.reserve(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    if (cpu_time_period) {
      pieces.push_back({s.time_ns - interval_ns, s.time_ns, s.thread, s.stack, 0, 0, 0});
      continue;
    }
    std::int64_t span = interval_ns;
    if (i + 1 < samples.size() && samples[i + 1].thread == s.thread) {
      span = std::min(samples[i + 1].time_ns - s.time_ns, 2 * interval_ns);
    }
    if (span > 0) pieces.push_back({s.time_ns, s.time_ns + span, s.thread, s.stack, 0, 0, 0});
  }
  return pieces;
}

/// Self time of intervals: per thread, the innermost open interval owns the time.
std::vector<Piece> interval_pieces(const Trace& trace) {
  std::vector<TraceInterval> intervals = trace.intervals;
  std::stable_sort(intervals.begin(), intervals.end(), [](const TraceInterval& a, const TraceInterval& b) {
    if (a.thread != b.thread) return a.thread < b.thread;
    if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
    return a.end_ns > b.end_ns;  // the enclosing one first
  });
  std::vector<Piece> pieces;
  std::vector<const TraceInterval*> open;
  std::int64_t cursor = 0;
  const auto emit = [&](const TraceInterval& owner, std::int64_t from, std::int64_t to) {
    if (to > from) pieces.push_back({from, to, owner.thread, owner.stack, 0, 0, 0});
  };
  const auto close_until = [&](std::int64_t time) {
    while (!open.empty() && open.back()->end_ns <= time) {
      emit(*open.back(), cursor, open.back()->end_ns);
      cursor = std::max(cursor, open.back()->end_ns);
      open.pop_back();
    }
  };
  for (std::size_t i = 0; i < intervals.size(); ++i) {
    const auto& iv = intervals[i];
    if (i > 0 && intervals[i - 1].thread != iv.thread) {
      close_until(std::numeric_limits<std::int64_t>::max());
    }
    close_until(iv.start_ns);
    if (!open.empty()) emit(*open.back(), cursor, iv.start_ns);
    cursor = iv.start_ns;
    open.push_back(&iv);
  }
  close_until(std::numeric_limits<std::int64_t>::max());
  return pieces;
}

/// Splits "a;b;c" into frames.
std::vector<std::string_view> frames_of(std::string_view stack) {
  std::vector<std::string_view> frames;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = stack.find(';', begin);
    frames.push_back(stack.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) return frames;
    begin = end + 1;
  }
}

/// Places the pieces on the power timeline: each timeline interval's power, split equally among
/// the pieces active at each instant. Returns the energy and time with no piece active.
struct Outside {
  double time_s = 0;
  double energy_j = 0;
  double idle_j = 0;
};

Outside sweep(std::vector<Piece>& pieces, const RunEnergy& run, std::optional<double> idle_w) {
  const PowerTimeline& timeline = run.timeline;
  const std::int64_t window_start = timeline.start_ns;
  const std::int64_t window_end = window_start + static_cast<std::int64_t>(std::llround(run.duration.count() * 1e9));
  struct Event {
    std::int64_t time;
    int change;  // -1: a piece ends, +1: it starts, 0: a window edge
    std::size_t piece;
  };
  std::vector<Event> events;
  events.reserve(2 * pieces.size() + 2);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    events.push_back({pieces[i].start_ns, +1, i});
    events.push_back({pieces[i].end_ns, -1, i});
  }
  events.push_back({window_start, 0, 0});
  events.push_back({window_end, 0, 0});
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.time != b.time ? a.time < b.time : a.change < b.change; });

  std::vector<std::size_t> active;
  std::vector<std::size_t> slot(pieces.size(), 0);
  std::size_t k = 0;  // the timeline interval at the sweep's time
  Outside outside;
  const auto power_between = [&](std::int64_t from, std::int64_t to, auto&& charge) {
    // Splits [from, to) at timeline interval edges; charge(seconds, watts or NaN).
    while (from < to) {
      if (from < window_start || k >= timeline.end_ns.size()) {
        const std::int64_t stop = from < window_start ? std::min(to, window_start) : to;
        charge(static_cast<double>(stop - from) * kNanosecond, std::numeric_limits<double>::quiet_NaN(), false);
        from = stop;
        continue;
      }
      while (k < timeline.end_ns.size() && timeline.end_ns[k] <= from) ++k;
      if (k >= timeline.end_ns.size()) continue;
      const std::int64_t stop = std::min(to, timeline.end_ns[k]);
      charge(static_cast<double>(stop - from) * kNanosecond, timeline.total_w[k], from < window_end);
      from = stop;
    }
  };
  std::int64_t time = events.empty() ? 0 : events.front().time;
  for (const Event& e : events) {
    if (e.time > time) {
      power_between(time, e.time, [&](double seconds, double watts, bool in_window) {
        const bool measured = std::isfinite(watts);
        if (active.empty()) {
          if (in_window) {
            outside.time_s += seconds;
            if (measured) {
              outside.energy_j += watts * seconds;
              if (idle_w) outside.idle_j += *idle_w * seconds;
            }
          }
          return;
        }
        const double share = seconds / static_cast<double>(active.size());
        for (const std::size_t i : active) {
          if (measured) {
            pieces[i].energy_j += watts * share;
            if (idle_w) pieces[i].idle_j += *idle_w * share;
          } else {
            pieces[i].unmeasured_s += seconds;
          }
        }
      });
      time = e.time;
    }
    if (e.change > 0) {
      slot[e.piece] = active.size();
      active.push_back(e.piece);
    } else if (e.change < 0) {
      const std::size_t at = slot[e.piece];
      active[at] = active.back();
      slot[active[at]] = at;
      active.pop_back();
    }
  }
  return outside;
}

bool by_cost(const FunctionCost& a, const FunctionCost& b) {
  const double ea = a.energy ? a.energy->value : -1;
  const double eb = b.energy ? b.energy->value : -1;
  if (ea != eb) return ea > eb;
  if (a.self_time != b.self_time) return a.self_time > b.self_time;
  return a.name < b.name;
}

void set_dynamic(FunctionCost& f) {
  if (f.energy && f.idle_energy) f.dynamic_energy = Joules(std::max(0.0, (*f.energy - *f.idle_energy).value));
}

Profile attribute_totals(const Trace& trace, Profile profile, const RunEnergy& run) {
  profile.records = trace.functions.size();
  std::optional<Watts> average;
  if (run.total && run.duration.count() > 0) {
    average = *run.total / run.duration;
    profile.energy_rule = "average power";
    profile.notes.push_back(
        "energy by average power: cProfile records no timestamps, so each function's energy is its self time x the "
        "run's average power");
  }
  Seconds self_sum{0};
  for (const auto& t : trace.functions) {
    FunctionCost f;
    f.name = t.name;
    f.calls = t.calls;
    f.self_time = Seconds(static_cast<double>(t.self_ns) * kNanosecond);
    f.total_time = Seconds(static_cast<double>(t.total_ns) * kNanosecond);
    self_sum += f.self_time;
    if (average) {
      f.energy = *average * f.self_time;
      f.total_energy = *average * f.total_time;
      if (run.idle_power) f.idle_energy = *run.idle_power * f.self_time;
      set_dynamic(f);
    }
    profile.functions.push_back(std::move(f));
  }
  profile.outside.self_time = std::max(Seconds(0), profile.run_time - self_sum);
  profile.outside.total_time = profile.outside.self_time;
  if (average) {
    profile.outside.energy = *average * profile.outside.self_time;
    if (run.idle_power) profile.outside.idle_energy = *run.idle_power * profile.outside.self_time;
    set_dynamic(profile.outside);
  }
  for (const auto& f : profile.functions) profile.folded.push_back({f.name, f.self_time, f.energy.value_or(Joules(0))});
  std::sort(profile.functions.begin(), profile.functions.end(), by_cost);
  return profile;
}

}  // namespace

PowerTimeline PowerTimeline::from_stored(const StoredTimeline& timeline, Clock::time_point start,
                                         std::span<const Channel> channels) {
  PowerTimeline out;
  out.start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count();
  std::vector<bool> in_total;
  for (const auto& id : timeline.channels) {
    const auto known = std::find_if(channels.begin(), channels.end(), [&](const Channel& c) { return c.id == id; });
    const auto dash = id.rfind('-');
    const auto domain =
        known != channels.end() ? known->domain : parse_domain(dash == std::string::npos ? id : id.substr(0, dash));
    in_total.push_back(domain && counts_toward_total(*domain));
  }
  const std::size_t n = timeline.channels.size();
  for (std::size_t k = 0; k < timeline.time_s.size(); ++k) {
    out.end_ns.push_back(out.start_ns + static_cast<std::int64_t>(std::llround(timeline.time_s[k] * 1e9)));
    double watts = 0;
    for (std::size_t c = 0; c < n; ++c) {
      if (in_total[c]) watts += static_cast<double>(timeline.power_w[k * n + c]);  // NaN stays NaN
    }
    out.total_w.push_back(watts);
  }
  return out;
}

void TimelineKeeper::begin(std::span<const Channel> channels) {
  for (const auto& c : channels) timeline.channels.push_back(c.id);
}

void TimelineKeeper::add(const TimelineSample& sample) {
  timeline.time_s.push_back(sample.time.count());
  for (const auto& c : sample.channels) {
    timeline.power_w.push_back(c.counted ? static_cast<float>(c.power.value) : std::numeric_limits<float>::quiet_NaN());
  }
}

RunEnergy run_energy(const MeterWindow& window, const StoredTimeline& timeline, const EnergyFigure* total) {
  RunEnergy run;
  run.start = window.start;
  run.duration = window.duration();
  run.timeline = PowerTimeline::from_stored(timeline, window.start, window.channels);
  if (total != nullptr && !total->source.empty()) {
    run.total = Joules(total->energy_j);
    if (total->idle_power_w) run.idle_power = Watts(*total->idle_power_w);
    run.estimated = total->estimated;
    run.source = total->source;
  }
  return run;
}

Profile attribute(const Trace& trace, ProfileMode mode, const RunEnergy& run, const AttributionOptions& options) {
  Profile profile;
  profile.mode = mode;
  profile.run_time = run.duration;
  profile.run_energy = run.total;
  profile.idle_power = run.idle_power;
  profile.estimated = run.estimated;
  profile.source = run.source;
  profile.outside.name = "(outside profiled functions)";
  if (run.estimated) {
    profile.notes.push_back(fmt::format("estimated: the energy comes from a model ({}), not a sensor", run.source));
  }
  if (!trace.functions.empty() && trace.samples.empty() && trace.intervals.empty())
    return attribute_totals(trace, profile, run);

  const std::int64_t interval_ns =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(options.interval.count() * 1e9)));
  std::vector<Piece> pieces;
  if (!trace.samples.empty()) {
    profile.interval = options.interval;
    pieces = sample_pieces(trace, interval_ns, mode == ProfileMode::perf);
    profile.records += trace.samples.size();
  }
  if (!trace.intervals.empty()) {
    auto more = interval_pieces(trace);
    pieces.insert(pieces.end(), more.begin(), more.end());
    profile.records += trace.intervals.size();
  }
  // No thread of the program runs outside the window that contains it: a last sample's span ends
  // with the window at the latest.
  if (run.duration.count() > 0 && !run.timeline.end_ns.empty()) {
    const std::int64_t window_end =
        run.timeline.start_ns + static_cast<std::int64_t>(std::llround(run.duration.count() * 1e9));
    for (auto& p : pieces) p.end_ns = std::min(p.end_ns, window_end);
    std::erase_if(pieces, [](const Piece& p) { return p.end_ns <= p.start_ns; });
  }
  std::set<std::uint64_t> threads;
  for (const auto& p : pieces) threads.insert(p.thread);
  profile.threads = threads.size();

  const bool with_energy = run.total.has_value() && !run.timeline.end_ns.empty();
  const std::optional<double> idle_w = run.idle_power ? std::optional<double>(run.idle_power->value) : std::nullopt;
  const Outside outside = sweep(pieces, run, idle_w);
  if (with_energy) profile.energy_rule = "timeline";

  // Per stack: its frames' function ids (distinct, for total time) and its leaf.
  std::map<std::string, std::size_t, std::less<>> function_ids;
  std::vector<FunctionCost> functions;
  struct StackInfo {
    std::vector<std::size_t> distinct;
    std::size_t leaf = 0;
    Seconds time{0};
    double energy_j = 0;
  };
  std::vector<StackInfo> stacks(trace.stacks.size());
  for (std::size_t s = 0; s < trace.stacks.size(); ++s) {
    for (const auto frame : frames_of(trace.stacks[s])) {
      auto [it, added] = function_ids.try_emplace(std::string(frame), functions.size());
      if (added) {
        functions.emplace_back();
        functions.back().name = std::string(frame);
      }
      if (std::find(stacks[s].distinct.begin(), stacks[s].distinct.end(), it->second) == stacks[s].distinct.end()) {
        stacks[s].distinct.push_back(it->second);
      }
      stacks[s].leaf = it->second;
    }
  }
  std::vector<double> self_energy(functions.size(), 0);
  std::vector<double> total_energy(functions.size(), 0);
  std::vector<double> idle_energy(functions.size(), 0);
  double unmeasured = 0;
  for (const auto& p : pieces) {
    const Seconds time(static_cast<double>(p.end_ns - p.start_ns) * kNanosecond);
    StackInfo& info = stacks[p.stack];
    info.time += time;
    info.energy_j += p.energy_j;
    FunctionCost& leaf = functions[info.leaf];
    leaf.self_time += time;
    self_energy[info.leaf] += p.energy_j;
    idle_energy[info.leaf] += p.idle_j;
    for (const std::size_t f : info.distinct) {
      functions[f].total_time += time;
      total_energy[f] += p.energy_j;
    }
    unmeasured += p.unmeasured_s;
  }
  // Calls: counted intervals per name, or the writer's own counts.
  if (!trace.intervals.empty()) {
    for (const auto& iv : trace.intervals) {
      FunctionCost& f = functions[stacks[iv.stack].leaf];
      f.calls = f.calls.value_or(0) + 1;
    }
  }
  for (const auto& [name, calls] : trace.call_counts) {
    if (const auto it = function_ids.find(name); it != function_ids.end()) functions[it->second].calls = calls;
  }
  for (std::size_t f = 0; f < functions.size(); ++f) {
    if (with_energy) {
      functions[f].energy = Joules(self_energy[f]);
      functions[f].total_energy = Joules(total_energy[f]);
      if (idle_w) functions[f].idle_energy = Joules(idle_energy[f]);
      set_dynamic(functions[f]);
    }
  }
  std::erase_if(functions, [](const FunctionCost& f) { return f.self_time.count() <= 0 && f.total_time.count() <= 0; });
  profile.functions = std::move(functions);

  profile.outside.self_time = Seconds(outside.time_s);
  profile.outside.total_time = profile.outside.self_time;
  if (with_energy) {
    profile.outside.energy = Joules(outside.energy_j);
    if (idle_w) profile.outside.idle_energy = Joules(outside.idle_j);
    set_dynamic(profile.outside);
  }
  for (std::size_t s = 0; s < stacks.size(); ++s) {
    if (stacks[s].time.count() > 0)
      profile.folded.push_back({trace.stacks[s], stacks[s].time, Joules(stacks[s].energy_j)});
  }
  if (with_energy && unmeasured > 0) {
    profile.notes.push_back(fmt::format(
        "{:.3f} s of profiled time fell where power was not measured (outside the window, or an unmeasured interval): "
        "it has no energy",
        unmeasured));
  }
  if (pieces.empty()) profile.notes.push_back("the trace holds no samples: the program ended before the first one");
  std::sort(profile.functions.begin(), profile.functions.end(), by_cost);
  return profile;
}

std::vector<FunctionCost> profile_rows(const Profile& profile, std::size_t top, double threshold) {
  const bool by_energy = profile.run_energy && profile.run_energy->value > 0;
  const auto share = [&](const FunctionCost& f) {
    if (by_energy) return f.energy ? f.energy->value / profile.run_energy->value : 0.0;
    return profile.run_time.count() > 0 ? f.self_time / profile.run_time : 0.0;
  };
  std::vector<FunctionCost> rows;
  FunctionCost other;
  other.name = "other";
  other.functions = 0;
  for (const auto& f : profile.functions) {
    // Frames that only enclose others (no self time) are in the totals, not among the rows.
    if (f.self_time.count() <= 0 && (!f.energy || f.energy->value <= 0)) continue;
    if ((top == 0 || rows.size() < top) && share(f) >= threshold) {
      rows.push_back(f);
      continue;
    }
    other.functions += 1;
    other.self_time += f.self_time;
    if (f.calls) other.calls = other.calls.value_or(0) + *f.calls;
    const auto add = [](std::optional<Joules>& into, const std::optional<Joules>& value) {
      if (value) into = into.value_or(Joules(0)) + *value;
    };
    add(other.energy, f.energy);
    add(other.idle_energy, f.idle_energy);
    add(other.dynamic_energy, f.dynamic_energy);
  }
  if (other.functions > 0) {
    other.name = fmt::format("other ({} functions)", other.functions);
    rows.push_back(other);
  }
  if (profile.outside.self_time.count() > 0 || (profile.outside.energy && profile.outside.energy->value > 0)) {
    rows.push_back(profile.outside);
  }
  return rows;
}

namespace {
std::optional<double> optional_joules(const std::optional<Joules>& e) {
  return e ? std::optional<double>(e->value) : std::nullopt;
}
}  // namespace

StoredProfile stored_profile(const Profile& profile) {
  StoredProfile s;
  s.mode = std::string(profile_mode_name(profile.mode));
  s.energy_rule = profile.energy_rule;
  s.estimated = profile.estimated;
  s.interval_s = profile.interval.count();
  const auto add = [&](const FunctionCost& f) {
    s.functions.push_back({f.name, f.calls, f.self_time.count(), f.total_time.count(), optional_joules(f.energy),
                           optional_joules(f.total_energy), optional_joules(f.idle_energy),
                           optional_joules(f.dynamic_energy)});
  };
  for (const auto& f : profile.functions) add(f);
  if (profile.outside.self_time.count() > 0) add(profile.outside);
  return s;
}

}  // namespace joulebench
