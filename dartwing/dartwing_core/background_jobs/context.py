"""JobContext: what a handler gets — its parameters, progress reporting, cancel checkpoints, snooze,
a logger."""

from __future__ import annotations

import logging
from typing import Any

from .events import ProgressThrottle, publish_progress
from .records import loads, update_own_attempt
from .runtime import Runtime
from .snooze import RetryLater
from .statements import statement
from .status import JobStatus


@statement
def _CANCEL_REQUESTED(sa, t):
    bj = t.background_job
    return sa.select(bj.c.cancel_requested).where(bj.c.name == sa.bindparam("job_name"))


@statement
def _LEASE(sa, t):
    bj = t.background_job
    return sa.select(bj.c.status, bj.c.attempt, bj.c.cancel_requested).where(bj.c.name == sa.bindparam("job_name"))


class JobCanceled(Exception):
    """Raised inside a handler at a checkpoint after cancellation was requested."""


class LeaseLost(JobCanceled):
    """This attempt no longer owns the job (canceled by force, or recovered after a missed heartbeat)."""


class JobContext:
    """Handed to every handler. Progress and cancel checkpoints run in a transaction of their own
    (`Runtime.own_transaction`): a crash keeps the last progress, and the handler's own writes still
    commit only when it returns, as Frappe's `execute_job` commits a job's work."""

    def __init__(self, rt: Runtime, job: dict[str, Any], attempt: int, *, throttle_seconds: float):
        self._rt = rt
        self.job_name: str = job["name"]
        self.job_type: str = job["job_type"]
        self.organization: str = job["organization"]
        self.attempt = attempt
        self.snooze_count: int = int(job.get("snooze_count") or 0)  # snoozes this job has taken so far
        self.parameters: dict[str, Any] = loads(job.get("parameters")) or {}
        self.logger = logging.LoggerAdapter(
            logging.getLogger(f"dartwing.job.{self.job_type}"), {"job": self.job_name, "attempt": attempt}
        )
        self._throttle = ProgressThrottle(throttle_seconds)
        self._dependencies: list[dict[str, Any]] | None = None

    @property
    def job_id(self) -> str:
        return self.job_name

    @property
    def dependencies(self) -> list[dict[str, Any]]:
        """The outcomes of the jobs this one waited for (`depends_on`; a batch's callback: every job
        of the batch): [{job_id, status, output_reference, error_message}], read on first use."""
        if self._dependencies is None:
            from .dependencies import parent_outcomes  # only the handlers that ask pay for the read

            self._dependencies = parent_outcomes(self._rt, self.job_name)
        return self._dependencies

    def update_progress(self, percent: float, message: str | None = None) -> None:
        """Record and publish progress (throttled); raises JobCanceled if cancellation was requested."""
        if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
            raise ValueError(f"progress must be a number from 0 to 100, got {percent!r}")
        if not self._throttle.allow(percent):
            return
        rt = self._rt
        with rt.own_transaction():
            now = rt.now()
            fields = {"progress": percent, "progress_message": message, "heartbeat_at": now, "modified": now}
            if not update_own_attempt(rt, self.job_name, self.attempt, **fields):
                raise LeaseLost(f"attempt {self.attempt} of {self.job_name} no longer owns the job")
            cancel_requested = rt.execute(_CANCEL_REQUESTED, {"job_name": self.job_name}).scalar()
            publish_progress(
                rt,
                job_id=self.job_name,
                organization=self.organization,
                status=JobStatus.RUNNING.value,
                progress=percent,
                progress_message=message,
                updated_at=now,
            )
        if cancel_requested:
            raise JobCanceled("Canceled at a progress checkpoint")

    def check_cancel(self) -> None:
        """A cancel checkpoint: raises JobCanceled if cancellation was requested or the job was taken away."""
        with self._rt.own_transaction():
            row = self._rt.execute(_LEASE, {"job_name": self.job_name}).first()
        if row is None or int(row["attempt"]) != self.attempt or row["status"] != JobStatus.RUNNING.value:
            raise LeaseLost(f"attempt {self.attempt} of {self.job_name} no longer owns the job")
        if row["cancel_requested"]:
            raise JobCanceled("Canceled at a checkpoint")

    def snooze(self, seconds: float, reason: str | None = None) -> None:
        """Stop here and run the job again in `seconds`, without counting a failure (snooze.py): raises
        RetryLater, so nothing after the call runs and the handler's uncommitted writes roll back."""
        raise RetryLater(seconds, reason)
