"""The schedule tick: submit each due Job Schedule occurrence's job, exactly once.

It runs in the minute sweep (hooks.py cron `* * * * *`, and `dartwing-jobs scheduler`), so an
occurrence fires within about a minute of its time; schedules have minute precision.

Exactly once, with several schedulers and crashes: each due schedule is fired in a transaction of
its own that
1. locks the schedule's row, still due at the `next_run_at` the tick read (a racing scheduler waits
   here, then finds it moved on and does nothing);
2. submits the job through `submit_job`, as the schedule's owner, with every check a submit makes
   (job type, organization, membership, role, parameters, dedup);
3. inserts the occurrence's Job Schedule Run row, named `<schedule>@<occurrence in UTC>`: the
   primary key is the (schedule, occurrence) unique key, so a second firing of the same occurrence
   (a stale read, a clock that went back, an edit) fails and rolls back with its job;
4. moves next_run_at to the first occurrence after now and records last_run_at, last_job and
   last_error; then commits. The job's RQ message leaves after that commit (the outbox).
A process killed anywhere before the commit leaves nothing behind; the next tick fires the
occurrence. One killed after it has fired it.

After downtime the tick fires at most one job per schedule, for the latest due occurrence; the
earlier ones are reported as passed over. With catch-up `Skip` that occurrence only runs if it is at
most GRACE_SECONDS late; with `Run Once` it runs whatever its age.

An occurrence whose submit is refused (job type disabled, organization inactive, owner no longer a
member, an identical job still holding its dedup slot...) is not retried: its run row records why
(Skipped for a dedup hold, Failed otherwise) and the schedule's last_error shows it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from . import schema
from .cron import latest_due, next_occurrence, valid_zone
from .errors import DartwingError, DuplicateJobError
from .runtime import Runtime, get_runtime
from .schedules import CatchUp, RunOutcome, stored_time, utc_instant
from .submission import submit_job

log = logging.getLogger(__name__)

GRACE_SECONDS = 300  # catch-up Skip: how late an occurrence may fire
TICK_BATCH = 500
RUN_RETENTION_DAYS = 30
js, jsr = schema.job_schedule, schema.job_schedule_run


def occurrence_key(schedule: str, occurrence: datetime) -> str:
    """The run row's name: the (schedule, occurrence) unique key."""
    return f"{schedule}@{occurrence.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"


def due_query(now: datetime, batch: int = TICK_BATCH) -> sa.Select:
    """Enabled schedules due by `now` (stored time): a range on the (enabled, next_run_at) index."""
    return (
        sa.select(js.c.name, js.c.next_run_at)
        .where(js.c.enabled == 1, js.c.next_run_at <= now)
        .order_by(js.c.next_run_at)
        .limit(batch)
    )


def fire_due_schedules(
    *, runtime: Runtime | None = None, now: datetime | None = None, batch: int = TICK_BATCH
) -> int:
    """Fire every due schedule (see the module docstring), each in its own committed transaction.
    `now` (stored time, default the clock) lets tests and drains tick at a chosen time. Returns
    how many occurrences this call consumed (fired, skipped or refused)."""
    rt = runtime or get_runtime()
    now = now or rt.now()
    due = rt.execute(due_query(now, batch)).rows
    rt.rollback()
    consumed = 0
    for row in due:
        try:
            consumed += fire_schedule(rt, row["name"], row["next_run_at"], now)
            rt.commit()
        except Exception as exc:  # noqa: BLE001 - one schedule must not stop the others
            rt.rollback()
            if not rt.is_unique_violation(exc):
                rt.log_error("Dartwing schedule tick", f"{row['name']}: {exc!r}")
    return consumed


