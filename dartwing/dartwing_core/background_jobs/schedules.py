"""Job Schedules: per-organization recurring jobs (create, change, enable, list, delete).

A schedule names a Job Type, an organization, parameters and a cron expression in an IANA time
zone. Members manage the schedules of their own organizations, administrators all of them; another
organization's schedule is reported as missing (404), like a job. Every check a submit makes on the
job type, organization, role and parameters is made when a schedule is saved (`checked_fields`),
and again at each occurrence, when the job is submitted as the schedule's owner
(schedule_tick.py). Writers join the caller's transaction and never commit.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum
from typing import Any

import sqlalchemy as sa

from . import schema, tenancy
from .cron import next_occurrence, valid_cron, valid_zone
from .errors import DartwingError, InvalidInputError
from .inputs import bounded_int, flag
from .queries import MAX_LIST_LIMIT, MAX_LIST_START, _make_aware, _text
from .records import loads
from .runtime import Runtime, get_runtime
from .submission import checked_job_type, new_row

SCHEDULE_NAMING_SERIES = "SCHED-.#####"
SCHEDULE_ID_PATTERN = re.compile(r"^SCHED-\d{5,}$")
DEFAULT_TIMEZONE = "UTC"
MAX_DESCRIPTION_LENGTH = 140
RECENT_RUNS = 10  # runs get_schedule shows
MAX_SCHEDULES_PER_ORGANIZATION = 200  # one tenant cannot flood the tick


class CatchUp(str, Enum):
    """What a schedule does with occurrences missed while no scheduler ran (schedule_tick.py)."""

    SKIP = "Skip"
    RUN_ONCE = "Run Once"


class RunOutcome(str, Enum):
    """What became of one occurrence (a Job Schedule Run row)."""

    SUBMITTED = "Submitted"
    SKIPPED = "Skipped"
    FAILED = "Failed"


class ScheduleNotFoundError(DartwingError):
    """No such schedule, or one of an organization the caller cannot access."""

    http_status_code = 404

    def __init__(self, name: Any):
        super().__init__(f"Job Schedule {name} not found")


class ScheduleLimitError(DartwingError):
    """The organization has MAX_SCHEDULES_PER_ORGANIZATION schedules already."""

    http_status_code = 409


# What callers may set; the rest (next/last run, last job and error) only the engine writes.
EDITABLE_FIELDS = (
    "job_type",
    "parameters",
    "priority",
    "cron_expression",
    "timezone",
    "enabled",
    "catch_up",
    "description",
)
PUBLIC_FIELDS = (
    "name",
    "description",
    "job_type",
    "organization",
    "owner",
    "parameters",
    "priority",
    "cron_expression",
    "timezone",
    "enabled",
    "catch_up",
    "next_run_at",
    "last_run_at",
    "last_job",
    "last_error",
    "creation",
    "modified",
)
TIMESTAMP_FIELDS = ("next_run_at", "last_run_at", "creation", "modified")
js, jsr = schema.job_schedule, schema.job_schedule_run


def stored_time(rt: Runtime, instant: datetime) -> datetime:
    """An aware instant as the runtime stores times (naive, in its storage zone; see Runtime.aware)."""
    return instant.astimezone(rt.aware(rt.now()).tzinfo).replace(tzinfo=None)


def utc_instant(rt: Runtime, stored: datetime) -> datetime:
    """A stored (naive) time as an aware UTC instant."""
    return rt.aware(stored).astimezone(timezone.utc)


def first_run_after(rt: Runtime, cron_expression: str, zone_name: str, after: datetime | None = None) -> datetime:
    """The stored time of the schedule's first occurrence strictly after `after` (stored; default now)."""
    start = utc_instant(rt, after or rt.now())
    return stored_time(rt, next_occurrence(cron_expression, valid_zone(zone_name), start))


def checked_fields(rt: Runtime, user: str, organization: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """The columns of a schedule with `fields` (every EDITABLE_FIELDS value, as saved) once every check
    has passed: the submit's own (job type, organization, access, role, parameters, priority), the
    cron expression, time zone and catch-up policy; with next_run_at (None while disabled)."""
    job_type = fields.get("job_type")
    jt = checked_job_type(rt, user, job_type, organization)
    priority = fields.get("priority") or None
    row = new_row(rt, user, jt, job_type, organization, fields.get("parameters"), priority, None, None, None)
    cron_expression = valid_cron(fields.get("cron_expression"))
    zone_name = fields.get("timezone") or DEFAULT_TIMEZONE
    valid_zone(zone_name)
    enabled = fields.get("enabled") is None or flag("enabled", fields["enabled"])
    description = fields.get("description") or None
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH):
        raise InvalidInputError(f"description must be text of at most {MAX_DESCRIPTION_LENGTH} characters")
    return {
        "job_type": job_type,
        "organization": organization,
        "parameters": row["parameters"],
        "priority": row["priority"] if priority else None,
        "cron_expression": cron_expression,
        "timezone": zone_name.strip(),
        "enabled": int(enabled),
        "catch_up": _catch_up(fields.get("catch_up")),
        "description": description,
        "next_run_at": first_run_after(rt, cron_expression, zone_name) if enabled else None,
    }


