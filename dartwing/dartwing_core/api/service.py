"""The job API as plain functions: what both HTTP surfaces call.

`api/jobs.py` wraps these with `frappe.whitelist` inside a bench; the standalone server routes the
same URLs (`/api/method/dartwing.dartwing_core.api.jobs.<name>`) to them. Arguments arrive as HTTP
gives them (strings, JSON text) and the engine validates them. An argument left out or null takes
its default; an empty string is refused (400), as the OpenAPI document states. Results are JSON-ready:
timestamps are ISO 8601 text with their offset, the same from both transports. Nothing here commits
or rolls back: the transport commits once per request (Frappe: every POST; standalone: every
successful call) and rolls back after an error.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dartwing.dartwing_core.background_jobs import get_job_history as _history
from dartwing.dartwing_core.background_jobs import get_job_status as _status
from dartwing.dartwing_core.background_jobs import list_jobs as _list
from dartwing.dartwing_core.background_jobs import schedules, tenancy
from dartwing.dartwing_core.background_jobs import submit_job as _submit
from dartwing.dartwing_core.background_jobs import submit_jobs as _submit_many
from dartwing.dartwing_core.background_jobs.bulk_operations import retry_matching as _retry_matching
from dartwing.dartwing_core.background_jobs.errors import InvalidInputError
from dartwing.dartwing_core.background_jobs.events import ORG_ROOM_PREFIX, org_room, organization_of
from dartwing.dartwing_core.background_jobs.inputs import flag
from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics as _metrics
from dartwing.dartwing_core.background_jobs.operations import cancel_job as _cancel
from dartwing.dartwing_core.background_jobs.operations import delete_job as _delete
from dartwing.dartwing_core.background_jobs.operations import retry_job as _retry
from dartwing.dartwing_core.background_jobs.queries import MAX_NAME_LENGTH
from dartwing.dartwing_core.background_jobs.runtime import get_runtime
from dartwing.dartwing_core.background_jobs.waiting import explain_wait as _explain

# Every endpoint, with the HTTP methods Frappe allows for it (whitelist(methods=...)).
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "submit_job": ("POST",),
    "submit_jobs": ("POST",),
    "get_job_status": ("GET", "POST"),
    "list_jobs": ("GET", "POST"),
    "cancel_job": ("POST",),
    "retry_job": ("POST",),
    "delete_job": ("POST",),
    "get_job_metrics": ("GET", "POST"),
    "get_job_history": ("GET", "POST"),
    "explain_job": ("GET", "POST"),
    "retry_matching": ("POST",),
    "check_realtime_room": ("GET", "POST"),
    "create_schedule": ("POST",),
    "update_schedule": ("POST",),
    "enable_schedule": ("POST",),
    "disable_schedule": ("POST",),
    "delete_schedule": ("POST",),
    "get_schedule": ("GET", "POST"),
    "list_schedules": ("GET", "POST"),
}
MAX_ROOM_LENGTH = len(ORG_ROOM_PREFIX) + MAX_NAME_LENGTH


def submit_job(
    job_type=None,
    organization=None,
    parameters=None,
    priority=None,
    depends_on=None,
    timeout=None,
    max_retries=None,
    run_at=None,
    delay=None,
) -> dict[str, Any]:
    """Submit a job; it is queued when the request commits, or at `run_at` / after `delay` seconds."""
    _refuse_empty(
        job_type=job_type,
        organization=organization,
        parameters=parameters,
        priority=priority,
        depends_on=depends_on,
        timeout=timeout,
        max_retries=max_retries,
        run_at=run_at,
        delay=delay,
    )
    job = _submit(
        job_type,
        organization,
        parameters,
        priority=priority,
        depends_on=_json_list(depends_on),
        timeout=timeout,
        max_retries=max_retries,
        run_at=run_at,
        delay=delay,
    )
    answer = {"job_id": job.name, "status": job.status, "message": "Job submitted successfully"}
    if job.get("run_at"):
        answer["run_at"] = get_runtime().aware(job["run_at"]).isoformat()
    return answer


def submit_jobs(jobs=None, on_complete=None) -> dict[str, Any]:
    """Submit many jobs at once, all or nothing; they are queued when the request commits. With
    `on_complete`, a callback job runs once every one of them has ended, with their outcomes."""
    _refuse_empty(on_complete=on_complete)
    jobs = _json_value("jobs", jobs, "a JSON list of job specs")
    on_complete = _json_value("on_complete", on_complete, "a JSON object (a job spec)")
    created = _submit_many(jobs, on_complete=on_complete)
    answer = {
        "jobs": [{"job_id": job.name, "status": job.status} for job in created],
        "message": f"{len(created)} jobs submitted",
    }
    if created.on_complete is not None:
        answer["on_complete"] = {"job_id": created.on_complete.name, "status": created.on_complete.status}
    return answer


def get_job_status(job_id=None) -> dict[str, Any]:
    """Status, progress and result of one job."""
    _refuse_empty(job_id=job_id)
    return _iso_times(_status(job_id))


def list_jobs(organization=None, status=None, job_type=None, limit=None, start=None) -> list[dict[str, Any]]:
    """Jobs the caller may see, newest first, with optional filters."""
    _refuse_empty(organization=organization, status=status, job_type=job_type, limit=limit, start=start)
    if status is not None and not isinstance(status, str):
        raise InvalidInputError("status must be one status name")
    jobs = _list(
        organization=organization,
        status=status,
        job_type=job_type,
        limit=20 if limit is None else limit,
        start=0 if start is None else start,
    )
    return [_iso_times(job) for job in jobs]


def cancel_job(job_id=None, force=None) -> dict[str, Any]:
    """Cancel a job (Running jobs stop at their next checkpoint)."""
    _refuse_empty(job_id=job_id, force=force)
    view = _cancel(job_id, force=flag("force", force))
    return {"job_id": view.job_id, "status": view.status, "cancel_requested": view.cancel_requested}


def retry_job(job_id=None) -> dict[str, Any]:
    """Put a Dead Letter, Failed, Timed Out or Canceled job back in the queue (administrators)."""
    _refuse_empty(job_id=job_id)
    view = _retry(job_id)
    return {"job_id": view.job_id, "status": view.status, "retry_count": view.retry_count}


def retry_matching(filters=None, batch_size=None) -> dict[str, Any]:
    """Retry up to `batch_size` (500) Dead Letter jobs matching `filters` (administrators); call again
    while `remaining` is above 0 and the last call retried some."""
    _refuse_empty(filters=filters, batch_size=batch_size)
    filters = _json_value("filters", filters, "a JSON object")
    if filters is not None and not isinstance(filters, dict):
        raise InvalidInputError("filters must be a JSON object")
    return _retry_matching(filters, batch_size=batch_size)


def delete_job(job_id=None) -> dict[str, Any]:
    """Delete a finished job and its history (administrators; the dead letter queue's Delete)."""
    _refuse_empty(job_id=job_id)
    return _delete(job_id)


def get_job_metrics(organization=None) -> dict[str, Any]:
    """Counts, queue depth, processing times and rates for the caller's organizations."""
    _refuse_empty(organization=organization)
    return _metrics(organization)


def get_job_history(job_id=None) -> list[dict[str, Any]]:
    """Every status transition of a job, oldest first."""
    _refuse_empty(job_id=job_id)
    return [_iso_times(step) for step in _history(job_id)]


def explain_job(job_id=None) -> dict[str, Any]:
    """Why a job is not running (its parent, a cap, a planned retry, no live worker...), and until when."""
    _refuse_empty(job_id=job_id)
    answer = _explain(job_id)
    return {**answer, "reasons": [_iso_times(reason) for reason in answer["reasons"]]}


def check_realtime_room(room=None) -> dict[str, Any]:
    """Who the caller is, and whether they may join `room` (`org:<organization>`): the realtime
    gateway asks this with the client's own credentials before admitting it to a room."""
    if room is not None and (not isinstance(room, str) or len(room) > MAX_ROOM_LENGTH):
        raise InvalidInputError(f"room must be a string of at most {MAX_ROOM_LENGTH} characters")
    rt = get_runtime()
    user = rt.current_user()
    allowed, reason = False, None
    if room is not None:
        organization = organization_of(room)
        if organization is None:
            reason = "only rooms named org:<organization> can be joined"
        else:
            allowed = tenancy.can_access(rt, user, organization) and org_room(organization) == room
            reason = None if allowed else f"not an active member of {organization}"
    return {"user": user, "room": room, "allowed": allowed, "reason": reason}


def create_schedule(
    job_type=None,
    organization=None,
    cron_expression=None,
    parameters=None,
    priority=None,
    timezone=None,
    enabled=None,
    catch_up=None,
    description=None,
) -> dict[str, Any]:
    """Create a recurring schedule: a job of `job_type` for `organization` at every occurrence of
    `cron_expression` in `timezone`, submitted as the caller."""
    _refuse_empty(
        job_type=job_type,
        organization=organization,
        cron_expression=cron_expression,
        parameters=parameters,
        priority=priority,
        timezone=timezone,
        enabled=enabled,
        catch_up=catch_up,
        description=description,
    )
    return _iso_times(
        schedules.create_schedule(
            job_type,
            organization,
            cron_expression,
            parameters,
            priority=priority,
            timezone=timezone,
            enabled=True if enabled is None else flag("enabled", enabled),
            catch_up=catch_up,
            description=description,
        )
    )


def update_schedule(
    schedule=None,
    job_type=None,
    cron_expression=None,
    parameters=None,
    priority=None,
    timezone=None,
    enabled=None,
    catch_up=None,
    description=None,
) -> dict[str, Any]:
    """Change a schedule: arguments left out keep their value (its organization cannot change)."""
    _refuse_empty(
        schedule=schedule,
        job_type=job_type,
        cron_expression=cron_expression,
        parameters=parameters,
        priority=priority,
        timezone=timezone,
        enabled=enabled,
        catch_up=catch_up,
        description=description,
    )
    changes = {
        "job_type": job_type,
        "cron_expression": cron_expression,
        "parameters": parameters,
        "priority": priority,
        "timezone": timezone,
        "enabled": None if enabled is None else flag("enabled", enabled),
        "catch_up": catch_up,
        "description": description,
    }
    return _iso_times(schedules.update_schedule(schedule, **changes))


def enable_schedule(schedule=None) -> dict[str, Any]:
    """Enable a schedule; it next fires at its first occurrence from now (none missed while disabled)."""
    _refuse_empty(schedule=schedule)
    return _iso_times(schedules.set_schedule_enabled(schedule, True))


def disable_schedule(schedule=None) -> dict[str, Any]:
    """Disable a schedule: it fires no more until enabled."""
    _refuse_empty(schedule=schedule)
    return _iso_times(schedules.set_schedule_enabled(schedule, False))


def delete_schedule(schedule=None) -> dict[str, Any]:
    """Delete a schedule and its run history (the jobs it submitted stay)."""
    _refuse_empty(schedule=schedule)
    return schedules.delete_schedule(schedule)


def get_schedule(schedule=None) -> dict[str, Any]:
    """One schedule, with its next run and its most recent runs."""
    _refuse_empty(schedule=schedule)
    view = schedules.get_schedule(schedule)
    return {**_iso_times(view), "recent_runs": [_iso_times(run) for run in view["recent_runs"]]}


def list_schedules(organization=None, enabled=None, job_type=None, limit=None, start=None) -> list[dict[str, Any]]:
    """Schedules the caller may see, newest first, with optional filters."""
    _refuse_empty(organization=organization, enabled=enabled, job_type=job_type, limit=limit, start=start)
    found = schedules.list_schedules(
        organization=organization,
        enabled=enabled,
        job_type=job_type,
        limit=20 if limit is None else limit,
        start=0 if start is None else start,
    )
    return [_iso_times(view) for view in found]


def _json_value(name: str, value: Any, expected: str) -> Any:
    """`value`, or the JSON it holds when a form sent it as text."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise InvalidInputError(f"{name} must be {expected}") from None


def _json_list(value: Any) -> Any:
    """A job id stays text; a list of them may come as its JSON text (a form field)."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        return _json_value("depends_on", value, "a job id or a JSON list of job ids")
    return value


def _refuse_empty(**arguments: Any) -> None:
    for name, value in arguments.items():
        if value == "":
            raise InvalidInputError(f"{name} is empty: leave it out (or send null) for its default")


def _iso_times(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with its datetimes as ISO 8601 text with their offset (a naive one is a stored
    time: Runtime.aware gives it the offset it was stored in)."""
    rt = get_runtime()
    return {
        key: (value if value.tzinfo else rt.aware(value)).isoformat() if isinstance(value, datetime) else value
        for key, value in record.items()
    }

