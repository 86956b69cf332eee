#!/usr/bin/env python3
"""joulebench's Python profiler: runs a script unchanged, as __main__, and writes a joulebench trace.

    python3 joulebench_profile.py --mode python|cprofile [--interval-ns N] --out FILE -- script.py ARGS...

Standard library only. Two modes:

- python: a sampler. A daemon thread wakes every interval and records the stack of every other
  thread (sys._current_frames()) with time.monotonic_ns(), the clock of joulebench's meter. Samples
  stay in memory and are written when the program exits: `s` records.
- cprofile: Python's cProfile around the script, converted to exact per-function totals: `f`
  records (calls, self time, total time).

Frames are named `qualified.name (file:first line)`, with files shown relative to site-packages or
dist-packages for libraries, relative to the standard library for its modules, and by base name
otherwise; cProfile's built-ins keep cProfile's name (`<built-in method time.sleep>`). The trace is
written at exit (atexit: normal end, sys.exit and uncaught exceptions), only by the process that
started the profiler (not by forked children). The script's exit status is its own.
"""

import argparse
import atexit
import os
import sys
import sysconfig
import threading
import time
from array import array

TRACE_HEADER = "# joulebench-profile 1"  # as kTraceHeader in include/joulebench/trace_format.hpp


def trace_opening(mode):
    """The lines a trace of `mode` starts with: the header, its mode and its clock (the Python
    writers' copy of trace_opening_lines in include/joulebench/trace_format.hpp;
    joulebench_torch_profile.py takes it from here)."""
    return "%s\nmode\t%s\nclock\tmonotonic_ns\n" % (TRACE_HEADER, mode)


def _library_roots():
    roots = []
    for key in ("purelib", "platlib", "stdlib", "platstdlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.append(os.path.join(os.path.realpath(path), ""))
    return roots


_ROOTS = _library_roots()


def short_file(filename):
    """A file name that is readable and stable across machines."""
    for marker in ("/site-packages/", "/dist-packages/"):
        at = filename.rfind(marker)
        if at >= 0:
            return filename[at + len(marker):]
    for root in _ROOTS:
        if filename.startswith(root):
            return filename[len(root):]
    return os.path.basename(filename)


def clean(name):
    """Names never hold the trace's separators: TAB and line breaks, and ';' between frames."""
    return name.replace("\t", " ").replace("\n", " ").replace("\r", " ").replace(";", ",")


# Code objects are looked up by id, never by value: hashing a code object hashes all it holds (a
# module's code holds every function's code), and CPython does not cache it. Keying stacks by value
# cost about 200 us per sample at exit after `import torch`; code equality also ignores the file.
# Each entry keeps its code object alive, so its id stays unique.
_code_names = {}  # id(code) -> (code, name)


def code_name(code):
    entry = _code_names.get(id(code))
    if entry is None:
        qualified = getattr(code, "co_qualname", code.co_name)
        entry = (code, clean("%s (%s:%d)" % (qualified, short_file(code.co_filename), code.co_firstlineno)))
        _code_names[id(code)] = entry
    return entry[1]


class Sampler:
    """Records every other thread's stack every interval, in memory."""

    def __init__(self, interval_ns, script):
        self.interval_s = interval_ns / 1e9
        # The launcher's own frames (this file, runpy) stand above the script's in every stack of
        # the main thread: stacks start at the script's module.
        self.script_files = {script, os.path.abspath(script)}
        # Each distinct stack once, as a tuple of code objects (leaf first), which keeps its codes
        # alive; a sample is three numbers in flat arrays, 24 bytes however deep its stack, where a
        # tuple per sample held about 370 bytes (an hour at 5 ms: 17 MB instead of 270 MB).
        self.stacks = []
        self.times_ns = array("q")
        self.threads = array("Q")
        self.stack_ids = array("q")
        self.cpu_s = 0.0  # the sampler thread's own CPU time, once stopped (bench/sampler_cost.py)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="joulebench-sampler", daemon=True)

    def start(self):
        # A thread that holds the GIL gives it up only after the switch interval (5 ms by default):
        # a shorter one keeps samples on time in pure-Python code, instead of favouring the code that
        # releases the GIL. It costs a thread switch per sample, nothing while nobody else waits.
        sys.setswitchinterval(min(sys.getswitchinterval(), self.interval_s / 10))
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self):
        try:
            self._sample()
        finally:
            self.cpu_s = time.thread_time()

    def _sample(self):
        me = threading.get_ident()
        current_frames = sys._current_frames
        now = time.monotonic_ns
        stacks = self.stacks
        stack_ids = {}  # tuple of code ids -> index in stacks: ids, since hashing codes is slow
        append_time, append_thread, append_stack = self.times_ns.append, self.threads.append, self.stack_ids.append
        interval_ns = int(self.interval_s * 1e9)
        next_ns = now() + interval_ns
        sleep = time.sleep
        stop = self._stop
        while True:
            if stop.is_set():
                return
            # A plain sleep, not Event.wait: a timed wait on a lock costs twice the CPU per
            # wake-up (about 90 against 45 us on a VM). Long intervals sleep in steps, so that
            # stopping never waits long.
            delay = (next_ns - now()) / 1e9
            if delay > 0:
                sleep(min(delay, 0.05))
                continue
            t = now()
            for ident, frame in current_frames().items():
                if ident == me:
                    continue
                codes = []
                while frame is not None:
                    codes.append(frame.f_code)
                    frame = frame.f_back
                key = tuple(map(id, codes))
                index = stack_ids.get(key)
                if index is None:
                    index = stack_ids[key] = len(stacks)
                    stacks.append(tuple(codes))
                append_time(t)
                append_thread(ident)
                append_stack(index)
            next_ns += interval_ns
            if next_ns < t:  # a long pause (the GIL held elsewhere): no burst of catch-up samples
                next_ns = t + interval_ns

    def sample_count(self):
        return len(self.times_ns)

    def _folded(self, codes):
        """A stack, leaf first, as one line: root first; the main thread's from the script down."""
        codes = codes[::-1]
        start = 0
        for i, code in enumerate(codes):
            if code.co_name == "<module>" and code.co_filename in self.script_files:
                start = i
                break
        return ";".join(code_name(c) for c in codes[start:]) if codes else "[no Python frame]"

    def records(self):
        folded = [self._folded(codes) for codes in self.stacks]
        for t, ident, index in zip(self.times_ns, self.threads, self.stack_ids):
            yield "s\t%d\t%d\t%s\n" % (t, ident, folded[index])


