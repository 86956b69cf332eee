"""Python.Monitor: `import joulebench` (python/joulebench/__init__.py over python/binding.cpp) measures
what the C++ Monitor measures, with the Python layer's context manager, decorator and CUDA edges.

Most tests read a fake powercap tree at a power they set: a thread advances the zone's energy_uj in
place, as the kernel does, so a window's energy must be that power times the window's time.

    PYTHONPATH=build/python /usr/bin/python3 tests/python/test_monitor.py -v   (ctest: Python.Monitor)
"""

import json
import math
import os
import sys
import tempfile
import threading
import time
import types
import unittest

import joulebench

# The fake counter's thread must get the interpreter within a millisecond or so of waking, or the
# counter lags the time the Monitor reads it at.
sys.setswitchinterval(0.0005)

# The fields of every entry of `joulebench measure --json`'s run.energy (src/result/json_output.cpp,
# figure_json); a Measurement's to_dict()["energy"] is the same list.
MEASURE_JSON_ENERGY_KEYS = {
    "domain", "energy_j", "average_power_w", "measured", "source", "method", "estimated", "complete",
    "unmeasured_s", "counted_in_total",
}
# Those figure_json writes only where they apply (the total; a problem; an idle baseline).
MEASURE_JSON_OPTIONAL_KEYS = {
    "partly_estimated", "problem", "idle_power_w", "dynamic_energy_j", "below_idle", "attributed_energy_j",
}

RANGE_UJ = 262143328850  # a real package zone's max_energy_range_uj: no wrap within a test


class FakePowercap:
    """class/powercap/intel-rapl:0 ("package-0": the cpu domain) under a temporary sysfs root, its
    energy_uj a counter of `watts` advanced every ~1 ms (rewritten in place: the same inode, a
    fixed-width decimal, as tests/fakes/fake_tree.cpp writes it)."""

    def __init__(self, watts, start_uj=5_000_000):
        self._dir = tempfile.TemporaryDirectory(prefix="joulebench-python-")
        self.root = self._dir.name
        zone = os.path.join(self.root, "class", "powercap", "intel-rapl:0")
        os.makedirs(zone)
        for name, text in (("name", "package-0\n"), ("max_energy_range_uj", "%d\n" % RANGE_UJ),
                           ("energy_uj", "%20d\n" % start_uj)):
            with open(os.path.join(zone, name), "w") as f:
                f.write(text)
        self._fd = os.open(os.path.join(zone, "energy_uj"), os.O_WRONLY)
        self._lock = threading.Lock()
        self._watts = float(watts)
        self._energy_uj = float(start_uj)
        self._last = time.monotonic()
        self.longest_gap_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-powercap", daemon=True)
        self._thread.start()

    def _advance(self):
        now = time.monotonic()
        self.longest_gap_s = max(self.longest_gap_s, now - self._last)
        self._energy_uj += self._watts * (now - self._last) * 1e6
        self._last = now
        os.pwrite(self._fd, b"%20d\n" % int(self._energy_uj), 0)

    def _run(self):
        while not self._stop.is_set():
            with self._lock:
                self._advance()
            time.sleep(0.001)

    def set_power(self, watts):
        with self._lock:
            self._advance()
            self._watts = float(watts)

    def close(self):
        self._stop.set()
        self._thread.join()
        os.close(self._fd)
        self._dir.cleanup()


