"""The job API as plain functions: what both HTTP surfaces call.

`api/jobs.py` wraps these with `frappe.whitelist` inside a bench; the standalone server routes the
same URLs (`/api/method/dartwing.dartwing_core.api.jobs.<name>`) to them. Arguments arrive as HTTP
gives them (strings, JSON text) and the engine validates them; results are JSON-ready apart from
datetimes, which each transport serialises. Nothing here commits or rolls back: the transport
commits once per request (Frappe: every POST; standalone: every successful call) and rolls back
after an error.
"""

from __future__ import annotations

import json
from typing import Any

from dartwing.dartwing_core.background_jobs import get_job_history as _history
from dartwing.dartwing_core.background_jobs import get_job_status as _status
from dartwing.dartwing_core.background_jobs import list_jobs as _list
from dartwing.dartwing_core.background_jobs import submit_job as _submit
from dartwing.dartwing_core.background_jobs import submit_jobs as _submit_many
from dartwing.dartwing_core.background_jobs import tenancy
from dartwing.dartwing_core.background_jobs.bulk_operations import MAX_BATCH
from dartwing.dartwing_core.background_jobs.bulk_operations import retry_matching as _retry_matching
from dartwing.dartwing_core.background_jobs.errors import InvalidInputError
from dartwing.dartwing_core.background_jobs.events import org_room
from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics as _metrics
from dartwing.dartwing_core.background_jobs.operations import cancel_job as _cancel
from dartwing.dartwing_core.background_jobs.operations import delete_job as _delete
from dartwing.dartwing_core.background_jobs.operations import retry_job as _retry
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
}


def submit_job(
    job_type=None,
    organization=None,
    parameters=None,
    priority=None,
    depends_on=None,
    timeout=None,
    max_retries=None,
) -> dict[str, Any]:
    """Submit a job; it is queued when the request commits."""
    job = _submit(
        job_type,
        organization,
        parameters,
        priority=priority,
        depends_on=depends_on or None,
        timeout=timeout,
        max_retries=max_retries,
    )
    return {"job_id": job.name, "status": job.status, "message": "Job submitted successfully"}


def submit_jobs(jobs=None) -> dict[str, Any]:
    """Submit many jobs at once, all or nothing; they are queued when the request commits."""
    if isinstance(jobs, str):
        try:
            jobs = json.loads(jobs)
        except ValueError:
            raise InvalidInputError("jobs must be a JSON list of job specs") from None
    created = _submit_many(jobs)
    return {
        "jobs": [{"job_id": job.name, "status": job.status} for job in created],
        "message": f"{len(created)} jobs submitted",
    }


def get_job_status(job_id=None) -> dict[str, Any]:
    """Status, progress and result of one job."""
    return _status(job_id)


def list_jobs(organization=None, status=None, job_type=None, limit=20, start=0) -> list[dict[str, Any]]:
    """Jobs the caller may see, newest first, with optional filters."""
    return _list(
        organization=organization or None,
        status=status or None,
        job_type=job_type or None,
        limit=limit if limit not in (None, "") else 20,
        start=start if start not in (None, "") else 0,
    )


def cancel_job(job_id=None, force=None) -> dict[str, Any]:
    """Cancel a job (Running jobs stop at their next checkpoint)."""
    view = _cancel(job_id, force=_flag("force", force))
    return {"job_id": view.job_id, "status": view.status, "cancel_requested": view.cancel_requested}


def retry_job(job_id=None) -> dict[str, Any]:
    """Put a Dead Letter, Failed, Timed Out or Canceled job back in the queue (administrators)."""
    view = _retry(job_id)
    return {"job_id": view.job_id, "status": view.status, "retry_count": view.retry_count}


def retry_matching(filters=None, batch_size=None) -> dict[str, Any]:
    """Retry up to `batch_size` (500) Dead Letter jobs matching `filters` (administrators); call again
    while `remaining` is above 0 and the last call retried some."""
    if isinstance(filters, str):
        try:
            filters = json.loads(filters) if filters.strip() else {}
        except ValueError:
            raise InvalidInputError("filters must be a JSON object") from None
    if filters is not None and not isinstance(filters, dict):
        raise InvalidInputError("filters must be a JSON object")
    return _retry_matching(filters, limit=_integer("batch_size", batch_size, MAX_BATCH))


def delete_job(job_id=None) -> dict[str, Any]:
    """Delete a finished job and its history (administrators; the dead letter queue's Delete)."""
    return _delete(job_id)


def get_job_metrics(organization=None) -> dict[str, Any]:
    """Counts, queue depth, processing times and rates for the caller's organizations."""
    return _metrics(organization or None)


def get_job_history(job_id=None) -> list[dict[str, Any]]:
    """Every status transition of a job, oldest first."""
    return _history(job_id)


def explain_job(job_id=None) -> dict[str, Any]:
    """Why a job is not running (its parent, a cap, a planned retry, no live worker...), and until when."""
    return _explain(job_id)


def check_realtime_room(room=None) -> dict[str, Any]:
    """Who the caller is, and whether they may join `room` (`org:<organization>`): the realtime
    gateway asks this with the client's own credentials before admitting it to a room."""
    rt = get_runtime()
    user = rt.current_user()
    allowed, reason = False, None
    if room is not None:
        if not isinstance(room, str) or not room.startswith("org:") or len(room) > 144:
            reason = "only rooms named org:<organization> can be joined"
        else:
            organization = room[len("org:") :]
            allowed = tenancy.can_access(rt, user, organization) and org_room(organization) == room
            reason = None if allowed else f"not an active member of {organization}"
    return {"user": user, "room": room, "allowed": allowed, "reason": reason}


def _integer(name: str, value: Any, default: int) -> int:
    if value in (None, ""):
        return default
    if isinstance(value, bool) or not str(value).isdigit():
        raise InvalidInputError(f"{name} must be a whole number")
    return int(value)


def _flag(name: str, value: Any) -> bool:
    if value in (None, "", 0, "0", False, "false", "False"):
        return False
    if value in (1, "1", True, "true", "True"):
        return True
    raise InvalidInputError(f"{name} must be 0/1 or true/false")
