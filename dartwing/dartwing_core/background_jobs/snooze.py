"""Snooze: a handler that cannot work yet sends its job back to wait, without counting a failure.

A handler raises `RetryLater(seconds)` (or calls `context.snooze(seconds)`, which raises it). The
attempt ends Running → Pending with `run_at` = now + seconds and `snooze_count` + 1, fenced by the
attempt like every outcome; its history row says "Snoozed for Ns". `retry_count` is untouched, the job
keeps its dedup slot, frees its concurrency slot, and the delay releaser (delays.py) queues it again
on time. As on any exception, the handler's own uncommitted writes are rolled back.

Snoozes are capped at `max_snoozes` per job (DARTWING_MAX_SNOOZES, default 25). Past the cap a snooze
counts as a transient failure, retried after the delay the handler asked for: a job that never stops
snoozing then spends its retries and ends in Dead Letter, where an operator sees it, instead of
waiting forever. A cancel requested while the handler ran wins over its snooze.
"""

from __future__ import annotations

from datetime import timedelta

from .delays import valid_delay
from .errors import InvalidInputError
from .outcomes import fail, finish
from .records import JobRecord, fetch_job
from .retry_policy import ErrorType
from .runtime import Runtime
from .settings import settings
from .status import JobStatus


class RetryLater(Exception):
    """Raised by a handler: run this job again in `seconds` (0 to a year), counting no failure."""

    def __init__(self, seconds: float, reason: str | None = None):
        try:
            self.seconds = valid_delay("RetryLater seconds", seconds)
        except InvalidInputError as exc:  # a handler's bug, not a caller's input: a ValueError
            raise ValueError(str(exc)) from None
        self.reason = reason
        super().__init__(reason or f"retry in {self.seconds:g}s")


def record_snooze(rt: Runtime, job: JobRecord, attempt: int, snooze: RetryLater, *, duration_ms: int) -> str:
    """End `attempt` with its snooze (or, past the cap, a transient failure; or the cancel asked for
    while it ran); returns the job's status afterwards."""
    current = fetch_job(rt, job["name"], for_update=True)  # the row lock orders it with a cancel
    if current is not None and current["cancel_requested"] and int(current["attempt"]) == attempt:
        return finish(rt, job, attempt, JobStatus.CANCELED, {"completed_at": rt.now()}, "Canceled while snoozing",
                      duration_ms=duration_ms)
    taken = int((current or {}).get("snooze_count") or 0)
    cap = int(settings().max_snoozes)
    if taken >= cap:
        return fail(
            rt,
            job,
            attempt,
            error_type=ErrorType.TRANSIENT,
            error_message=f"Snoozed {taken} times, the cap (DARTWING_MAX_SNOOZES={cap}); this snooze counts as a failure",
            duration_ms=duration_ms,
            retry_delay=timedelta(seconds=snooze.seconds),
        )
    run_at = rt.now() + timedelta(seconds=snooze.seconds)
    message = f"Snoozed for {snooze.seconds:g}s until {rt.aware(run_at).isoformat()} (snooze {taken + 1} of {cap})"
    if snooze.reason:
        message += f": {snooze.reason}"
    values = {"run_at": run_at, "snooze_count": taken + 1}
    return finish(rt, job, attempt, JobStatus.PENDING, values, message[:1000], duration_ms=duration_ms)