class FakeTreeTest(unittest.TestCase):
    """A fake powercap tree at WATTS, JOULEBENCH_SYSFS_ROOT pointing at it, for the test's Monitors."""

    WATTS = 20.0

    def setUp(self):
        self.fake = FakePowercap(self.WATTS)
        self.addCleanup(self.fake.close)
        saved = os.environ.get("JOULEBENCH_SYSFS_ROOT")
        os.environ["JOULEBENCH_SYSFS_ROOT"] = self.fake.root
        self.addCleanup(self._restore, saved)

    @staticmethod
    def _restore(saved):
        if saved is None:
            os.environ.pop("JOULEBENCH_SYSFS_ROOT", None)
        else:
            os.environ["JOULEBENCH_SYSFS_ROOT"] = saved

    def monitor(self, **options):
        return joulebench.Monitor(sources=["rapl-powercap"], **options)

    def lag_j(self, watts):
        """The most the fake counter's lag can put a figure off by: the counter a window's edge reads
        was written at most longest_gap_s before. On an idle machine about 1 ms of energy; on one
        busy building, the writing thread may wait several."""
        return watts * self.fake.longest_gap_s

    def assertPower(self, m, watts=None, tolerance=0.01):
        """The window's cpu energy is `watts` (default WATTS) x its time, within `tolerance` (or the
        counter's lag, where it was longer)."""
        watts = self.WATTS if watts is None else watts
        expected = watts * m.time_s
        self.assertIn("cpu", m.energy_j, m.to_json())
        self.assertLessEqual(abs(m.energy_j["cpu"] - expected), max(tolerance * expected, self.lag_j(watts)),
                             "%s: %.4f J in %.4f s, expected %.4f J (%g W); the counter lagged up to %.4f s" %
                             (m.name, m.energy_j["cpu"], m.time_s, expected, watts, self.fake.longest_gap_s))


class KnownPower(FakeTreeTest):
    def test_window_energy_is_power_times_time(self):
        mon = self.monitor()
        self.assertEqual(mon.sources, {"cpu": "rapl-powercap"})
        self.assertFalse(mon.under_joulebench)
        mon.begin_window("half-second")
        time.sleep(0.5)
        m = mon.end_window("half-second")
        self.assertEqual(m.name, "half-second")
        self.assertGreaterEqual(m.time_s, 0.5)
        self.assertLess(m.time_s, 1.5)
        self.assertPower(m)
        self.assertEqual(set(m.energy_j), {"cpu"})
        self.assertEqual(m.estimated, {"cpu": False})
        self.assertEqual(m.complete, {"cpu": True})
        self.assertEqual(m.sources, {"cpu": "rapl-powercap"})
        self.assertAlmostEqual(m.total_j, m.energy_j["cpu"], places=9)
        # No idle baseline asked for: no dynamic energy.
        self.assertEqual(m.dynamic_energy_j, {})
        self.assertIsNone(m.dynamic_total_j)
        self.assertIn("half-second", repr(m))

    def test_each_window_follows_the_power_of_its_time(self):
        mon = self.monitor()
        for watts in (5.0, 45.0):
            self.fake.set_power(watts)
            mon.begin_window("at %g W" % watts)
            time.sleep(0.5)
            self.assertPower(mon.end_window("at %g W" % watts), watts)

    def test_only_the_sources_asked_for(self):
        # With the estimate as well there would be dram; asked for powercap only, there is cpu only.
        mon = self.monitor()
        mon.begin_window("w")
        m = mon.end_window("w")
        self.assertEqual(set(m.energy_j), {"cpu"})
        self.assertGreaterEqual(m.energy_j["cpu"], 0.0)


class MeasureContextManager(FakeTreeTest):
    def test_the_target_is_filled_when_the_block_ends(self):
        mon = self.monitor()
        with joulebench.measure("block", monitor=mon) as m:
            self.assertIsInstance(m, joulebench.Measurement)
            self.assertEqual(m.name, "block")
            for field in ("time_s", "energy_j", "total_j", "estimated", "complete", "sources"):
                with self.assertRaises(joulebench.Error, msg=field) as raised:
                    getattr(m, field)
                self.assertIn("still open", str(raised.exception))
            with self.assertRaises(joulebench.Error):
                m.to_json()
            self.assertIn("open", repr(m))
            time.sleep(0.3)
        self.assertGreaterEqual(m.time_s, 0.3)
        self.assertPower(m, tolerance=0.02)

    def test_the_method_of_the_monitor(self):
        mon = self.monitor()
        with mon.measure("method") as m:
            time.sleep(0.2)
        self.assertGreaterEqual(m.time_s, 0.2)
        self.assertPower(m, tolerance=0.03)

    def test_the_current_monitor_by_default(self):
        mon = self.monitor()
        self.assertIs(joulebench.current_monitor(), mon)
        with joulebench.measure("default") as m:
            time.sleep(0.2)
        self.assertEqual(m.sources, {"cpu": "rapl-powercap"})
        self.assertPower(m, tolerance=0.03)

    def test_the_window_ends_when_the_block_raises(self):
        mon = self.monitor()

        class Boom(Exception):
            pass

        with self.assertRaises(Boom):
            with joulebench.measure("raises", monitor=mon) as m:
                time.sleep(0.2)
                raise Boom()
        self.assertGreaterEqual(m.time_s, 0.2)
        self.assertPower(m, tolerance=0.03)
        # Ended: ending it again says so, and it can be opened again.
        with self.assertRaises(joulebench.Error) as raised:
            mon.end_window("raises")
        self.assertIn("already ended", str(raised.exception))
        mon.begin_window("raises")
        mon.end_window("raises")


