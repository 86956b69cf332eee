"""Tell joulebench where a workload's phases begin and end, and what it achieved.

Standard library only, Python 3.7 or later: copy this file next to a workload or put its folder
on PYTHONPATH.

    import joulebench_events as jb

    jb.meta("framework", "pytorch " + torch.__version__)
    jb.meta("threads", torch.get_num_threads())      # any value is written as text

    with jb.region("load"):                          # begin now, end when the block is left
        data = load_data()

    @jb.region("train")                              # or around every call of a function
    def train(model, data): ...

    jb.begin("eval"); evaluate(); jb.end("eval")     # or by hand
    jb.metric("accuracy", 91.2, "%")
    jb.metric("throughput", 1234.5, "samples/s")

joulebench starts a measured workload with the environment variable JOULEBENCH_EVENTS_FD naming a
file descriptor (a pipe) it reads; it timestamps every line on receipt and computes energy and
time per region from its meter. Where the workload cannot inherit descriptors (in a container),
joulebench sets JOULEBENCH_EVENTS_PATH instead, naming a FIFO it reads (/run/joulebench/events):
when JOULEBENCH_EVENTS_FD is absent or does not name an open descriptor, the path is opened for
writing (O_NONBLOCK, so a FIFO nobody reads is refused at once instead of waiting for a reader;
then blocking writes as on the pipe). Only a FIFO or a character device is written to: a path to
anything else, or that does not exist, is ignored (nothing is ever created). The variables are read
once, at the first call. When neither gives a descriptor, every call is a no-op: the same script
runs standalone. If joulebench stops reading (the pipe breaks), events are switched off quietly; no
call ever raises.

Each call writes exactly one JSON line with os.write (continued after a partial write), under a
lock, so calls from several threads never interleave:

    {"event":"begin","region":"train"}
    {"event":"end","region":"train"}
    {"event":"metric","name":"accuracy","value":0.91,"unit":"%"}
    {"event":"meta","key":"framework","value":"pytorch 1.13.1"}

Metric values are converted with float() (ints, numpy scalars and one-element tensors work); a
value that is NaN, infinite or not a number is written as null, which joulebench counts as a
malformed line and keeps no value for.

Tests (and programs that change the environment on purpose) may call _reset_for_tests(): the next
call reads the variables again (a FIFO opened from the path is closed).
"""

import contextlib
import json
import math
import os
import stat
import threading

__all__ = ["begin", "end", "metric", "meta", "region", "enabled"]

VARIABLE = "JOULEBENCH_EVENTS_FD"
PATH_VARIABLE = "JOULEBENCH_EVENTS_PATH"

_UNREAD = -2
_OFF = -1

_fd = _UNREAD
_owned = False  # _fd was opened here, from the path: closed when events stop
_lock = threading.Lock()


def _reinit_lock_after_fork():
    # A fork while another thread held the lock would leave the child's copy locked forever.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_lock_after_fork)


def _descriptor_from_variable():
    text = os.environ.get(VARIABLE, "")
    if not text or any(c not in "0123456789" for c in text) or len(text) > 10:
        return _OFF
    fd = int(text)
    if fd > 2147483647:
        return _OFF
    try:
        os.fstat(fd)
    except OSError:
        return _OFF
    return fd


def _is_channel(mode):
    """A FIFO (what joulebench makes) or a character device; never a regular file, which writing
    would overwrite."""
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _descriptor_from_path():
    """The events FIFO named by the path variable, opened for writing without waiting, or _OFF."""
    path = os.environ.get(PATH_VARIABLE, "")
    if not path:
        return _OFF
    try:
        if not _is_channel(os.stat(path).st_mode):
            return _OFF
        # O_NONBLOCK: a FIFO nobody reads fails with ENXIO at once. Never O_CREAT.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError):  # ValueError: a path with a NUL byte
        return _OFF
    try:
        if not _is_channel(os.fstat(fd).st_mode):  # replaced between stat and open
            os.close(fd)
            return _OFF
        os.set_blocking(fd, True)  # writes wait for room, as on the inherited pipe
    except OSError:
        os.close(fd)
        return _OFF
    return fd


def _descriptor():
    global _fd, _owned
    if _fd == _UNREAD:
        with _lock:
            if _fd == _UNREAD:
                fd = _descriptor_from_variable()
                owned = False
                if fd == _OFF:
                    fd = _descriptor_from_path()
                    owned = fd >= 0
                _owned = owned
                _fd = fd
    return _fd


def _stop_locked(next_fd):
    """Switches events off (or back to unread); closes the descriptor if it was opened here."""
    global _fd, _owned
    fd, owned = _fd, _owned
    _fd, _owned = next_fd, False
    if fd >= 0 and owned:
        try:
            os.close(fd)
        except OSError:
            pass


def _reset_for_tests():
    """Forget what the variables said: the next call reads them again."""
    with _lock:
        _stop_locked(_UNREAD)


def enabled():
    """Whether events go anywhere (JOULEBENCH_EVENTS_FD names an open descriptor, or
    JOULEBENCH_EVENTS_PATH a FIFO joulebench reads)."""
    return _descriptor() >= 0


def _text(value):
    """A str that encodes to UTF-8 (lone surrogates, e.g. from undecodable file names, become '?')."""
    if not isinstance(value, str):
        value = str(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _emit(build):
    """Writes the line of the fields build() returns; nothing escapes from here."""
    if _descriptor() < 0:
        return
    try:
        line = json.dumps(build(), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        data = (line + "\n").encode("utf-8")
    except Exception:  # a name whose str() fails, say: drop the line, never break the workload
        return
    with _lock:
        fd = _fd
        if fd < 0:
            return
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)  # EINTR is retried by Python itself (PEP 475)
                view = view[written:]
        except OSError:
            _stop_locked(_OFF)  # joulebench is gone or stopped reading


def begin(region):
    """A phase of the workload begins."""
    if _fd == _OFF:  # the common standalone case, as cheap as it gets
        return
    _emit(lambda: {"event": "begin", "region": _text(region)})


def end(region):
    """The phase ends."""
    if _fd == _OFF:  # the common standalone case, as cheap as it gets
        return
    _emit(lambda: {"event": "end", "region": _text(region)})


def metric(name, value, unit=""):
    """A result. NaN, infinities and values float() refuses are written as null."""
    if _fd == _OFF:  # the common standalone case, as cheap as it gets
        return
    _emit(lambda: {"event": "metric", "name": _text(name), "value": _number(value),
                   "unit": _text(unit if unit is not None else "")})


def _number(value):
    try:
        number = float(value)
    except Exception:  # not a number (TypeError, ValueError, or a tensor with several elements)
        return None
    return number if math.isfinite(number) else None


def _value_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float.__repr__(float(value))  # shortest exact text (numpy 2 repr adds "np.float64(")
    return _text(value)


def meta(key, value):
    """A description of the run; the value is written as text (True -> "true", 8 -> "8")."""
    if _fd == _OFF:  # the common standalone case, as cheap as it gets
        return
    _emit(lambda: {"event": "meta", "key": _text(key), "value": _value_text(value)})


class region(contextlib.ContextDecorator):
    """A region as a context manager (`with region("train"):`) or a decorator (`@region("train")`).

    The region ends however the block is left, exceptions included (they are not swallowed).
    """

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        begin(self.name)
        return self

    def __exit__(self, *exc_info):
        end(self.name)
        return False
