"""Helpers for the tests of apps that submit jobs: capture the messages, assert on them, run them.

As Oban.Testing's manual and inline modes, Sidekiq's fake and inline modes, RQ's `is_async=False`:

    with capture_jobs() as jobs:                 # nothing reaches RQ; the jobs are kept here
        submit_job("echo", "Org A", {"n": 1})
        frappe.db.commit()                       # (or rt.commit() standalone)
        assert_submitted("echo", n=1)
        drain_jobs()                             # run them here, retries included, until none remain

    with capture_jobs(inline=True):              # each commit of the test runs what it queued
        ...

Jobs run through the same `run_job` a worker runs (claim, handler, outcome, state machine, logs,
dependents, caps), in this process and on this runtime, so each job commits as a worker would. They
run after the caller's commit has returned, never inside its after-commit callbacks: a handler that
fails rolls back, and in Frappe v15 a rollback inside those callbacks would drop the rest of them.
Works in pytest with the standalone runtime and in a FrappeTestCase inside a bench.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .execution import run_job
from .records import JobRecord, loads
from .runtime import Runtime, get_runtime, using_runtime
from .statements import statement
from .status import JobStatus

# drain_jobs: a planned retry is due this far ahead (every backoff is shorter), so it runs now.
_RETRY_HORIZON = timedelta(days=1)


@statement
def _JOBS_OF_TYPE(sa, t):
    bj = t.background_job
    return sa.select(bj).where(bj.c.job_type == sa.bindparam("job_type")).order_by(bj.c.creation, bj.c.name)


# drain_jobs(with_delayed=True): delayed and snoozed jobs come due now.
@statement
def _BRING_RUN_TIMES_FORWARD(sa, t):
    bj = t.background_job
    return (
        sa.update(bj)
        .where(bj.c.status == JobStatus.PENDING.value, bj.c.run_at > sa.bindparam("now"))
        .values(run_at=sa.bindparam("now"))
    )


@dataclass
class CapturedJobs:
    """The RQ messages the engine sent while capturing, not yet run: (queue, RQ job id, kwargs)."""

    messages: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    ran: Counter = field(default_factory=Counter)  # final status of each run -> count

    def job_names(self) -> list[str]:
        return [kwargs["background_job"] for _, _, kwargs in self.messages]


class _CapturingRuntime:
    """The test's runtime with its transport kept in this process; everything else is the runtime's."""

    def __init__(self, inner: Runtime, captured: CapturedJobs) -> None:
        self._inner = inner
        self.captured = captured

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def enqueue(self, queue: str, job_id: str, kwargs: dict[str, Any], timeout: int) -> None:
        self.captured.messages.append((queue, job_id, dict(kwargs)))

    def enqueue_many(self, messages: list[tuple[str, str, dict[str, Any], int]]) -> None:
        for queue, job_id, kwargs, timeout in messages:
            self.enqueue(queue, job_id, kwargs, timeout)

    def messages_pending(self, job_ids: list[str]) -> set[str]:
        held = {job_id for _, job_id, _ in self.captured.messages}
        return {job_id for job_id in job_ids if job_id in held}

    def remove_message(self, job_id: str) -> None:
        self.captured.messages = [message for message in self.captured.messages if message[1] != job_id]

    def stop_running(self, job_id: str) -> None:
        """Nothing runs in a work horse here; the cooperative cancel still applies."""


@contextmanager
def capture_jobs(*, inline: bool = False) -> Iterator[CapturedJobs]:
    """Keep the jobs submitted in the block in this process instead of RQ (see the module's text).

    `inline`: every commit of the caller's transaction is followed by `drain_jobs()`, once the
    commit (and its after-commit callbacks) has returned.
    """
    captured = CapturedJobs()
    inner = get_runtime()
    capturing = _CapturingRuntime(inner, captured)
    with using_runtime(capturing):
        undo = _run_after_each_commit(inner, capturing) if inline else None
        try:
            yield captured
        finally:
            if undo is not None:
                undo()


def drain_jobs(*, with_retries: bool = True, with_delayed: bool = True, max_rounds: int = 100) -> Counter:
    """Run the captured jobs in this process until none remain; returns {final status: count}.

    Commits: each job commits as a worker would, so commit what the test submitted first. Jobs a
    run releases (dependents, jobs behind a cap) are run too; with `with_retries`, a failed job's
    planned retry runs at once instead of after its backoff, until it succeeds or ends in Dead Letter;
    with `with_delayed`, a delayed or snoozed job's run time is brought forward to now, so it runs too
    (a handler that keeps snoozing reaches its snooze cap, then its retries).
    """
    rt = get_runtime()
    if not isinstance(rt, _CapturingRuntime):
        raise RuntimeError("drain_jobs() runs only inside capture_jobs()")
    ran: Counter = Counter()
    for _ in range(max_rounds):
        if with_retries:
            from .sweeps import requeue_due_retries  # the sweep's own rule for a due retry

            requeue_due_retries(runtime=rt, due_by=rt.now() + _RETRY_HORIZON)
        if with_delayed:
            from .delays import release_due  # the releaser's own rule for a due job

            rt.execute(_BRING_RUN_TIMES_FORWARD, {"now": rt.now()})
            rt.commit()
            release_due(rt)
        messages, rt.captured.messages = rt.captured.messages, []
        if not messages:
            break
        for _, _, kwargs in messages:
            ran[run_job(**kwargs)] += 1
    rt.captured.ran.update(ran)
    return ran


def submitted_jobs(job_type: str, **parameters: Any) -> list[JobRecord]:
    """Jobs of `job_type` whose parameters include `parameters`, oldest first (committed or not)."""
    rows = get_runtime().execute(_JOBS_OF_TYPE, {"job_type": job_type}).rows
    return [
        JobRecord(row)
        for row in rows
        if (loads(row["parameters"]) or {}).items() >= parameters.items()
    ]


def assert_submitted(job_type: str, **parameters: Any) -> JobRecord:
    """The newest job of `job_type` with these parameters; AssertionError naming what exists if none."""
    found = submitted_jobs(job_type, **parameters)
    if not found:
        others = [loads(job["parameters"]) for job in submitted_jobs(job_type)]
        raise AssertionError(f"no {job_type} job with parameters {parameters}; {job_type} jobs: {others}")
    return found[-1]


def _run_after_each_commit(inner: Runtime, capturing: _CapturingRuntime):
    """Wrap the commit the caller uses (the runtime's, and under Frappe `frappe.db.commit`) so that
    the jobs it queued run once it has returned; returns the undo."""
    owners: list[Any] = [inner]
    frappe_runtime = sys.modules.get("dartwing.dartwing_core.frappe_runtime")  # loaded if inner is one
    if frappe_runtime is not None and isinstance(inner, frappe_runtime.FrappeRuntime):
        # Inside a bench the caller commits with frappe.db.commit, which FrappeRuntime.commit calls too.
        owners = [frappe_runtime.frappe.local.db]
    draining = False

    def wrap(original):
        def commit(*args, **kwargs):
            nonlocal draining
            original(*args, **kwargs)
            if draining:
                return
            draining = True
            try:
                with using_runtime(capturing):
                    drain_jobs()
            finally:
                draining = False

        return commit

    originals = [(owner, owner.__dict__.get("commit")) for owner in owners]
    for owner in owners:
        owner.commit = wrap(owner.commit)

    def undo() -> None:
        for owner, original in originals:
            if original is None:
                del owner.commit
            else:
                owner.commit = original

    return undo
