"""Measure the time and energy of parts of your own program, with joulebench's meter.

    import joulebench

    mon = joulebench.Monitor()              # opens the machine's sources once
    mon.begin_window("train")
    train()
    m = mon.end_window("train")             # a joulebench.Measurement
    print(m.time_s, m.total_j, m.energy_j)  # seconds, joules, {"cpu": ..., "dram": ..., "gpu": ...}

    with joulebench.measure("eval") as w:   # w holds the figures once the block ends
        evaluate()

    @joulebench.track("step")               # every call's time and energy summed:
    def step(batch): ...                    # mon.totals("step")

Standalone, a Monitor reads the machine's sources itself (or, where it can read none, joulebench's
labelled estimate). Run by `joulebench run`, `measure` or `profile`, it takes its figures from that
joulebench, and each window is also a region of the run. docs/in-program.md says more.
"""

import functools
import os
import sys
import threading

from ._joulebench import Error, Measurement, Totals
from ._joulebench import Monitor as _CoreMonitor
from ._joulebench import parse_duration as _parse_duration

__all__ = ["Error", "Measurement", "Monitor", "Totals", "current_monitor", "measure", "track"]


def _seconds(value, what):
    """Seconds from "100ms", "5s" (joulebench's durations) or a number of seconds."""
    if isinstance(value, str):
        return _parse_duration(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise Error("%s must be a duration such as '100ms' or a positive number of seconds, not %r" % (what, value))


def _synchronize_cuda():
    """Waits for the GPU work queued so far, where torch is loaded and CUDA is available."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None) if torch is not None else None
    if cuda is not None and cuda.is_available():
        cuda.synchronize()


_current = None
# Reentrant: current_monitor() makes a Monitor, whose __init__ registers itself under the lock.
_current_lock = threading.RLock()


class Monitor:
    """joulebench's meter inside this program.

    sources:   the sources to use ("rapl-perf", "rapl-powercap", "nvml", "estimate"); None: all.
    interval:  the meter's sampling interval ("100ms", or seconds); under joulebench, joulebench's.
    idle:      measure idle power this long first ("5s"); Measurements then carry dynamic energy.
    sync_cuda: call torch.cuda.synchronize() at every window edge (where torch is loaded and CUDA
               is available), so GPU work queued before an edge is counted on the right side.

    The newest Monitor is the one joulebench.measure and joulebench.track use by default.
    """

    def __init__(self, sources=None, interval="100ms", idle=None, sync_cuda=False):
        global _current
        if isinstance(sources, str):
            sources = [sources]
        idle_s = 0.0 if idle is None else _seconds(idle, "idle")
        self._core = _CoreMonitor(list(sources or []), _seconds(interval, "interval"), idle_s)
        self.sync_cuda = bool(sync_cuda)
        with _current_lock:
            _current = self
            self._pid = os.getpid()

    def _edge(self, sync_cuda):
        if self.sync_cuda if sync_cuda is None else sync_cuda:
            _synchronize_cuda()

    def begin_window(self, name, sync_cuda=None):
        """Opens the window `name`; joulebench.Error if one of that name is open."""
        self._edge(sync_cuda)
        self._core.begin_window(name)

    def end_window(self, name, sync_cuda=None):
        """Closes the window `name` and returns its Measurement; joulebench.Error if none is open."""
        self._edge(sync_cuda)
        return self._core.end_window(name)

    def measure(self, name, sync_cuda=None):
        """A window for a `with` block: `with mon.measure("eval") as m: ...`."""
        return _Window(self, name, sync_cuda)

    def track(self, name=None, sync_cuda=None):
        """A decorator: every call's time and energy summed in totals(name) (default: the function's name)."""
        if callable(name):  # @mon.track
            return _tracker(lambda: self, None, sync_cuda)(name)
        return _tracker(lambda: self, name, sync_cuda)

    def totals(self, name):
        """The calls of the tracked function `name` so far: calls, time_s, energy_j, total_j..."""
        return self._core.totals(name)

    def tracked(self):
        """The names of the tracked functions, in the order first called."""
        return self._core.tracked()

    @property
    def under_joulebench(self):
        """Whether the figures come from the joulebench that runs this program."""
        return self._core.under_joulebench

    @property
    def sources(self):
        """The source of each domain: {"cpu": "rapl-perf", ...}."""
        return self._core.sources

    @property
    def idle_power_w(self):
        """Idle power per domain, where `idle` asked for a baseline."""
        return self._core.idle_power_w


def current_monitor():
    """The newest Monitor of this process, made with the defaults if there is none yet (a child
    made with fork() gets one of its own: its parent's is not for it)."""
    with _current_lock:
        if _current is None or _current._pid != os.getpid():
            Monitor()  # registers itself; if it raises, the old one stays
        return _current


class _Window:
    """The context manager of measure(): the target is a Measurement, filled when the block ends."""

    def __init__(self, monitor, name, sync_cuda):
        self._monitor = monitor
        self._name = name
        self._sync_cuda = sync_cuda
        self._measurement = None

    def __enter__(self):
        monitor = self._monitor if self._monitor is not None else current_monitor()
        self._monitor = monitor
        self._measurement = Measurement._pending(self._name)
        monitor.begin_window(self._name, self._sync_cuda)
        return self._measurement

    def __exit__(self, *exc):
        # The window ends whether the block returned or raised: its figures are still right.
        self._measurement._fill(self._monitor.end_window(self._name, self._sync_cuda))
        return False


def measure(name, monitor=None, sync_cuda=None):
    """A window for a `with` block, on `monitor` (default: current_monitor())."""
    return _Window(monitor, name, sync_cuda)


def _tracker(get_monitor, name, sync_cuda):
    def decorate(function):
        label = name or getattr(function, "__qualname__", None) or function.__name__

        @functools.wraps(function)
        def tracked(*args, **kwargs):
            monitor = get_monitor()
            monitor._edge(sync_cuda)
            call = monitor._core.begin_call(label)
            try:
                return function(*args, **kwargs)
            finally:
                monitor._edge(sync_cuda)
                monitor._core.end_call(call)

        return tracked

    return decorate


def track(name=None, monitor=None, sync_cuda=None):
    """A decorator: every call's time and energy summed on `monitor` (default: current_monitor() at
    the call), in monitor.totals(name). Not a region of the run per call. `@joulebench.track`
    without parentheses names the totals after the function."""
    if callable(name):  # @joulebench.track
        return _tracker(current_monitor, None, sync_cuda)(name)
    return _tracker(lambda: monitor if monitor is not None else current_monitor(), name, sync_cuda)
