"""Process lifetimes: workers that die with their parent, and telling whether a recorded process still runs.

A ``kill -9`` of ``python -m pipelines.run`` gives its pool workers no chance to stop: without help they are
re-parented and finish their in-flight run, writing to the lake, while nobody waits for them. On Linux the kernel
can send a signal to a process when its parent dies (``prctl(PR_SET_PDEATHSIG)``, man 2 prctl); elsewhere a daemon
thread polls ``os.getppid()``, which changes when the parent is gone. Either way the worker dies with SIGKILL,
as its parent did: nothing of a half-done run continues. The signal follows the parent *thread* that started the
worker, so workers must be started by a thread that lives as long as the pool (``ProcessPoolExecutor.submit``
from the backfill's main thread does).

A process is identified by pid, host and start time: a pid alone can be reused by an unrelated process, so a
run's recorded process counts as alive only when a process with that pid started at the recorded time.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
"""``<linux/prctl.h>``: the signal the calling process gets when its parent dies."""
PARENT_POLL_S = 0.5
"""How often the portable fallback looks at the parent pid."""


def die_with_parent(parent_pid: int, use_prctl: bool = True) -> str:
    """Make the calling process die (SIGKILL) as soon as its parent ``parent_pid`` dies; which mechanism was set up:
    ``"prctl"`` (Linux, immediate) or ``"watcher"`` (a daemon thread polling the parent every
    :data:`PARENT_POLL_S`). If the parent is already gone, the caller is killed at once."""
    if use_prctl and _set_parent_death_signal(signal.SIGKILL):
        if os.getppid() != parent_pid:  # the parent died before the signal was armed
            _kill_self()
        return "prctl"
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="die-with-parent", daemon=True).start()
    return "watcher"


def arm_parent_death_signal() -> None:
    """A ``subprocess`` ``preexec_fn``: the child, and the program it executes, gets SIGKILL when its parent dies
    (Linux: the setting survives ``exec``; elsewhere nothing, the child outlives its parent)."""
    _set_parent_death_signal(signal.SIGKILL)


def _set_parent_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    _kill_self()


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as recorded for later: its pid, host name and start time (clock ticks after boot on Linux,
    ``""`` where unknown)."""

    pid: int
    host: str
    started: str

    @classmethod
    def current(cls) -> ProcessIdentity:
        return cls(os.getpid(), socket.gethostname(), start_time(os.getpid()))

    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    def is_gone(self) -> bool:
        """True when no process with this pid runs on this host, or one runs that started at another time (the pid
        was reused). Only meaningful for a process of this host (:meth:`on_this_host`)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # a process of another user has the pid: not ours any more, unless it is the same
            pass
        started = start_time(self.pid)
        return bool(self.started and started != self.started) or _is_zombie(self.pid)


def start_time(pid: int) -> str:
    """When process ``pid`` started, as the kernel counts it (field 22 of ``/proc/<pid>/stat``); ``""`` where
    there is no ``/proc`` or no such process."""
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else ""


def _is_zombie(pid: int) -> bool:
    """A process that exited but was not reaped yet (it holds no memory and runs nothing)."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] == "Z"


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); empty where unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text[text.rfind(")") + 2 :].split()
