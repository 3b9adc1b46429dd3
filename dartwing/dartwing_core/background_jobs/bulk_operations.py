"""Operator actions over many jobs: retry, cancel or delete a selection, or every job matching a filter.

A filter can match more jobs than one request should lock, so each call handles at most `batch_size`
(500 by default) of them, oldest change first, and says how many still match: a client repeats the
call until none remain (or a call acts on none), and shows that count as its progress. The filter is
the job browser's (job_browser.parse_filter), within the statuses the action applies to. Each job
goes through the single action (operations.retry_job, cancel_job, delete_job), so it gets that
action's permission check, log row and RQ message; a call joins the caller's transaction like every
writer (the HTTP request commits once per call).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from . import job_browser, schema, tenancy
from .errors import DartwingError, InvalidInputError, NotPermittedError
from .inputs import bounded_int
from .operations import CANCEL_AT_ONCE, cancel_job, delete_job, retry_job
from .runtime import Runtime, get_runtime
from .status import RETRYABLE, TERMINAL, JobStatus

MAX_BATCH = 500
MAX_OLDER_THAN_HOURS = 24 * 365
ADMINS_ONLY = "Only a System Manager or Job Administrator may {} jobs"


class BulkAction:
    """One action: the statuses it applies to (and the one a filter without a status means), the
    single-job call, the key of its count and whether only administrators may take it."""

    def __init__(self, verb: str, done: str, statuses, default, act: Callable, admins_only: bool):
        self.verb, self.done = verb, done
        self.statuses = tuple(sorted(s.value for s in statuses))
        self.default = tuple(sorted(s.value for s in default))
        self.act, self.admins_only = act, admins_only


ACTIONS = {
    "retry": BulkAction("retry", "retried", RETRYABLE, {JobStatus.DEAD_LETTER}, retry_job, True),
    # Running jobs are left out: a cancel only flags them, and they would match again and again.
    "cancel": BulkAction("cancel", "canceled", CANCEL_AT_ONCE, CANCEL_AT_ONCE, cancel_job, False),
    "delete": BulkAction("delete", "deleted", TERMINAL, TERMINAL, delete_job, True),
}


def _action(name: Any) -> BulkAction:
    if name not in ACTIONS:
        raise InvalidInputError(f"action must be one of {', '.join(ACTIONS)}, got {name!r}")
    return ACTIONS[name]


def _check_permission(rt: Runtime, action: BulkAction) -> None:
    if action.admins_only and not tenancy.is_admin(rt, rt.current_user()):
        raise NotPermittedError(ADMINS_ONLY.format(action.verb))


def _statuses(action: BulkAction, flt: job_browser.JobFilter) -> tuple[str, ...]:
    if flt.statuses is None:
        return action.default
    outside = sorted(set(flt.statuses) - set(action.statuses))
    if outside:
        raise InvalidInputError(
            f"{', '.join(outside)} jobs cannot be {action.done}: {action.verb} applies to {', '.join(action.statuses)}"
        )
    return flt.statuses


def _act(rt: Runtime, action: BulkAction, names: list[str]) -> tuple[int, list[dict[str, str]]]:
    failed = []
    for name in names:
        try:
            action.act(name, runtime=rt)  # in a savepoint of its own: a job that moved meanwhile
        except DartwingError as exc:  # is reported and leaves the others done
            failed.append({"job_id": name, "error": str(exc)})
    return len(names) - len(failed), failed


def act_on_matching(
    action: Any, filters: dict[str, Any] | None = None, *, batch_size: Any = MAX_BATCH, runtime: Runtime | None = None
) -> dict[str, Any]:
    """Apply `action` (retry, cancel, delete) to up to `batch_size` jobs matching `filters`, oldest
    change first, in the caller's transaction; returns {<retried|canceled|deleted>, failed: [{job_id,
    error}], remaining}. A filter without a status means Dead Letter for retry, and every status the
    action applies to otherwise; `older_than_hours` keeps jobs unchanged for that long."""
    rt = runtime or get_runtime()
    chosen = _action(action)
    _check_permission(rt, chosen)
    limit = bounded_int("batch_size", batch_size, 1, MAX_BATCH, default=MAX_BATCH)
    filters = dict(filters or {}) if isinstance(filters, dict) or filters is None else filters
    if not isinstance(filters, dict):
        raise InvalidInputError("filters must be an object")
    hours = filters.pop("older_than_hours", None)
    flt = job_browser.parse_filter(filters)
    where = job_browser.matching_conditions(rt, flt, _statuses(chosen, flt))
    if hours not in (None, ""):
        hours = bounded_int("older_than_hours", hours, 0, MAX_OLDER_THAN_HOURS)
        where = sa.and_(where, schema.background_job.c.modified < rt.now() - timedelta(hours=hours))
    bj = schema.background_job
    batch = sa.select(bj.c.name).where(where).order_by(bj.c.modified, bj.c.name).limit(limit)
    done, failed = _act(rt, chosen, [row["name"] for row in rt.execute(batch)])
    remaining = int(rt.execute(sa.select(sa.func.count()).select_from(bj).where(where)).scalar())
    return {chosen.done: done, "failed": failed, "remaining": remaining}


def act_on_jobs(action: Any, job_ids: Any, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Apply `action` to each of up to MAX_BATCH selected jobs in the caller's transaction; returns
    {<retried|canceled|deleted>, failed: [{job_id, error}]} (a job the caller cannot see fails as
    not found)."""
    rt = runtime or get_runtime()
    chosen = _action(action)
    _check_permission(rt, chosen)
    if not isinstance(job_ids, list) or not 1 <= len(job_ids) <= MAX_BATCH:
        raise InvalidInputError(f"job_ids must be a list of 1 to {MAX_BATCH} job ids")
    done, failed = _act(rt, chosen, list(dict.fromkeys(job_ids)))
    return {chosen.done: done, "failed": failed}


def retry_matching(
    filters: dict[str, Any] | None = None, *, batch_size: Any = MAX_BATCH, runtime: Runtime | None = None
) -> dict[str, Any]:
    """Retry up to `batch_size` jobs matching `filters` (Dead Letter ones unless it names a status;
    administrators): act_on_matching("retry", ...)."""
    return act_on_matching("retry", filters, batch_size=batch_size, runtime=runtime)


def cancel_matching(
    filters: dict[str, Any] | None = None, *, batch_size: Any = MAX_BATCH, runtime: Runtime | None = None
) -> dict[str, Any]:
    """Cancel up to `batch_size` Pending, Queued, Failed or Timed Out jobs matching `filters`."""
    return act_on_matching("cancel", filters, batch_size=batch_size, runtime=runtime)


def delete_matching(
    filters: dict[str, Any] | None = None, *, batch_size: Any = MAX_BATCH, runtime: Runtime | None = None
) -> dict[str, Any]:
    """Delete up to `batch_size` finished jobs matching `filters`, with their logs (administrators)."""
    return act_on_matching("delete", filters, batch_size=batch_size, runtime=runtime)
