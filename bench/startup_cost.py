#!/usr/bin/env python3
"""What the Python sampler adds to a whole command, start-up and exit included, with an interval.

A start-up (`import torch`) is where the sampler costs most: deep stacks that change all the time,
long stretches in which the main thread holds the GIL. This runs the script bare and under each
launcher given, in rounds (each round runs every command once, in an order rotated from round to
round, so drift of the machine spreads evenly), and prints for each launcher the median of its
per-round ratios to the bare run, for wall-clock time and for the command's CPU time (all threads),
each with a 95 % bootstrap interval.

    python3 bench/startup_cost.py [--rounds 40] [--helper PATH]... [--external JOULEBENCH]
                                  [--python PY] -- SCRIPT [ARGS]

--helper (repeat it to set launchers side by side, such as a modified copy) is an in-process
sampler, run as `PY HELPER --mode python --out TRACE -- SCRIPT ARGS`. --external is a joulebench
executable whose sampler reads the program from outside: `JOULEBENCH python-sampler --out TRACE --
PY SCRIPT ARGS`. Without either, build/joulebench_profile.py and build/joulebench are measured. PY
defaults to /usr/bin/python3, the interpreter that has PyTorch on Debian.
"""
import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def run_once(command):
    """Wall-clock seconds and CPU seconds (user + system, all threads) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def paired(profiled, bare, rng):
    """Median of per-round ratios, as a percentage change, with a 95 % bootstrap interval."""
    ratios = [p / b for p, b in zip(profiled, bare)]
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    return tuple((r - 1) * 100 for r in (statistics.median(ratios), medians[49], medians[1949]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--helper", action="append", default=[], help="an in-process launcher to measure (repeatable)")
    parser.add_argument("--external", action="append", default=[], help="a joulebench whose external sampler to measure")
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    if options.rounds < 2:
        parser.error("--rounds must be 2 or more")
    helpers, externals = options.helper, options.external
    if not helpers and not externals:
        helpers, externals = ["build/joulebench_profile.py"], ["build/joulebench"]
    for path in helpers + externals:
        if not os.path.exists(path):
            parser.error("no such file: %s" % path)
    target = [options.script] + options.args

    with tempfile.TemporaryDirectory() as work:
        commands = {"bare": [options.python] + target}
        for i, helper in enumerate(helpers):
            trace = os.path.join(work, "trace%d" % i)
            commands[helper] = [options.python, helper, "--mode", "python", "--out", trace, "--"] + target
        for i, joulebench in enumerate(externals):
            trace = os.path.join(work, "external%d" % i)
            commands[joulebench] = [joulebench, "python-sampler", "--out", trace, "--", options.python] + target
        names = list(commands)
        run_once(commands["bare"])  # a first run fills the page cache; not counted
        times = {name: [] for name in names}
        for round_number in range(options.rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(run_once(commands[name]))
        # An external sampler that cannot read this interpreter runs the program without sampling
        # it: its figure would be the wrapper's alone.
        unread = {}
        for i, joulebench in enumerate(externals):
            with open(os.path.join(work, "external%d" % i), encoding="utf-8") as trace:
                text = trace.read()
            if "\ns\t" not in text:
                unread[joulebench] = next((line for line in text.splitlines() if line.startswith("# stopped")), "no samples")

    rng = random.Random(42)  # the interval's resampling is reproducible
    bare = times["bare"]
    print(f"{' '.join(target)}: {options.rounds} rounds, bare median {statistics.median(w for w, _ in bare):.3f} s wall, "
          f"{statistics.median(c for _, c in bare):.3f} s CPU")
    for helper in helpers + externals:
        runs = times[helper]
        wall = paired([w for w, _ in runs], [w for w, _ in bare], rng)
        cpu = paired([c for _, c in runs], [c for _, c in bare], rng)
        kind = "in-process" if helper in helpers else "external"
        if helper in unread:
            print(f"  {kind} {helper}: sampled nothing ({unread[helper]}): left out")
            continue
        print(f"  {kind} {helper}: median {statistics.median(w for w, _ in runs):.3f} s wall; paired "
              f"{wall[0]:+.1f} % (95 % {wall[1]:+.1f} .. {wall[2]:+.1f}), CPU {cpu[0]:+.1f} % "
              f"(95 % {cpu[1]:+.1f} .. {cpu[2]:+.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
