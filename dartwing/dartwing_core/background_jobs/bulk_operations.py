"""Operator actions over every job that matches a filter: "retry all matching" in the dead letter queue.

A filter can match more jobs than one request should lock, so each call handles at most `limit`
(500 by default) of them, oldest first, and says how many still match: a client repeats the call
until none remain (or a call retries none), and shows that count as its progress. Each job goes through operations.retry_job,
so it gets the single retry's permission check, log row and RQ message; the call joins the caller's
transaction like every writer (the HTTP request commits once per call).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from . import schema, tenancy
from .errors import DartwingError, InvalidInputError, NotPermittedError
from .inputs import bounded_int
from .operations import retry_job
from .queries import MAX_NAME_LENGTH
from .runtime import Runtime, get_runtime
from .status import JobStatus

MAX_BATCH = 500
FILTER_FIELDS = ("organization", "job_type", "error_type")
MAX_OLDER_THAN_HOURS = 24 * 365


def dead_letter_filter(filters: dict[str, Any] | None) -> dict[str, Any]:
    """The filter as the engine applies it; InvalidInputError for an unknown key or a bad value."""
    filters = dict(filters or {})
    unknown = set(filters) - {*FILTER_FIELDS, "older_than_hours"}
    if unknown:
        raise InvalidInputError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {}
    for field in FILTER_FIELDS:
        value = filters.get(field)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
            raise InvalidInputError(f"{field} must be a name of at most {MAX_NAME_LENGTH} characters")
        clean[field] = value
    hours = filters.get("older_than_hours")
    if hours not in (None, ""):
        clean["older_than_hours"] = bounded_int("older_than_hours", hours, 0, MAX_OLDER_THAN_HOURS)
    return clean


def _matching(rt: Runtime, clean: dict[str, Any]) -> sa.Select:
    bj = schema.background_job
    conditions = [bj.c.status == JobStatus.DEAD_LETTER.value]
    conditions += [bj.c[field] == clean[field] for field in FILTER_FIELDS if field in clean]
    if "older_than_hours" in clean:
        conditions.append(bj.c.modified < rt.now() - timedelta(hours=clean["older_than_hours"]))
    visible = tenancy.visible_organizations(rt, rt.current_user())
    if visible is not None:  # an administrator sees every organization; retry_job checks again
        conditions.append(bj.c.organization.in_(visible or [""]))
    return sa.select(bj.c.name).where(*conditions)


def retry_matching(
    filters: dict[str, Any] | None = None, *, batch_size: Any = MAX_BATCH, runtime: Runtime | None = None
) -> dict[str, Any]:
    """Retry up to `batch_size` Dead Letter jobs matching `filters` (administrators), oldest first, in the
    caller's transaction; returns {retried, failed: [{job_id, error}], remaining}."""
    rt = runtime or get_runtime()
    if not tenancy.is_admin(rt, rt.current_user()):
        raise NotPermittedError("Only a System Manager or Job Administrator may retry jobs")
    limit = bounded_int("batch_size", batch_size, 1, MAX_BATCH, default=MAX_BATCH)
    clean = dead_letter_filter(filters)
    bj = schema.background_job
    names = [row["name"] for row in rt.execute(_matching(rt, clean).order_by(bj.c.modified, bj.c.name).limit(limit))]
    failed = []
    for name in names:
        try:
            retry_job(name, runtime=rt)  # in a savepoint of its own: a job that moved meanwhile
        except DartwingError as exc:  # is reported and leaves the others retried
            failed.append({"job_id": name, "error": str(exc)})
    count = sa.select(sa.func.count()).select_from(_matching(rt, clean).subquery())
    remaining = int(rt.execute(count).scalar())
    return {"retried": len(names) - len(failed), "failed": failed, "remaining": remaining}
