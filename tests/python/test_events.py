"""Python.Events: the pure-Python events helper (python/joulebench_events.py) over a FIFO named by
JOULEBENCH_EVENTS_PATH, as joulebench offers it to a workload in a container (which cannot inherit
descriptors). The FIFO is held open here as joulebench holds it: for reading without waiting, plus a
write "keeper" so the reader sees no end of file while no workload writes.

(The helper over an inherited pipe, JOULEBENCH_EVENTS_FD, is tested from C++ in
tests/unit/event_parser_test.cpp, its lines read back by joulebench's own parser.)

    PYTHONPATH=python /usr/bin/python3 tests/python/test_events.py -v   (ctest: Python.Events)
"""

import os
import subprocess
import sys
import tempfile
import threading
import unittest

import joulebench_events as jb

FD_VARIABLE = "JOULEBENCH_EVENTS_FD"
PATH_VARIABLE = "JOULEBENCH_EVENTS_PATH"


class EventsFifo:
    """A FIFO in a temporary folder; with `listen`, held open as joulebench holds it."""

    def __init__(self, listen=True):
        self._dir = tempfile.TemporaryDirectory(prefix="joulebench-events-")
        self.path = os.path.join(self._dir.name, "events")
        os.mkfifo(self.path, 0o600)
        self.read_fd = -1
        self.keeper_fd = -1
        if listen:
            self.read_fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self.keeper_fd = os.open(self.path, os.O_WRONLY)

    def close_read(self):
        os.close(self.read_fd)
        self.read_fd = -1

    def unread(self):
        """What is waiting to be read now (writers may be left)."""
        data = b""
        while True:
            try:
                chunk = os.read(self.read_fd, 65536)
            except BlockingIOError:
                return data
            if not chunk:
                return data
            data += chunk

    def lines(self):
        """Every line written, once the helper has let go of the FIFO: the keeper goes too, so the
        read ends at the end of file (a writer left would make it end early, and the test fail)."""
        os.close(self.keeper_fd)
        self.keeper_fd = -1
        return self.unread().decode("utf-8").splitlines()

    def close(self):
        for fd in (self.read_fd, self.keeper_fd):
            if fd >= 0:
                os.close(fd)
        self._dir.cleanup()


