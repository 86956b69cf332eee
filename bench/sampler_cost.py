#!/usr/bin/env python3
"""The Python sampler's own cost, where it is highest, measured without the noise of whole runs.

A main thread that runs pure Python holds the GIL all the time, so every sample (every 5 ms) has to
take the GIL from it: the worst case for joulebench_profile.py's sampler. This runs a fixed amount
of such work in short trials, alternating sampler off and on inside one process (the order flips
each trial), so drift of the machine cancels out of the paired ratios; whole-run comparisons
(bench/profile_overhead.sh) scatter by 10 % or more from run to run on a shared VM.

    python3 bench/sampler_cost.py [--trials 40] [--trial-seconds 0.25] [--interval-ms 5] [--depth 0] [HELPER]
    python3 bench/sampler_cost.py --import-module torch [HELPER]
    python3 bench/sampler_cost.py --memory-seconds 5 [--depth 20] [HELPER]

HELPER is joulebench_profile.py (default: build/joulebench_profile.py). Prints the median trial
time off and on, the median of the paired on/off ratios with its spread, the sampler thread's own
CPU time per sample, and what turning the samples into trace records costs the main thread at exit.
"""
import argparse
import importlib.util
import statistics
import sys
import time


def load_sampler(path):
    spec = importlib.util.spec_from_file_location("joulebench_profile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Sampler


def flat_work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def work(n, depth=0):
    """flat_work under `depth` extra frames: each sample walks (and materialises) the whole stack."""
    if depth > 0:
        return work(n, depth - 1)
    return flat_work(n)


def sample_count(sampler):
    # Launchers before 2026-11-28 kept a list of samples: the same figures, measured side by side.
    return sampler.sample_count() if hasattr(sampler, "sample_count") else len(sampler.samples)


def import_cost(Sampler, module, interval_ms):
    """An import's stacks are deep, change all the time and hold modules' code: the case where
    turning samples into records costs most."""
    sampler = Sampler(int(interval_ms * 1e6), __file__)
    start = time.perf_counter()
    sampler.start()
    importlib.import_module(module)
    sampler.stop()
    imported_s = time.perf_counter() - start
    start = time.perf_counter()
    stacks = {record.rsplit("\t", 1)[1] for record in sampler.records()}
    records_s = time.perf_counter() - start
    samples = sample_count(sampler)
    print(f"import {module} under the sampler: {imported_s:.3f} s, {samples} samples, {len(stacks)} distinct stacks")
    print(f"  trace records at exit, in the main thread: {records_s * 1e3:.1f} ms, "
          f"{records_s / max(samples, 1) * 1e6:.1f} us per sample")


def memory_cost(Sampler, seconds, depth):
    """What the samples hold in memory until exit, per sample (tracemalloc, which slows the work)."""
    import tracemalloc

    tracemalloc.start()
    sampler = Sampler(1_000_000, __file__)  # 1 ms: many samples in a short run
    before = tracemalloc.get_traced_memory()[0]
    sampler.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        work(20_000, depth)
    sampler.stop()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    samples = sample_count(sampler)
    print(f"{samples} samples {depth} frames deep: {held / max(samples, 1):.0f} bytes held per sample")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("helper", nargs="?", default="build/joulebench_profile.py")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--trial-seconds", type=float, default=0.25)
    parser.add_argument("--interval-ms", type=float, default=5.0)
    parser.add_argument("--depth", type=int, default=0,
                        help="frames under the work (an import or a deep call chain has 50 to 100)")
    parser.add_argument("--import-module", metavar="NAME",
                        help="instead: import NAME under the sampler and time the trace records")
    parser.add_argument("--memory-seconds", type=float, metavar="S",
                        help="instead: sample for S seconds every 1 ms and measure the memory the samples hold")
    options = parser.parse_args()
    Sampler = load_sampler(options.helper)
    if options.import_module:
        return import_cost(Sampler, options.import_module, options.interval_ms)
    if options.memory_seconds:
        return memory_cost(Sampler, options.memory_seconds, options.depth)
    default_switch = sys.getswitchinterval()

    # Calibrate the work to the trial length with the sampler off.
    n = 100_000
    while True:
        start = time.perf_counter()
        work(n)
        if time.perf_counter() - start >= options.trial_seconds / 4:
            break
        n *= 2
    n = int(n * options.trial_seconds / (time.perf_counter() - start))

    off, on, ratios, samples, sampler_cpu, records_s = [], [], [], 0, 0.0, 0.0
    for trial in range(options.trials):
        times = {}
        for sampled in ((False, True) if trial % 2 == 0 else (True, False)):
            sampler = None
            if sampled:
                sampler = Sampler(int(options.interval_ms * 1e6), __file__)
                sampler.start()
            start = time.perf_counter()
            work(n, options.depth)
            times[sampled] = time.perf_counter() - start
            if sampler is not None:
                sampler.stop()
                samples += sample_count(sampler)
                sampler_cpu += getattr(sampler, "cpu_s", 0.0)
                # What the main thread pays at exit: turning the samples into trace records.
                start = time.perf_counter()
                for _ in sampler.records():
                    pass
                records_s += time.perf_counter() - start
            sys.setswitchinterval(default_switch)  # what an unprofiled program runs with
        off.append(times[False])
        on.append(times[True])
        ratios.append(times[True] / times[False])

    q = statistics.quantiles(ratios, n=4)
    print(f"pure-Python main thread {options.depth} frames deep, {options.trials} paired trials of {statistics.median(off):.3f} s, "
          f"sampler every {options.interval_ms:g} ms")
    print(f"  median trial: off {statistics.median(off):.4f} s, on {statistics.median(on):.4f} s")
    print(f"  inflation (median of paired ratios): {(statistics.median(ratios) - 1) * 100:+.2f} % "
          f"(quartiles {(q[0] - 1) * 100:+.2f} % .. {(q[2] - 1) * 100:+.2f} %)")
    print(f"  samples taken: {samples} ({samples / max(sum(on), 1e-9):.0f} per second)")
    if sampler_cpu:
        print(f"  sampler thread CPU: {sampler_cpu / max(samples, 1) * 1e6:.1f} us per sample, "
              f"{sampler_cpu / sum(on) * 100:.2f} % of the sampled time")
    print(f"  trace records at exit, in the main thread: {records_s / max(samples, 1) * 1e6:.1f} us per sample")


if __name__ == "__main__":
    main()
