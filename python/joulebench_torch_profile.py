#!/usr/bin/python3
"""Operator profile of a PyTorch script, for `joulebench profile --mode torch`.

    JOULEBENCH_PROFILE_OUT=trace.txt python3 joulebench_torch_profile.py SCRIPT ARGS...

runs SCRIPT as __main__ (sys.argv and sys.path[0] as if it had been run directly) under
torch.profiler (CPU activity, plus CUDA where torch.cuda.is_available(); no shapes, no stacks) and
writes every operator it records to JOULEBENCH_PROFILE_OUT in joulebench's trace format:

    # joulebench-profile 1
    mode<TAB>torch
    clock<TAB>monotonic_ns
    i<TAB>START_NS<TAB>END_NS<TAB>TID<TAB>ROOT;...;PARENT;NAME

one `i` line per completed CPU operator (ATen operators, autograd nodes, record_function ranges),
with the chain of operators enclosing it on its thread; a `# clock:` comment says how exactly the
times were aligned. TID is the profiler's thread number. GPU kernels are not written: their time
is on the GPU, not on a thread of the program. torch.profiler (1.13) records the thread that starts
it and the threads autograd runs backward passes on; operators on threads the script starts
itself are not recorded.

The profiler starts when the script's own `import torch` completes, not before: scripts set
OMP_NUM_THREADS and the like before importing torch, and an earlier import would ignore them.

Clocks: torch.profiler (1.13) stamps events in CLOCK_REALTIME nanoseconds; the trace is in
CLOCK_MONOTONIC (time.monotonic_ns(), the meter's clock). Both clocks are read back to back when
the profiler starts and when it stops; an event's monotonic time is interpolated between the two
offsets, which also follows any NTP slewing of the real-time clock between them. The error is half
the width of a back-to-back reading (well under a microsecond here). A marker range recorded at
each end checks that the profiler's clock is the real-time clock; where it is not (another PyTorch
version), the markers themselves anchor the clocks, to within the time a record_function takes to
start (tens of microseconds).

The script's exit status is kept: the profile is written when the script returns, calls
sys.exit() or raises, and its exception then propagates as usual. Standard library and torch only,
and joulebench_profile.py beside this file (the trace's first lines).
"""

import importlib.abc
import importlib.util
import inspect
import os
import runpy
import sys
import time

PROGRAM = "joulebench_torch_profile"
MARKER = "joulebench_torch_profile::clock_marker"
USAGE = f"usage: {PROGRAM} SCRIPT [ARGS...]  (with JOULEBENCH_PROFILE_OUT=FILE set)\n"


def _trace_opening():
    """trace_opening() of joulebench_profile.py, which is installed beside this file (the build
    folder, or libexec/joulebench) and defines the first lines of every Python-written trace.
    Loaded from its path, not from sys.path: sys.path[0] is not this folder under python3 -I or -P,
    and main() gives it to the script. No bytecode is cached beside it."""
    path = os.path.join(os.path.dirname(os.path.realpath(__file__)), "joulebench_profile.py")
    spec = importlib.util.spec_from_file_location("joulebench_profile", path)
    module = importlib.util.module_from_spec(spec)
    cached = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = cached
    return module.trace_opening


trace_opening = _trace_opening()