class TrackDecorator(FakeTreeTest):
    def test_calls_are_summed(self):
        mon = self.monitor()
        self.assertIs(joulebench.current_monitor(), mon)

        @joulebench.track("step")
        def step(seconds):
            """Sleeps."""
            time.sleep(seconds)
            return seconds * 2

        sleeps = (0.1, 0.2, 0.15)
        self.assertEqual([step(s) for s in sleeps], [0.2, 0.4, 0.3])
        totals = joulebench.current_monitor().totals("step")
        self.assertIsInstance(totals, joulebench.Totals)
        self.assertEqual(totals.calls, 3)
        self.assertGreaterEqual(totals.time_s, sum(sleeps))
        self.assertLess(totals.time_s, sum(sleeps) + 0.1)
        self.assertPower(totals, tolerance=0.03)
        self.assertEqual(totals.complete, {"cpu": True})
        self.assertEqual(mon.tracked(), ["step"])
        # functools.wraps
        self.assertEqual(step.__name__, "step")
        self.assertEqual(step.__doc__, "Sleeps.")
        self.assertTrue(callable(step.__wrapped__))

    def test_a_call_that_raises_is_counted(self):
        mon = self.monitor()

        @mon.track("fails")
        def fails():
            raise KeyError("x")

        with self.assertRaises(KeyError):
            fails()
        self.assertEqual(mon.totals("fails").calls, 1)

    def test_the_name_defaults_to_the_qualified_name(self):
        mon = self.monitor()

        @joulebench.track(monitor=mon)
        def unnamed():
            pass

        unnamed()
        unnamed()
        self.assertEqual(mon.tracked(), [unnamed.__qualname__])
        self.assertEqual(mon.totals(unnamed.__qualname__).calls, 2)

    def test_without_parentheses(self):
        mon = self.monitor()

        @joulebench.track
        def bare(x):
            return x + 1

        @mon.track
        def bare_method(x):
            return x * 2

        self.assertEqual((bare(1), bare(2), bare_method(3)), (2, 3, 6))
        self.assertEqual(mon.totals(bare.__qualname__).calls, 2)
        self.assertEqual(mon.totals(bare_method.__qualname__).calls, 1)
        self.assertEqual(bare.__name__, "bare")

    def test_totals_of_an_unknown_name(self):
        mon = self.monitor()
        totals = mon.totals("never-called")
        self.assertEqual(totals.calls, 0)
        self.assertEqual(totals.time_s, 0.0)
        self.assertEqual(totals.energy_j, {})
        self.assertEqual(mon.tracked(), [])

    def test_calls_from_threads_each_count(self):
        mon = self.monitor()

        @mon.track("threaded")
        def work():
            time.sleep(0.05)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        totals = mon.totals("threaded")
        self.assertEqual(totals.calls, 4)
        self.assertGreaterEqual(totals.time_s, 4 * 0.05)


