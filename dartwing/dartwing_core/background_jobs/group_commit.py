"""A non-forking worker's successful outcomes, committed together with the next job's claim.

Why: every job paid two durable commits (its claim, then its outcome), two log INSERTs and two event
round trips; on a 2-core machine that was most of the engine's cost beside raw RQ (issue 17). A worker
that runs jobs itself (RQ's SimpleWorker, `dartwing-jobs worker --no-forking`) leaves a Completed
outcome uncommitted when the job returns. The next job's claim then commits both moves in one
transaction, writes both log rows in one INSERT, and its commit sends both events in one MULTI/EXEC.
Before the worker would wait for a message (its queues are empty), run a sweep, or stop,
`execution.flush_outcome` commits what is pending (the worker's queue class, standalone/worker.py).
This module only keeps the held state; lifecycle writes the held log rows, execution commits.

What stays as it was:
- a claim is durable before its handler runs (heartbeats, progress and cancel checkpoints write the
  claimed row on connections of their own);
- an outcome commits with the handler's own writes, after the handler returned;
- nothing is announced before its commit (events are after-commit callbacks), and the status API
  never shows a state older than one announced.
What changes: a Completed outcome is announced one claim later (the next message was already there,
so that is milliseconds), and a worker that dies in between leaves that one job Running: the orphan
checks run it again, as any lost run, and its log shows the recovery. Failures, snoozes and cancels
commit at once, as before. Forking workers (one job per work horse) and Frappe never enable this.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

_enabled = False


class _Pending(threading.local):
    """The outcome this thread left uncommitted: its job, and its log rows not yet written."""

    job: str | None = None
    log_rows: list[dict[str, Any]]

    def __init__(self) -> None:
        self.log_rows = []


_pending = _Pending()


def enable() -> None:
    """Join outcomes to the next claim's commit in this process (a non-forking worker calls it)."""
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


def pending() -> str | None:
    """The job whose outcome waits for a commit in this thread, if any."""
    return _pending.job


def hold(job_name: str, log_rows: list[dict[str, Any]]) -> None:
    """Leave `job_name`'s outcome (already written, but for `log_rows`) to the next commit."""
    _pending.job = job_name
    _pending.log_rows.extend(log_rows)


def take_log_rows() -> list[dict[str, Any]]:
    """The held log rows, for the next log INSERT of the same transaction to write with its own (on
    the worker's thread nothing writes a log row between a held outcome and the next claim)."""
    rows, _pending.log_rows = _pending.log_rows, []
    return rows


def committed() -> None:
    """The transaction holding the pending outcome committed (or was written off: `lost`)."""
    _pending.job = None
    _pending.log_rows = []


def lost(reason: BaseException) -> None:
    """The transaction holding the pending outcome is gone (its connection failed): the job stays
    Running with its claim committed, and the orphan checks run it again."""
    if _pending.job is not None:
        log.warning(
            "outcome of job %s lost with its transaction (%s); the orphan checks run it again", _pending.job, reason
        )
    committed()
