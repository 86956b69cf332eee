"""The in-program API's cost from Python: time per begin_window/end_window pair, per `with
mon.measure()` block and per call of a function decorated with mon.track(), beside the same pairs
made straight on the compiled core (mon._core.begin_window/end_window and begin_call/end_call: the
binding without the Python layer) and a call of an undecorated function (Python's own floor). The
same three setups as bench/monitor_overhead.cpp: a fake powercap tree (made here, in a temporary directory named by JOULEBENCH_SYSFS_ROOT), the
estimate over this machine's /proc/stat, and the machine's default sources. A bare read of the
sources is not reachable from Python: build/bench/monitor_overhead gives it.

Every round measures every setup and kind once, in a rotating order; each figure is the median over
rounds of (clock difference over a batch) / batch size: the calling thread's CPU
(time.thread_time_ns), the process's CPU (time.process_time_ns: adds the meter threads) and wall
time (time.perf_counter_ns). The goal (issue 21): a begin/end pair costs at most 50 us of CPU.

    PYTHONPATH=build/python /usr/bin/python3 bench/monitor_overhead.py [--quick] [--rounds N] [--pairs N]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import joulebench

GOAL_US = 50.0
RANGE_UJ = 262143328850


class FakePowercap:
    """class/powercap/intel-rapl:0 (package-0) and intel-rapl:0:0 (dram), as tests/fakes makes them."""

    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="monitor-overhead-")
        self.root = os.path.join(self._dir.name, "sys")
        self._zones = []
        for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "dram")):
            d = os.path.join(self.root, "class", "powercap", zone)
            os.makedirs(d)
            with open(os.path.join(d, "name"), "w") as f:
                f.write(name + "\n")
            with open(os.path.join(d, "max_energy_range_uj"), "w") as f:
                f.write("%d\n" % RANGE_UJ)
            path = os.path.join(d, "energy_uj")
            self._zones.append([path, 1000000, 50000 if name.startswith("package") else 10000])
            self._write(path, 1000000)

    @staticmethod
    def _write(path, value):
        # Fixed width, in place: the source keeps the file open and preads it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, ("%20d\n" % value).encode(), 0)
        finally:
            os.close(fd)

    def advance(self):
        """The counters move between batches, as real ones do, so the meter never finds them stalled."""
        for zone in self._zones:
            zone[1] += zone[2]
            self._write(zone[0], zone[1])

    def close(self):
        self._dir.cleanup()


def noop():
    return None


class Setup:
    def __init__(self, label, sources, fake=None):
        self.label = label
        self.fake = fake
        if fake is not None:
            os.environ["JOULEBENCH_SYSFS_ROOT"] = fake.root
        try:
            self.monitor = joulebench.Monitor(sources=sources)
        finally:
            os.environ.pop("JOULEBENCH_SYSFS_ROOT", None)
        self.tracked = self.monitor.track("step")(noop)
        self.samples = {kind: [] for kind, _ in KINDS}


def window_pair(s, n):
    mon = s.monitor
    for _ in range(n):
        mon.begin_window("w")
        mon.end_window("w")


def measure_block(s, n):
    mon = s.monitor
    for _ in range(n):
        with mon.measure("w"):
            pass


def core_pair(s, n):
    core = s.monitor._core
    for _ in range(n):
        core.begin_window("w")
        core.end_window("w")


def core_call(s, n):
    core = s.monitor._core
    for _ in range(n):
        core.end_call(core.begin_call("step"))


def tracked_call(s, n):
    f = s.tracked
    for _ in range(n):
        f()


def plain_call(s, n):
    f = noop
    for _ in range(n):
        f()


KINDS = [
    ("begin_window+end_window", window_pair),
    ("with mon.measure()", measure_block),
    ("@mon.track call", tracked_call),
    ("_core begin+end_window", core_pair),
    ("_core begin+end_call", core_call),
    ("plain call (floor)", plain_call),
]
# Each Python-level pair, and the same pair made straight on the compiled core.
PAIRS = {
    "begin_window+end_window": "_core begin+end_window",
    "with mon.measure()": "_core begin+end_window",
    "@mon.track call": "_core begin+end_call",
    "_core begin+end_window": None,
    "_core begin+end_call": None,
}


def run_batch(s, kind, body, n):
    if s.fake is not None:
        s.fake.advance()
    t0, p0, w0 = time.thread_time_ns(), time.process_time_ns(), time.perf_counter_ns()
    body(s, n)
    w1, p1, t1 = time.perf_counter_ns(), time.process_time_ns(), time.thread_time_ns()
    return ((t1 - t0) / n / 1e3, (p1 - p0) / n / 1e3, (w1 - w0) / n / 1e3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds x 200 pairs")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--pairs", type=int, default=2000)
    args = parser.parse_args()
    rounds, pairs = (5, 200) if args.quick else (max(1, args.rounds), max(1, args.pairs))

    fake = FakePowercap()
    try:
        setups = [
            Setup("rapl-powercap (fake tree)", ["rapl-powercap"], fake),
            Setup("estimate (/proc/stat)", ["estimate"]),
            Setup("default sources (all)", None),
        ]
        if any(s.monitor.under_joulebench for s in setups):
            sys.exit("monitor_overhead.py: run it on its own, not under joulebench (its Monitors would ask it)")

        print("Python Monitor cost per begin/end pair (%s, joulebench from %s)" %
              (sys.version.split()[0], os.path.dirname(joulebench.__file__)))
        print("%d rounds x %d pairs (or calls) per setup and kind, interleaved; medians over rounds" % (rounds, pairs))
        for s in setups:
            print("  %-26s %s" % (s.label, ", ".join("%s=%s" % kv for kv in sorted(s.monitor.sources.items()))))

        for s in setups:  # warm-up
            for kind, body in KINDS:
                run_batch(s, kind, body, max(1, pairs // 10))
        for r in range(rounds):
            for i in range(len(setups)):
                s = setups[(i + r) % len(setups)]
                for k in range(len(KINDS)):
                    kind, body = KINDS[(k + r) % len(KINDS)]
                    s.samples[kind].append(run_batch(s, kind, body, pairs))

        print()
        print("%-26s %-24s %10s %15s %11s %9s %12s" %
              ("setup", "what", "thread CPU", "(p25-p75)", "process CPU", "wall", "- _core same"))
        print("%-26s %-24s %10s %15s %11s %9s %12s" % ("", "", "us", "us", "us", "us", "us (thread)"))
        worst = (0.0, 0.0, "")
        for s in setups:
            for n, (kind, _) in enumerate(KINDS):
                thread = [x[0] for x in s.samples[kind]]
                t = statistics.median(thread)
                p = statistics.median(x[1] for x in s.samples[kind])
                w = statistics.median(x[2] for x in s.samples[kind])
                q = statistics.quantiles(thread, n=4) if len(thread) > 1 else [t, t, t]
                base = PAIRS.get(kind)
                extra = "%.2f" % (t - statistics.median(x[0] for x in s.samples[base])) if base else ""
                print("%-26s %-24s %10.2f %15s %11.2f %9.2f %12s" %
                      (s.label if n == 0 else "", kind, t, "%.2f-%.2f" % (q[0], q[2]), p, w, extra))
                if kind in PAIRS and t > worst[0]:
                    worst = (t, p, "%s, %s" % (s.label, kind))
        print()
        print("(- _core same: what the Python layer adds to the same pair made straight on the binding; the C++")
        print("figures and the bare read of the sources: build/bench/monitor_overhead.)")
        print("%s %.0f us of CPU: the costliest median begin/end pair (%s) takes %.2f us of the calling thread's "
              "CPU (%.2f us of the process's)" % ("WITHIN" if worst[0] <= GOAL_US else "OVER", GOAL_US, worst[2],
                                                   worst[0], worst[1]))
    finally:
        fake.close()


if __name__ == "__main__":
    main()
