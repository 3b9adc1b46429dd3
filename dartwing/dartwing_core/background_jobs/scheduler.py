"""What the scheduler runs: the functions hooks.py `scheduler_events` names, and that
`dartwing-jobs scheduler` runs on the same schedule standalone.

They run as Administrator (as Frappe's scheduler does) and never raise: a failing sweep is logged
and the next tick tries again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from . import schema
from .cleanup import cleanup_old_jobs
from .delays import release_due
from .metrics import get_job_metrics
from .overdue import claim_minute_sweep
from .rate_limits import release_all_due
from .runtime import Runtime, get_runtime
from .schedule_tick import cleanup_old_runs, fire_due_schedules
from .snapshots import take_snapshot
from .status import JobStatus
from .sweeps import recover_orphans, recover_outbox, requeue_due_retries
from .tenancy import ADMIN_USER

log = logging.getLogger(__name__)

# cron expression → function, shared by hooks.py and the standalone scheduler.
SCHEDULE: dict[str, str] = {
    "* * * * *": "dartwing.dartwing_core.background_jobs.scheduler.every_minute",
    "*/5 * * * *": "dartwing.dartwing_core.background_jobs.scheduler.every_five_minutes",
    "30 2 * * *": "dartwing.dartwing_core.background_jobs.scheduler.daily",
}


def _as_admin(work: Callable[[Runtime], Any]) -> Any:
    rt = get_runtime()
    previous = rt.current_user()
    rt.set_user(ADMIN_USER)
    try:
        return work(rt)
    except Exception as exc:  # noqa: BLE001 - the scheduler must keep ticking
        rt.rollback()
        rt.log_error("Dartwing scheduler", f"{work.__name__}: {exc!r}")
        return None
    finally:
        rt.set_user(previous)


def every_minute() -> dict[str, int] | None:
    """Due retries, orphan recovery, due delayed jobs (the backstop of the delay releaser), outbox
    recovery (which also releases dependency- and cap-held jobs), the due Job Schedule occurrences
    (schedule_tick.py), and the jobs rate limits held whose window has room.

    The cron entry point. It takes the sweep's turn (overdue.py) when no run holds it, so that workers
    do not sweep again for the next `sweep_overdue_seconds`, and sweeps either way.
    """
    rt = get_runtime()
    try:
        claim_minute_sweep(rt)
    except Exception as exc:  # noqa: BLE001 - Redis down: sweep anyway
        log.warning("could not record the minute sweep's turn: %s", exc)
    return minute_sweep_now()


def minute_sweep_now() -> dict[str, int] | None:
    """The minute sweep itself, as Administrator."""

    def minute_sweep(rt: Runtime) -> dict[str, int]:
        return {
            "retries": requeue_due_retries(runtime=rt),
            "orphans": recover_orphans(runtime=rt),
            "delayed": release_due(rt),
            "outbox": recover_outbox(runtime=rt),
            "schedules": fire_due_schedules(runtime=rt),
            "rate_limited": release_all_due(rt),
        }

    return _as_admin(minute_sweep)


def _threshold(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def every_five_minutes() -> dict[str, Any] | None:
    """The metrics snapshot (snapshots.py, committed), then alerts (Error Log / process log) on
    backlog and Dead Letter growth."""

    def snapshot(rt: Runtime) -> dict[str, Any]:
        taken = take_snapshot(rt)
        rt.commit()
        metrics = get_job_metrics(runtime=rt)
        bj = schema.background_job
        new_dead = rt.execute(
            sa.select(sa.func.count())
            .select_from(bj)
            .where(
                bj.c.status == JobStatus.DEAD_LETTER.value, bj.c.modified >= rt.now() - timedelta(minutes=5)
            )
        ).scalar()
        alerts = []
        backlog_limit = _threshold("DARTWING_ALERT_BACKLOG_SECONDS", 600)
        oldest = metrics["oldest_queued_age_seconds"]
        if oldest is not None and oldest > backlog_limit:
            alerts.append(f"queue backlog: oldest queued job waited {oldest:.0f}s (limit {backlog_limit}s)")
        growth_limit = _threshold("DARTWING_ALERT_DLQ_GROWTH", 10)
        if new_dead > growth_limit:
            alerts.append(f"dead letter growth: {new_dead} jobs in the last 5 minutes (limit {growth_limit})")
        for alert in alerts:
            rt.log_error("Dartwing alert", alert)
        log.info("job metrics: %s", metrics)
        return {
            "snapshot": {"taken_at": taken["taken_at"], "organizations": taken["organizations"]},
            "metrics": metrics,
            "dead_letter_last_5m": new_dead,
            "alerts": alerts,
        }

    return _as_admin(snapshot)


def daily() -> int | None:
    """Cleanup of finished jobs (and their logs) older than 30 days, and of schedule runs as old;
    returns how many jobs were deleted."""

    def cleanup(rt: Runtime) -> int:
        deleted = cleanup_old_jobs(runtime=rt)
        log.info("deleted %s schedule runs older than 30 days", cleanup_old_runs(runtime=rt))
        rt.commit()
        return deleted

    return _as_admin(cleanup)