class Errors(FakeTreeTest):
    def test_begin_twice(self):
        mon = self.monitor()
        mon.begin_window("twice")
        with self.assertRaises(joulebench.Error) as raised:
            mon.begin_window("twice")
        self.assertIn("already open", str(raised.exception))
        # The first window still holds.
        self.assertGreater(mon.end_window("twice").time_s, 0)

    def test_end_of_a_window_never_opened(self):
        mon = self.monitor()
        with self.assertRaises(joulebench.Error) as raised:
            mon.end_window("never")
        self.assertIn("never", str(raised.exception))

    def test_end_twice(self):
        mon = self.monitor()
        mon.begin_window("once")
        mon.end_window("once")
        with self.assertRaises(joulebench.Error) as raised:
            mon.end_window("once")
        self.assertIn("already ended", str(raised.exception))

    def test_an_empty_name(self):
        mon = self.monitor()
        with self.assertRaises(joulebench.Error):
            mon.begin_window("")

    def test_unknown_source(self):
        mon = self.monitor()
        with self.assertRaises(joulebench.Error) as raised:
            joulebench.Monitor(sources=["no-such-source"])
        self.assertIn("no-such-source", str(raised.exception))
        # A Monitor that could not be made is not the current one.
        self.assertIs(joulebench.current_monitor(), mon)

    def test_a_forked_child_makes_its_own(self):
        mon = self.monitor()
        pid = os.fork()
        if pid == 0:  # the child: only report, never return into unittest
            code = 3
            try:
                mon.begin_window("child")
                code = 1
            except joulebench.Error as e:
                code = 0 if "process" in str(e) else 2
            try:
                if code == 0:
                    # current_monitor() gives the child a Monitor of its own, which works.
                    own = joulebench.current_monitor()
                    code = 4 if own is mon else 0
                    own.begin_window("child")
                    own.end_window("child")
            except BaseException:
                code = 5
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0,
                         "1: the child used its parent's Monitor; 2: another error; 3: something else; "
                         "4: current_monitor() gave the child its parent's; 5: the child's own failed")
        # The parent's is unaffected.
        mon.begin_window("parent")
        self.assertGreaterEqual(mon.end_window("parent").time_s, 0)

    def test_bad_interval(self):
        for interval in ("fast", "10 parsecs", "", 0, -1, True):
            with self.assertRaises(joulebench.Error, msg=repr(interval)):
                joulebench.Monitor(sources=["rapl-powercap"], interval=interval)

    def test_bad_idle(self):
        for idle in ("soon", 0, -0.5):
            with self.assertRaises(joulebench.Error, msg=repr(idle)):
                joulebench.Monitor(sources=["rapl-powercap"], idle=idle)

    def test_error_is_a_runtime_error(self):
        self.assertTrue(issubclass(joulebench.Error, RuntimeError))