def cprofile_records(profiler):
    for entry in profiler.getstats():
        code = entry.code
        name = code_name(code) if hasattr(code, "co_filename") else clean(str(code))
        # getstats() gives seconds for the default timer.
        yield "f\t%d\t%d\t%d\t%s\n" % (
            entry.callcount,
            round(entry.inlinetime * 1e9),
            round(entry.totaltime * 1e9),
            name,
        )


def write_trace(path, mode, records):
    temporary = path + ".partial"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(trace_opening(mode))
        out.writelines(records)
    os.replace(temporary, path)  # a reader never sees half a trace


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="joulebench_profile.py",
        description="Run a Python script under joulebench's sampler or cProfile and write a joulebench trace.",
    )
    parser.add_argument("--mode", choices=("python", "cprofile"), default="python")
    parser.add_argument(
        "--interval-ns",
        type=int,
        default=int(os.environ.get("JOULEBENCH_PROFILE_INTERVAL_NS", "5000000")),
        help="sampling interval in nanoseconds (python mode)",
    )
    parser.add_argument("--out", default=os.environ.get("JOULEBENCH_PROFILE_OUT"), help="the trace file to write")
    parser.add_argument("script", help="the script to run, then its arguments (after --)")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    if not options.out:
        parser.error("--out FILE (or JOULEBENCH_PROFILE_OUT) is required")
    if options.interval_ns <= 0:
        parser.error("--interval-ns must be positive")
    script = options.script
    if not os.path.exists(script):
        parser.error("no such script: %s" % script)

    out = os.path.abspath(options.out)
    owner = os.getpid()
    # The script sees what it would see run directly: its own argv and its folder first on sys.path.
    sys.argv = [script] + list(options.args)
    sys.path[0] = os.path.dirname(os.path.abspath(script))

    import runpy

    if options.mode == "python":
        sampler = Sampler(options.interval_ns, script)

        def finish():
            if os.getpid() != owner:
                return
            sampler.stop()
            write_trace(out, "python", sampler.records())

        atexit.register(finish)
        sampler.start()
        runpy.run_path(script, run_name="__main__")
    else:
        import cProfile

        profiler = cProfile.Profile()

        def finish():
            if os.getpid() != owner:
                return
            profiler.disable()
            write_trace(out, "cprofile", cprofile_records(profiler))

        atexit.register(finish)
        profiler.enable()
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
