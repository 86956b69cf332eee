"""What a Monitor's window and tracked call cost under joulebench, where each edge is a round trip on
the events channel (docs/overhead.md). Run it under joulebench:

    PYTHONPATH=build/python build/joulebench measure --format json -o /tmp/rt.json -- \
        /usr/bin/python3 bench/monitor_round_trip.py
"""
import time, joulebench
mon = joulebench.Monitor()
assert mon.under_joulebench
def bench(n, f):
    t0, w0 = time.thread_time_ns(), time.perf_counter_ns()
    for _ in range(n): f()
    return (time.thread_time_ns() - t0) / n / 1e3, (time.perf_counter_ns() - w0) / n / 1e3
def window():
    mon.begin_window("w"); mon.end_window("w")
@mon.track("t")
def call(): pass
res = {"window": [], "call": []}
for r in range(7):
    res["window"].append(bench(300, window)); res["call"].append(bench(300, call))
import statistics
for k, v in res.items():
    print(f"{k}: thread CPU median {statistics.median(x for x,_ in v):.1f} us, wall median {statistics.median(y for _,y in v):.1f} us per pair")