def create_schedule(
    job_type: str,
    organization: str,
    cron_expression: str,
    parameters: dict[str, Any] | str | None = None,
    *,
    priority: str | None = None,
    timezone: str | None = None,
    enabled: bool = True,
    catch_up: str | None = None,
    description: str | None = None,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """A new schedule owned by the current user (its jobs are submitted as that user). Raises
    InvalidInputError (400) or NotPermittedError (403), having written nothing."""
    rt = runtime or get_runtime()
    user = rt.current_user()
    values = checked_fields(
        rt,
        user,
        organization,
        {
            "job_type": job_type,
            "parameters": parameters,
            "priority": priority,
            "cron_expression": cron_expression,
            "timezone": timezone,
            "enabled": enabled,
            "catch_up": catch_up,
            "description": description,
        },
    )
    count = sa.select(sa.func.count()).select_from(js).where(js.c.organization == organization)
    if rt.execute(count).scalar() >= MAX_SCHEDULES_PER_ORGANIZATION:
        raise ScheduleLimitError(
            f"Organization {organization} has {MAX_SCHEDULES_PER_ORGANIZATION} schedules, the limit: delete one first"
        )
    now = rt.now()
    row = {
        **values,
        "name": rt.make_name(SCHEDULE_NAMING_SERIES),
        "owner": user,
        "modified_by": user,
        "creation": now,
        "modified": now,
    }
    rt.execute(sa.insert(js).values(**row))
    return _view(rt, row)


def update_schedule(name: str, *, runtime: Runtime | None = None, **changes: Any) -> dict[str, Any]:
    """Change some of EDITABLE_FIELDS (an argument left out or None keeps its value; the organization
    cannot change). A new cron expression, time zone or enabling counts from now."""
    rt = runtime or get_runtime()
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise InvalidInputError(f"cannot change {', '.join(unknown)}; editable: {', '.join(EDITABLE_FIELDS)}")
    current = load_visible_schedule(rt, name, for_update=True)
    fields = {field: current[field] for field in EDITABLE_FIELDS}
    fields["parameters"] = loads(current["parameters"])
    fields.update({field: value for field, value in changes.items() if value is not None})
    values = checked_fields(rt, rt.current_user(), current["organization"], fields)
    timing = ("cron_expression", "timezone", "enabled")
    if current["enabled"] and all(values[f] == current[f] for f in timing):
        values["next_run_at"] = current["next_run_at"]  # the schedule's timing did not change
    values.update(modified=rt.now(), modified_by=rt.current_user())
    rt.execute(sa.update(js).where(js.c.name == current["name"]).values(**values))
    return _view(rt, {**current, **values})


def set_schedule_enabled(name: str, enabled: bool, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Enable (counting from now: no occurrence missed while disabled is run) or disable a schedule."""
    return update_schedule(name, enabled=enabled, runtime=runtime)


def delete_schedule(name: str, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Delete a schedule and its run history; jobs it submitted stay."""
    rt = runtime or get_runtime()
    current = load_visible_schedule(rt, name, for_update=True)
    rt.execute(sa.delete(jsr).where(jsr.c.job_schedule == current["name"]))
    rt.execute(sa.delete(js).where(js.c.name == current["name"]))
    return {"name": current["name"], "deleted": True}


def get_schedule(name: str, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """A schedule and its most recent runs (newest first)."""
    rt = runtime or get_runtime()
    view = _view(rt, load_visible_schedule(rt, name))
    stmt = (
        sa.select(jsr.c.occurrence, jsr.c.outcome, jsr.c.background_job, jsr.c.message, jsr.c.creation)
        .where(jsr.c.job_schedule == view["name"])
        .order_by(jsr.c.occurrence.desc())
        .limit(RECENT_RUNS)
    )
    view["recent_runs"] = [dict(row) for row in rt.execute(stmt)]
    for run in view["recent_runs"]:
        _make_aware(rt, run, ("occurrence", "creation"))
    return view


def list_schedules(
    organization: str | None = None,
    enabled: Any = None,
    job_type: str | None = None,
    limit: int = 20,
    start: int = 0,
    *,
    runtime: Runtime | None = None,
) -> list[dict[str, Any]]:
    """Schedules the caller may see, newest first, with optional exact-match filters."""
    rt = runtime or get_runtime()
    limit = bounded_int("limit", limit, 1, MAX_LIST_LIMIT)
    start = bounded_int("start", start, 0, MAX_LIST_START)
    stmt = sa.select(js).order_by(js.c.creation.desc(), js.c.name.desc())
    visible = tenancy.visible_organizations(rt, rt.current_user())
    if visible is not None:
        stmt = stmt.where(js.c.organization.in_(visible))
    if organization is not None:
        stmt = stmt.where(js.c.organization == _text("organization", organization))
    if enabled is not None:
        stmt = stmt.where(js.c.enabled == int(flag("enabled", enabled)))
    if job_type is not None:
        stmt = stmt.where(js.c.job_type == _text("job_type", job_type))
    return [_view(rt, row) for row in rt.execute(stmt.limit(limit).offset(start))]


def load_visible_schedule(rt: Runtime, name: Any, *, for_update: bool = False) -> dict[str, Any]:
    """The schedule's row if the current user may see it; ScheduleNotFoundError otherwise."""
    if not isinstance(name, str) or not SCHEDULE_ID_PATTERN.match(name):
        raise InvalidInputError(f"schedule must look like SCHED-00001, got {name!r}")
    stmt = sa.select(js).where(js.c.name == name)
    row = rt.execute(stmt.with_for_update() if for_update else stmt).first()
    if row is None or not tenancy.can_access(rt, rt.current_user(), row["organization"]):
        raise ScheduleNotFoundError(name)
    return row


def _view(rt: Runtime, row: dict[str, Any]) -> dict[str, Any]:
    view = {field: row.get(field) for field in PUBLIC_FIELDS}
    view["parameters"] = loads(view["parameters"]) or {}
    view["enabled"] = bool(view["enabled"])
    _make_aware(rt, view, TIMESTAMP_FIELDS)
    return view


def _catch_up(value: Any) -> str:
    try:
        return CatchUp(value or CatchUp.SKIP.value).value
    except ValueError:
        raise InvalidInputError(
            f"catch_up must be one of {', '.join(c.value for c in CatchUp)}, got {value!r}"
        ) from None