def fire_schedule(rt: Runtime, name: str, due_at: datetime, now: datetime) -> int:
    """Steps 1-4 in the caller's transaction; 1 if this call consumed the occurrence, 0 if another
    scheduler (or an edit) got there first. The caller commits."""
    schedule = rt.execute(
        sa.select(js)
        .where(js.c.name == name, js.c.enabled == 1, js.c.next_run_at == due_at)
        .with_for_update()
    ).first()
    if schedule is None:
        return 0
    zone = valid_zone(schedule["timezone"])
    now_utc = utc_instant(rt, now)
    occurrence, passed = latest_due(schedule["cron_expression"], zone, utc_instant(rt, due_at), now_utc)
    key = occurrence_key(name, occurrence)
    if rt.execute(sa.select(jsr.c.name).where(jsr.c.name == key)).first() is not None:
        _advance(rt, schedule, now_utc, last_error=None, fired=False)  # fired already (a stale next_run_at)
        return 0
    outcome, job, message = _submit_occurrence(rt, schedule, occurrence, now_utc, passed)
    rt.execute(
        sa.insert(jsr).values(
            name=key,
            creation=now,
            modified=now,
            owner=schedule["owner"],
            modified_by=schedule["owner"],
            job_schedule=name,
            organization=schedule["organization"],
            occurrence=stored_time(rt, occurrence),
            outcome=outcome.value,
            background_job=job,
            message=message,
        )
    )
    _advance(rt, schedule, now_utc, last_error=None if job else message, fired=True, job=job, now=now)
    log.info("schedule %s occurrence %s: %s %s", name, key, outcome.value, job or message)
    return 1


def _submit_occurrence(
    rt: Runtime, schedule: dict, occurrence: datetime, now_utc: datetime, passed: int
) -> tuple[RunOutcome, str | None, str | None]:
    """Submit the occurrence's job as the schedule's owner, unless the catch-up policy skips it."""
    earlier = f"; {passed} earlier occurrence(s) passed over while no scheduler ran" if passed else ""
    late = (now_utc - occurrence).total_seconds()
    if schedule["catch_up"] == CatchUp.SKIP.value and late > GRACE_SECONDS:
        return RunOutcome.SKIPPED, None, f"Skipped: {late:.0f}s late (catch-up Skip runs up to {GRACE_SECONDS}s late){earlier}"
    previous_user = rt.current_user()
    rt.set_user(schedule["owner"])
    try:
        job = submit_job(
            schedule["job_type"], schedule["organization"], schedule["parameters"], priority=schedule["priority"]
        )
    except DuplicateJobError as exc:
        return RunOutcome.SKIPPED, None, f"Skipped: {exc}{earlier}"
    except DartwingError as exc:
        return RunOutcome.FAILED, None, f"{type(exc).__name__}: {exc}{earlier}"
    finally:
        rt.set_user(previous_user)
    return RunOutcome.SUBMITTED, job["name"], (earlier[2:] or None)


def _advance(
    rt: Runtime,
    schedule: dict,
    now_utc: datetime,
    *,
    last_error: str | None,
    fired: bool,
    job: str | None = None,
    now: datetime | None = None,
) -> None:
    """next_run_at to the first occurrence after now; with `fired`, the last run's fields too."""
    upcoming = next_occurrence(schedule["cron_expression"], valid_zone(schedule["timezone"]), now_utc)
    values: dict = {"next_run_at": stored_time(rt, upcoming)}
    if fired:
        values.update(last_run_at=now, last_error=last_error)
        if job:
            values["last_job"] = job
    rt.execute(sa.update(js).where(js.c.name == schedule["name"]).values(**values))


def cleanup_old_runs(*, retention_days: int = RUN_RETENTION_DAYS, runtime: Runtime | None = None) -> int:
    """Delete the runs of occurrences older than `retention_days` (by then next_run_at is far past
    them); one statement through the occurrence index. The daily sweep commits it."""
    rt = runtime or get_runtime()
    cutoff = rt.now() - timedelta(days=retention_days)
    return rt.execute(sa.delete(jsr).where(jsr.c.occurrence < cutoff)).rowcount
