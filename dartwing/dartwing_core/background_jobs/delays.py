"""Delayed jobs: the run time a submit asks for, and the releaser that queues each job on time.

A delayed job (`submit_job(..., run_at=...)` or `delay=...`) and a snoozed one (snooze.py) wait
Pending with `run_at` set: a hold by time, beside the parent and the caps (release.py), not a status
of its own, so the transition table and every reader of Pending stay as they are. Such a job holds its
row, its dedup slot and its tenancy like any other, and is canceled at once while it waits.

The releaser queues each job as its `run_at` comes: it sleeps until the earliest `run_at` it knows
of, at most `delay_poll_seconds` (a job submitted meanwhile may be due sooner), then releases what
is due, each in a transaction of its own. Both reads are ranges on the (status, run_at) index, so a
pass costs the due rows, not the table. It moves rate limits' lines on time too: it also sleeps
until a window opens for a line, then releases that line (`rate_limits.Lines`). It runs in the
standalone scheduler (a thread) and, in a bench, as `bench --site <site> dartwing-scheduler` (a
Procfile line); the minute sweep runs `release_due` and the lines' release too, so a job is released
within a minute when no releaser runs. Several releasers may run: each release is a compare-and-set,
so a job is queued once.

A due job that a parent, a cap or a rate limit's line still holds has its `run_at` cleared and waits
as any held job, released by its parent's completion, a freed slot or its window; a released job
keeps its `run_at` (its lateness, `started_at - run_at`, is what bench/delay_precision.py measures).
A delayed job of a rate-limited type is queued at its run time like any other, and the worker's claim
holds it if its window is full (rate_limits.py): it then waits in the line until the window opens.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from . import rate_limits
from .errors import InvalidInputError
from .outages import quietly
from .records import JobRecord
from .release import release_or_settle
from .runtime import Runtime
from .settings import settings
from .statements import statement
from .status import JobStatus

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 365 * 24 * 3600
# Due jobs one pass releases at most; a pass that takes all of them starts the next at once.
RELEASE_BATCH = 500


@statement
def _DUE(sa, t):
    bj = t.background_job
    return (
        sa.select(bj)
        .where(bj.c.status == JobStatus.PENDING.value, bj.c.run_at <= sa.bindparam("now"))
        .order_by(bj.c.run_at)
        .limit(RELEASE_BATCH)
    )


@statement
def _NEXT_RUN_AT(sa, t):
    bj = t.background_job
    return sa.select(sa.func.min(bj.c.run_at)).where(
        bj.c.status == JobStatus.PENDING.value, bj.c.run_at > sa.bindparam("now")
    )


# A due job that its parent or a cap still holds stops being held by time.
@statement
def _END_TIME_HOLD(sa, t):
    bj = t.background_job
    return (
        sa.update(bj)
        .where(
            bj.c.name == sa.bindparam("job_name"),
            bj.c.status == JobStatus.PENDING.value,
            bj.c.run_at == sa.bindparam("held_until"),  # not a newer snooze's run time
        )
        .values(run_at=None)
    )


def valid_delay(name: str, value: Any) -> float:
    """`value` as a number of seconds from 0 to MAX_DELAY_SECONDS (a number or its text, never a
    bool, NaN or infinity); InvalidInputError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInputError(f"{name} must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise InvalidInputError(f"{name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_DELAY_SECONDS:
        raise InvalidInputError(f"{name} must be between 0 and {MAX_DELAY_SECONDS} seconds, got {value!r}")
    return seconds


def run_at_of(rt: Runtime, now: datetime, run_at: Any, delay: Any) -> datetime | None:
    """The stored (naive, as `rt.now()`) time a new job created at `now` waits for, or None when it
    may run at once (no delay, a zero delay or a `run_at` already past). `run_at`: an aware datetime
    or ISO 8601 text with its offset; `delay`: seconds. Raises InvalidInputError."""
    given_run_at, given_delay = run_at not in (None, ""), delay not in (None, "")
    if given_run_at and given_delay:
        raise InvalidInputError("give run_at or delay, not both")
    if given_delay:
        seconds = valid_delay("delay", delay)
        return now + timedelta(seconds=seconds) if seconds > 0 else None
    if not given_run_at:
        return None
    when = _aware_datetime(run_at)
    stored = when.astimezone(rt.aware(now).tzinfo).replace(tzinfo=None)
    if stored - now > timedelta(seconds=MAX_DELAY_SECONDS):
        raise InvalidInputError(f"run_at is more than {MAX_DELAY_SECONDS // 86400} days ahead: {run_at!r}")
    return stored if stored > now else None


def _aware_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInputError(f"run_at must be an ISO 8601 date and time, got {value!r}") from None
    if not isinstance(value, datetime):
        raise InvalidInputError(f"run_at must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"run_at must name its offset (UTC or a time zone): {value.isoformat()}")
    return value


def release_due(rt: Runtime) -> int:
    """Queue every Pending job whose `run_at` has come (its parent and caps allowing), each in a
    transaction of its own; returns how many were queued (or canceled, their parent gone)."""
    released = 0
    while True:
        rows = [JobRecord(row) for row in rt.execute(_DUE, {"now": rt.now()}).rows]
        rt.rollback()  # end the read: the next one must see what other releasers committed
        for job in rows:
            if release_or_settle(rt, job, message="Run time reached"):
                released += 1
            else:
                rt.execute(_END_TIME_HOLD, {"job_name": job["name"], "held_until": job["run_at"]})
            rt.commit()
        if len(rows) < RELEASE_BATCH:
            return released


def seconds_to_next(rt: Runtime, ceiling: float, also: datetime | None = None) -> float:
    """Seconds until the earliest waiting `run_at` (or `also`, if sooner), at most `ceiling` (0 when
    one is due)."""
    now = rt.now()
    upcoming = rt.execute(_NEXT_RUN_AT, {"now": now}).scalar()
    rt.rollback()
    soonest = min((when for when in (upcoming, also) if when is not None), default=None)
    if soonest is None:
        return ceiling
    return max(0.0, min(ceiling, (soonest - now).total_seconds()))


def _release_pass(rt: Runtime, lines: rate_limits.Lines, ceiling: float) -> tuple[int, float]:
    """One pass of the releaser: (jobs released, seconds to sleep)."""
    released = release_due(rt) + lines.release(rt)
    opening = lines.next_opening(rt)
    rt.rollback()
    return released, seconds_to_next(rt, ceiling, opening)


def run_releaser(
    rt: Runtime,
    stop: threading.Event,
    *,
    recover: Callable[[], None] | None = None,
) -> None:
    """Release due jobs, and rate limits' lines as their windows open, on time until `stop` is set
    (the standalone scheduler's thread, the bench command). A failing pass (database down) is logged
    once per outage, `recover` (reconnect) is called and the pass is tried again after
    `delay_poll_seconds`."""
    failing = False
    lines = rate_limits.Lines()
    while not stop.is_set():
        poll = settings().delay_poll_seconds
        try:
            released, wait = _release_pass(rt, lines, poll)
        except Exception as exc:  # noqa: BLE001 - the releaser outlives outages
            if not failing:
                log.warning("delayed-job release failed (%r); retrying every %ss", exc, poll)
            failing = True
            lines = rate_limits.Lines()  # read every line again once it works: windows open meanwhile
            quietly(rt.rollback, log)
            if recover is not None:
                quietly(recover, log)
            stop.wait(poll)
            continue
        if failing:
            log.info("delayed-job release works again")
            failing = False
        if released:
            log.info("released %s delayed or rate-limited job(s)", released)
        stop.wait(wait)