class NestedAndConcurrent(FakeTreeTest):
    def test_nested(self):
        mon = self.monitor()
        mon.begin_window("outer")
        time.sleep(0.1)
        mon.begin_window("inner")
        time.sleep(0.3)
        inner = mon.end_window("inner")
        time.sleep(0.1)
        outer = mon.end_window("outer")
        self.assertGreater(outer.time_s, inner.time_s + 0.2)
        self.assertGreater(outer.energy_j["cpu"], inner.energy_j["cpu"])
        self.assertGreaterEqual(outer.total_j, inner.total_j)
        self.assertPower(inner, tolerance=0.02)
        self.assertPower(outer, tolerance=0.02)

    def test_overlapping(self):
        mon = self.monitor()
        mon.begin_window("a")
        time.sleep(0.2)
        mon.begin_window("b")
        time.sleep(0.2)
        a = mon.end_window("a")
        time.sleep(0.2)
        b = mon.end_window("b")
        for m in (a, b):
            self.assertGreaterEqual(m.time_s, 0.4)
            self.assertPower(m, tolerance=0.02)
        # Together they cover the whole time once and the overlap twice.
        self.assertGreater(a.energy_j["cpu"] + b.energy_j["cpu"], self.WATTS * 0.6)

    def test_windows_from_four_threads(self):
        mon = self.monitor()
        results, errors = {}, []
        start = threading.Barrier(4)

        def window(i):
            try:
                start.wait()
                name = "thread-%d" % i
                mon.begin_window(name)
                time.sleep(0.3)
                results[i] = mon.end_window(name)
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(e)

        threads = [threading.Thread(target=window, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(sorted(results), [0, 1, 2, 3])
        for i, m in results.items():
            self.assertEqual(m.name, "thread-%d" % i)
            self.assertGreaterEqual(m.time_s, 0.3)
            self.assertEqual(m.complete, {"cpu": True})
            self.assertPower(m, tolerance=0.03)

    def test_one_name_from_four_threads_opens_once(self):
        mon = self.monitor()
        outcomes = []
        start = threading.Barrier(4)

        def begin():
            start.wait()
            try:
                mon.begin_window("shared")
                outcomes.append("opened")
            except joulebench.Error as e:
                outcomes.append(str(e))

        threads = [threading.Thread(target=begin) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(outcomes.count("opened"), 1, outcomes)
        self.assertTrue(all("already open" in o for o in outcomes if o != "opened"), outcomes)
        mon.end_window("shared")


class JsonFigures(FakeTreeTest):
    def test_to_dict_is_measure_json(self):
        mon = self.monitor()
        mon.begin_window("json")
        time.sleep(0.3)
        m = mon.end_window("json")
        d = m.to_dict()
        self.assertEqual(d, json.loads(m.to_json()))
        self.assertEqual(d["name"], "json")
        self.assertEqual(d["time_s"], m.time_s)
        self.assertIsInstance(d["energy"], list)
        by_domain = {e["domain"]: e for e in d["energy"]}
        self.assertEqual(set(by_domain), {"cpu", "total"})
        for entry in d["energy"]:
            keys = set(entry)
            self.assertLessEqual(MEASURE_JSON_ENERGY_KEYS, keys, entry)
            self.assertLessEqual(keys - MEASURE_JSON_ENERGY_KEYS, MEASURE_JSON_OPTIONAL_KEYS, entry)
        cpu = by_domain["cpu"]
        self.assertEqual(cpu["energy_j"], m.energy_j["cpu"])
        self.assertAlmostEqual(cpu["average_power_w"], self.WATTS,
                               delta=max(0.01 * self.WATTS, self.lag_j(self.WATTS) / m.time_s))
        self.assertEqual((cpu["source"], cpu["method"]), ("rapl-powercap", "counter"))
        self.assertEqual((cpu["measured"], cpu["estimated"], cpu["complete"]), (True, False, True))
        self.assertEqual(cpu["unmeasured_s"], 0)
        self.assertTrue(cpu["counted_in_total"])
        self.assertEqual(by_domain["total"]["energy_j"], m.total_j)

    def test_totals_to_dict(self):
        mon = self.monitor()

        @mon.track("tracked")
        def f():
            time.sleep(0.05)

        f()
        f()
        d = mon.totals("tracked").to_dict()
        self.assertEqual(d["name"], "tracked")
        self.assertIn("cpu", {e["domain"] for e in d["energy"]})


class IdleBaseline(FakeTreeTest):
    WATTS = 10.0

    def assertIdlePower(self, mon, idle_s, tolerance):
        # The baseline's energy is off by the counter's lag at most, its power by that over its time.
        self.assertAlmostEqual(mon.idle_power_w["cpu"], self.WATTS,
                               delta=max(tolerance * self.WATTS, self.lag_j(self.WATTS) / idle_s))

    def test_dynamic_energy_above_idle(self):
        mon = self.monitor(idle="0.3s")
        self.assertEqual(set(mon.idle_power_w), {"cpu"})
        self.assertIdlePower(mon, 0.3, 0.03)
        # At idle power: nothing above it.
        mon.begin_window("idle")
        time.sleep(0.3)
        idle = mon.end_window("idle")
        self.assertIn("cpu", idle.dynamic_energy_j)
        self.assertLessEqual(idle.dynamic_energy_j["cpu"], idle.energy_j["cpu"])
        self.assertLess(idle.dynamic_energy_j["cpu"], max(0.05 * idle.energy_j["cpu"], 2 * self.lag_j(self.WATTS)))
        # 30 W: 20 W above idle.
        self.fake.set_power(30.0)
        mon.begin_window("busy")
        time.sleep(0.5)
        busy = mon.end_window("busy")
        self.assertPower(busy, 30.0)
        self.assertIn("cpu", busy.dynamic_energy_j)
        self.assertLessEqual(busy.dynamic_energy_j["cpu"], busy.energy_j["cpu"])
        expected = busy.energy_j["cpu"] - mon.idle_power_w["cpu"] * busy.time_s
        self.assertAlmostEqual(busy.dynamic_energy_j["cpu"], expected, places=6)
        # Off by the window's lag and by the baseline's, over the window's time.
        lag_j = self.lag_j(30.0) + self.lag_j(self.WATTS) / 0.3 * busy.time_s
        self.assertAlmostEqual(busy.dynamic_energy_j["cpu"], 20.0 * busy.time_s,
                               delta=max(0.05 * 20.0 * busy.time_s, lag_j))
        self.assertAlmostEqual(busy.dynamic_total_j, busy.dynamic_energy_j["cpu"], places=6)

    def test_idle_in_seconds(self):
        self.assertIdlePower(self.monitor(idle=0.2), 0.2, 0.05)

    def test_no_idle_no_baseline(self):
        self.assertEqual(self.monitor().idle_power_w, {})


class FakeTorch:
    """sys.modules["torch"] for the test: a cuda namespace that counts synchronize()."""

    def __init__(self, available):
        self.module = types.ModuleType("torch")
        self.synchronized = 0

        def synchronize():
            self.synchronized += 1

        self.module.cuda = types.SimpleNamespace(is_available=lambda: available, synchronize=synchronize)

    def __enter__(self):
        self._saved = sys.modules.get("torch")
        sys.modules["torch"] = self.module
        return self

    def __exit__(self, *exc):
        if self._saved is None:
            sys.modules.pop("torch", None)
        else:
            sys.modules["torch"] = self._saved
        return False


class SyncCuda(FakeTreeTest):
    def window(self, mon, **kwargs):
        mon.begin_window("w", **kwargs)
        mon.end_window("w", **kwargs)

    def test_every_edge_synchronizes(self):
        mon = self.monitor(sync_cuda=True)
        with FakeTorch(available=True) as torch:
            self.window(mon)
            self.assertEqual(torch.synchronized, 2)
            with mon.measure("block"):
                pass
            self.assertEqual(torch.synchronized, 4)

            @mon.track("call")
            def call():
                pass

            call()
            self.assertEqual(torch.synchronized, 6)
            # Turned off for one window.
            self.window(mon, sync_cuda=False)
            self.assertEqual(torch.synchronized, 6)

    def test_not_without_cuda(self):
        mon = self.monitor(sync_cuda=True)
        with FakeTorch(available=False) as torch:
            self.window(mon)
            self.assertEqual(torch.synchronized, 0)

    def test_not_without_torch(self):
        mon = self.monitor(sync_cuda=True)
        self.assertNotIn("torch", sys.modules)
        self.window(mon)  # nothing to synchronize, nothing imported
        self.assertNotIn("torch", sys.modules)

    def test_not_unless_asked(self):
        mon = self.monitor()
        with FakeTorch(available=True) as torch:
            self.window(mon)
            self.assertEqual(torch.synchronized, 0)

    def test_asked_for_one_window(self):
        mon = self.monitor()
        with FakeTorch(available=True) as torch:
            with joulebench.measure("synced", monitor=mon, sync_cuda=True):
                pass
            self.assertEqual(torch.synchronized, 2)
            self.window(mon, sync_cuda=True)
            self.assertEqual(torch.synchronized, 4)


class MachineSources(unittest.TestCase):
    """The machine's own sources, not redirected: whatever they are (on most test machines the
    labelled estimate), the figures are numbers."""

    def setUp(self):
        saved = {k: os.environ.pop(k) for k in ("JOULEBENCH_SYSFS_ROOT", "JOULEBENCH_PROCFS_ROOT") if k in os.environ}
        self.addCleanup(os.environ.update, saved)

    def test_the_figures_are_finite(self):
        mon = joulebench.Monitor()
        self.assertTrue(mon.sources, "no source measures anything, not even the estimate")
        mon.begin_window("busy")
        deadline = time.monotonic() + 0.3
        n = 0
        while time.monotonic() < deadline:
            n += 1
        m = mon.end_window("busy")
        self.assertGreaterEqual(m.time_s, 0.3)
        self.assertTrue(math.isfinite(m.total_j) and m.total_j >= 0, m.total_j)
        self.assertTrue(m.energy_j, m.to_json())
        for domain, joules in m.energy_j.items():
            self.assertTrue(math.isfinite(joules) and joules >= 0, (domain, joules))
        self.assertEqual(set(m.sources), set(m.estimated))
        for domain, source in m.sources.items():
            self.assertIn(source, ("rapl-perf", "rapl-powercap", "nvml", "estimate"))
            self.assertEqual(source, mon.sources[domain])
            self.assertEqual(m.estimated[domain], source == "estimate", (domain, source))
        for entry in m.to_dict()["energy"]:
            if entry["energy_j"] is not None:
                self.assertTrue(math.isfinite(entry["energy_j"]) and entry["energy_j"] >= 0, entry)


if __name__ == "__main__":
    unittest.main()