def is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class EventsOverAFifo(unittest.TestCase):
    def setUp(self):
        self._saved = {name: os.environ.get(name) for name in (FD_VARIABLE, PATH_VARIABLE)}
        os.environ.pop(FD_VARIABLE, None)
        os.environ.pop(PATH_VARIABLE, None)
        jb._reset_for_tests()

    def tearDown(self):
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        jb._reset_for_tests()

    def use(self, path):
        os.environ[PATH_VARIABLE] = path
        jb._reset_for_tests()

    def test_the_path_names_a_fifo_joulebench_reads(self):
        fifo = EventsFifo()
        self.addCleanup(fifo.close)
        self.use(fifo.path)
        self.assertTrue(jb.enabled())
        fd = jb._fd
        # Opened without waiting, then blocking for writes as an inherited pipe is; never inherited.
        self.assertTrue(os.get_blocking(fd))
        self.assertFalse(os.get_inheritable(fd))
        jb.meta("framework", "in a container")
        with jb.region("train"):
            jb.metric("accuracy", 0.91, "%")
        jb._reset_for_tests()
        self.assertFalse(is_open(fd), "the FIFO the helper opened stays open after a reset")
        self.assertEqual(fifo.lines(), [
            '{"event":"meta","key":"framework","value":"in a container"}',
            '{"event":"begin","region":"train"}',
            '{"event":"metric","name":"accuracy","value":0.91,"unit":"%"}',
            '{"event":"end","region":"train"}',
        ])

    def test_a_fifo_nobody_reads_switches_events_off_without_waiting(self):
        fifo = EventsFifo(listen=False)
        self.addCleanup(fifo.close)
        self.use(fifo.path)
        result = {}

        def call():
            result["enabled"] = jb.enabled()
            jb.metric("accuracy", 0.5)
            result["done"] = True

        # On a thread, so a helper that waits for a reader fails the test instead of hanging it.
        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        thread.join(10)
        if thread.is_alive():
            reader = os.open(fifo.path, os.O_RDONLY | os.O_NONBLOCK)  # lets it go on
            thread.join()
            os.close(reader)
            self.fail("the helper waited for a reader of the events FIFO")
        self.assertEqual(result, {"enabled": False, "done": True})
        self.assertFalse(jb.enabled())

    def test_a_path_that_is_no_fifo_is_never_written_nor_created(self):
        folder = tempfile.TemporaryDirectory(prefix="joulebench-events-")
        self.addCleanup(folder.cleanup)
        regular = os.path.join(folder.name, "events.jsonl")
        with open(regular, "w") as f:
            f.write("keep me\n")
        missing = os.path.join(folder.name, "missing")
        for path in (regular, missing, folder.name, ""):
            self.use(path)
            self.assertFalse(jb.enabled(), path)
            jb.metric("x", 1)
        with open(regular) as f:
            self.assertEqual(f.read(), "keep me\n")
        self.assertFalse(os.path.exists(missing))
        # A character device is a channel: /dev/null takes the lines.
        self.use("/dev/null")
        self.assertTrue(jb.enabled())
        jb.metric("x", 1)
        self.assertTrue(jb.enabled())

    def test_the_fd_variable_wins_over_the_path(self):
        fifo = EventsFifo()
        self.addCleanup(fifo.close)
        read_end, write_end = os.pipe()
        self.addCleanup(os.close, read_end)
        os.environ[FD_VARIABLE] = str(write_end)
        self.use(fifo.path)
        jb.metric("by_fd", 1)
        jb._reset_for_tests()
        os.close(write_end)
        self.assertEqual(os.read(read_end, 4096), b'{"event":"metric","name":"by_fd","value":1.0,"unit":""}\n')
        self.assertEqual(fifo.unread(), b"")
        # An FD variable that names no open descriptor gives way to the path.
        os.environ[FD_VARIABLE] = str(write_end)  # closed now
        jb._reset_for_tests()
        jb.metric("by_path", 2)
        jb._reset_for_tests()
        self.assertEqual(fifo.lines(), ['{"event":"metric","name":"by_path","value":2.0,"unit":""}'])

    def test_a_fifo_whose_reader_goes_switches_events_off_and_is_closed(self):
        fifo = EventsFifo()
        self.addCleanup(fifo.close)
        self.use(fifo.path)
        self.assertTrue(jb.enabled())
        fd = jb._fd
        fifo.close_read()  # joulebench has gone away
        jb.metric("accuracy", 0.5)  # no exception
        self.assertFalse(jb.enabled())
        self.assertFalse(is_open(fd), "the helper keeps the broken FIFO open")
        jb.begin("train")  # and later calls are no-ops

    def test_a_python_that_inherits_no_descriptor_writes_by_path(self):
        # As in a container: another interpreter, only the path in its environment.
        fifo = EventsFifo()
        self.addCleanup(fifo.close)
        script = (
            "import joulebench_events as jb\n"
            "assert jb.enabled()\n"
            "with jb.region('train'):\n"
            "    jb.metric('loss', 0.25)\n"
        )
        environment = {name: value for name, value in os.environ.items() if name != FD_VARIABLE}
        environment[PATH_VARIABLE] = fifo.path
        environment["PYTHONPATH"] = os.path.dirname(os.path.abspath(jb.__file__))
        run = subprocess.run([sys.executable, "-c", script], env=environment, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(run.returncode, 0, run.stdout.decode(errors="replace"))
        self.assertEqual(fifo.lines(), [
            '{"event":"begin","region":"train"}',
            '{"event":"metric","name":"loss","value":0.25,"unit":""}',
            '{"event":"end","region":"train"}',
        ])


if __name__ == "__main__":
    unittest.main()