def clock_pair():
    """A monotonic and a real-time reading taken together: (monotonic_ns, realtime_ns, error_ns).

    The tightest of a few tries; the monotonic time is the middle of the readings around the
    real-time one, so it is off by at most half their distance."""
    best = None
    for _ in range(8):
        before = time.monotonic_ns()
        realtime = time.clock_gettime_ns(time.CLOCK_REALTIME)
        after = time.monotonic_ns()
        if best is None or after - before < 2 * best[2]:
            best = ((before + after) // 2, realtime, (after - before + 1) // 2)
    return best


def clean_name(name):
    """Names never hold the trace's separators: TAB and line breaks become spaces, ';' (between
    the frames of a chain) a comma, as in the other trace writers; an empty name becomes '?'."""
    return name.replace("\t", " ").replace("\n", " ").replace("\r", " ").replace(";", ",") or "?"


class LinearMap:
    """Profiler time to monotonic time through two anchors (profiler_ns, monotonic_ns)."""

    def __init__(self, first, last):
        self.origin = first
        span = last[0] - first[0]
        # Over less than a millisecond, the anchors' own errors would dominate the rate.
        self.rate = (last[1] - first[1]) / span if span > 1_000_000 else 1.0

    def __call__(self, profiler_ns):
        return self.origin[1] + int((profiler_ns - self.origin[0]) * self.rate)


class TorchProfile:
    def __init__(self):
        self.profiler = None
        self.problem = "the script never imported torch"
        self.pairs = []    # clock_pair() at start and stop
        self.markers = []  # (monotonic before entering the marker, monotonic inside it)
        self.script_end_ns = None

    def start(self):
        """Starts the profiler; if it cannot start, says why and lets the script run unprofiled."""
        try:
            self._start()
        except Exception as error:  # noqa: BLE001 - whatever torch raised, the script goes on
            self.profiler = None
            self.problem = f"torch.profiler could not start: {error}"
            sys.stderr.write(f"{PROGRAM}: {self.problem}\n")

    def _start(self):
        import torch
        from torch.autograd import profiler

        class Unparsed(profiler.profile):
            """torch.profiler's Kineto profiler, without its conversion of every event to a Python
            FunctionEvent at stop (70 us an event: 70 s for a million), which this file does not
            use: it reads the profiler's own event tree."""

            def _parse_kineto_results(self, result):
                return []

        self.torch_op = torch._C._profiler._EventType.TorchOp  # the tag of operator events
        # The arguments torch.profiler.profile gives it for these activities. Newer torch names
        # the GPU with use_device and warns that use_cuda goes away (seen with 2.11).
        gpu = {}
        if torch.cuda.is_available():
            takes_device = "use_device" in inspect.signature(profiler.profile.__init__).parameters
            gpu = {"use_device": "cuda"} if takes_device else {"use_cuda": True}
        profile = Unparsed(use_kineto=True, use_cpu=True, record_shapes=False, with_stack=False, **gpu)
        profile.__enter__()
        self.profiler = profile
        self._mark()

    def _mark(self):
        from torch.profiler import record_function

        self.pairs.append(clock_pair())
        before = time.monotonic_ns()
        with record_function(MARKER):
            inside = time.monotonic_ns()
        self.markers.append((before, inside))

    def stop(self):
        if self.profiler is None:
            return
        self.script_end_ns = time.monotonic_ns()
        self._mark()
        self.profiler.__exit__(None, None, None)

    def clock_map(self, marker_starts):
        """Profiler ns -> monotonic ns, and a comment line that says how exact it is. The real-time
        pairs are used if the markers confirm that the profiler's clock is the real-time clock."""
        if len(marker_starts) != 2:
            raise RuntimeError(f"found {len(marker_starts)} clock markers in the profile, expected 2")
        by_realtime = LinearMap(*[(realtime, monotonic) for monotonic, realtime, _ in self.pairs])
        error = max(e for _, _, e in self.pairs)
        if all(before - error <= by_realtime(start) <= inside + error
               for start, (before, inside) in zip(marker_starts, self.markers)):
            return by_realtime, f"# clock: torch.profiler CLOCK_REALTIME to CLOCK_MONOTONIC, within {error} ns\n"
        error = max(inside - before for before, inside in self.markers)
        sys.stderr.write(f"{PROGRAM}: the profiler's clock is not CLOCK_REALTIME: aligned by markers instead, "
                         f"within {error / 1000:.0f} us\n")
        by_markers = LinearMap(*[(start, before) for start, (before, _) in zip(marker_starts, self.markers)])
        return by_markers, f"# clock: torch.profiler's clock to CLOCK_MONOTONIC by markers, within {error} ns\n"

    def lines(self):
        """The `i` lines: every CPU operator with its chain of enclosing operators, root first."""
        if self.profiler is None:
            return []
        # Reading a node's fields costs about a microsecond each (a million operators take
        # seconds): each is read once, and the tag only where the tree can hold more than CPU
        # operators (GPU events with CUDA; shapes, stacks and memory events are off).
        check_tags = self.profiler.use_cuda
        clean_names = {}
        operators = []  # (start, end, tid, chain)
        marker_starts = []
        pending = [(root, "", root.start_tid) for root in reversed(self.profiler.kineto_results.experimental_event_tree())]
        while pending:
            node, chain, tid = pending.pop()
            if not check_tags or node.tag == self.torch_op:
                name = node.name
                clean = clean_names.get(name)
                if clean is None:
                    clean = clean_names[name] = clean_name(name)
                if clean == MARKER:
                    marker_starts.append(node.start_time_ns)
                    continue
                chain = f"{chain};{clean}" if chain else clean
                start, end = node.start_time_ns, node.end_time_ns
                if end >= start:  # an operator still open at stop has no end
                    operators.append((start, end, tid, chain))
            children = node.children
            if children:
                # A thread's operators nest only within that thread.
                pending.extend((child, chain, tid) for child in reversed(children))
        marker_starts.sort()
        to_monotonic, clock_note = self.clock_map(marker_starts)
        # Before the first marker and after the script, only the profiler itself runs (a
        # record_function makes a tensor before it begins).
        lines = [clock_note]
        for start, end, tid, chain in operators:
            start_ns = to_monotonic(start)
            if start >= marker_starts[0] and start_ns < self.script_end_ns:
                lines.append(f"i\t{start_ns}\t{to_monotonic(end)}\t{tid}\t{chain}\n")
        return lines


class StartWhenTorchIsImported(importlib.abc.MetaPathFinder):
    """Calls `on_import` once the first `import torch` has finished executing torch."""

    def __init__(self, on_import):
        self.on_import = on_import

    def find_spec(self, fullname, path, target=None):
        if fullname != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        on_import = self.on_import

        class Loader(importlib.abc.Loader):
            def create_module(self, module_spec):
                return loader.create_module(module_spec)

            def exec_module(self, module):
                # torch sees its own loader while it runs and afterwards.
                module.__loader__ = loader
                module.__spec__.loader = loader
                loader.exec_module(module)
                on_import()  # never raises: the script's import must not fail because of it

        spec.loader = Loader()
        return spec


def write_trace(path, lines):
    """Written beside and renamed, so that a reader never sees half a file."""
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as out:
        out.write(trace_opening("torch"))
        out.writelines(lines)
    os.replace(partial, path)


def main(argv):
    if len(argv) >= 2 and argv[1] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if len(argv) < 2:
        sys.stderr.write(USAGE)
        return 2
    out = os.environ.get("JOULEBENCH_PROFILE_OUT", "")
    if not out:
        sys.stderr.write(f"{PROGRAM}: JOULEBENCH_PROFILE_OUT is not set: it names the trace file to write\n{USAGE}")
        return 2
    script = argv[1]
    if not os.path.isfile(script):
        sys.stderr.write(f"{PROGRAM}: {script}: no such file\n")
        return 2

    sys.argv = argv[1:]
    sys.path[0] = os.path.dirname(os.path.realpath(script))  # as Python does for a script
    profile = TorchProfile()
    if "torch" in sys.modules:
        profile.start()
    else:
        sys.meta_path.insert(0, StartWhenTorchIsImported(profile.start))
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        profile.stop()
        if profile.profiler is None:
            sys.stderr.write(f"{PROGRAM}: {profile.problem}: the profile of {script} is empty\n")
        try:
            write_trace(out, profile.lines())
        except (OSError, RuntimeError) as error:
            sys.stderr.write(f"{PROGRAM}: cannot write the profile {out}: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
