"""The lease heartbeat: while a handler runs, its row's `heartbeat_at` is stamped every interval.

One helper thread per process stamps the rows of whichever handlers are running (an RQ worker runs one
at a time), so in a worker that runs jobs itself a job that ends before its first beat costs no thread
start and no database write; a forked work horse is a process of its own and starts one.
Each beat runs in a short transaction of its own and is fenced by the attempt like every worker write;
leaving the `Heartbeat` block waits for a beat of that job in progress, so no stamp lands after the
outcome is written. If the process dies, the stamps stop and the orphan sweep recovers the job.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time

from .records import update_own_attempt
from .runtime import Runtime

log = logging.getLogger(__name__)


class Heartbeat:
    """Stamps the job's row every `interval` seconds while the `with` block runs."""

    def __init__(self, rt: Runtime, job_name: str, attempt: int, interval: float):
        self._rt = rt
        self._job_name = job_name
        self._attempt = attempt
        self.interval = interval
        self.due = 0.0  # monotonic time of the next beat, kept by the scheduler

    def __enter__(self) -> Heartbeat:
        _scheduler().add(self)
        return self

    def __exit__(self, *exc_info) -> None:
        _scheduler().remove(self)

    def beat(self) -> None:
        """Stamp the row now, in a session and transaction of its own (which rolls back on error).

        A failed beat (database down, no session) is only logged: the next interval tries again. A
        lost lease needs nothing here: the fenced write matches no row.
        """
        rt = self._rt
        try:
            with rt.background_session():
                update_own_attempt(rt, self._job_name, self._attempt, heartbeat_at=rt.now())
                rt.commit()
        except Exception as exc:  # noqa: BLE001 - retried at the next interval
            log.warning("heartbeat of %s failed: %s", self._job_name, exc)


class _Scheduler:
    """The process's heartbeat thread: sleeps until the earliest beat is due, then writes it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running: set[Heartbeat] = set()
        self._beating: Heartbeat | None = None
        self._wakes_at = math.inf  # when the thread next looks at `_running`
        threading.Thread(target=self._run, name="dartwing-heartbeat", daemon=True).start()

    def add(self, heartbeat: Heartbeat) -> None:
        with self._changed:
            heartbeat.due = time.monotonic() + heartbeat.interval
            self._running.add(heartbeat)
            if heartbeat.due < self._wakes_at:  # else the thread wakes in time anyway: no switch per job
                self._changed.notify_all()

    def remove(self, heartbeat: Heartbeat) -> None:
        # No wake-up: at its planned time the thread finds the heartbeat gone and plans again.
        with self._changed:
            self._running.discard(heartbeat)
            while self._beating is heartbeat:
                self._changed.wait()

    def _run(self) -> None:
        while True:
            with self._changed:
                heartbeat = self._next_due()
                self._beating = heartbeat
            heartbeat.beat()
            with self._changed:
                self._beating = None
                self._changed.notify_all()

    def _next_due(self) -> Heartbeat:
        """Wait (holding the condition) until a running heartbeat is due; reschedule and return it."""
        while True:
            now = time.monotonic()
            earliest = min(self._running, key=lambda h: h.due, default=None)
            if earliest is not None and earliest.due <= now:
                earliest.due = now + earliest.interval
                self._wakes_at = math.inf
                return earliest
            self._wakes_at = math.inf if earliest is None else earliest.due
            self._changed.wait(None if earliest is None else earliest.due - now)


_current: _Scheduler | None = None
_current_lock = threading.Lock()


def _scheduler() -> _Scheduler:
    """This process's scheduler, started at its first use."""
    global _current
    with _current_lock:
        if _current is None:
            _current = _Scheduler()
        return _current


def _forget_after_fork() -> None:
    # Threads do not survive a fork: a forked child (an RQ work horse) starts a scheduler of its own.
    global _current, _current_lock
    _current, _current_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
