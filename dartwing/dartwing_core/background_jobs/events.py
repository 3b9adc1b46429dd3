"""Realtime envelopes for Flutter clients and their throttle (DESIGN.md §5).

Each event goes to two rooms through `Runtime.publish_realtime`, which publishes only after the
transaction that made them commits: `org:<organization>` (joined with `join_room` on the gateway and on
Frappe v16+ through realtime/handlers.js) and `doc:Background Job/<job>`, the room Frappe v15's own
Socket.IO server lets a client join with `doc_subscribe("Background Job", <job>)` once the site says
it may read the job (v15 loads no app handlers, so org rooms cannot be joined there). Same payload in
both; the standalone runtime sends a commit's publishes in one Redis round trip.

A new job's first event (its submit's Pending → Queued) goes to the organization's room only: its
document room can have no member yet, since joining it asks the site whether the job may be read,
and the event leaves right after the commit that created it, before the submit has returned its
name to anyone (a bulk submit of 1,000 jobs saves 1,000 PUBLISH that no one could receive).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from .runtime import Runtime

JOB_PROGRESS = "job_progress"
JOB_STATUS_CHANGED = "job_status_changed"
JOB_DOCTYPE = "Background Job"
ORG_ROOM_PREFIX = "org:"


def org_room(organization: str) -> str:
    return f"{ORG_ROOM_PREFIX}{organization}"


def organization_of(room: str) -> str | None:
    """The organization an `org:<organization>` room is for; None for any other room."""
    return room[len(ORG_ROOM_PREFIX):] if room.startswith(ORG_ROOM_PREFIX) else None


def doc_room(job_id: str) -> str:
    """Frappe's room for one document (v15 `frappe.realtime.get_doc_room`)."""
    return f"doc:{JOB_DOCTYPE}/{job_id}"


def _publish(
    rt: Runtime, event: str, message: dict[str, Any], organization: str, *, new_job: bool = False
) -> None:
    rt.publish_realtime(event, message, org_room(organization))
    if not new_job:
        rt.publish_realtime(event, message, doc_room(message["job_id"]))


def _iso(rt: Runtime, value: datetime) -> str:
    """ISO 8601 with the offset the runtime stores times in."""
    return rt.aware(value).isoformat()


def publish_status_changed(
    rt: Runtime,
    *,
    job_id: str,
    organization: str,
    from_status: str | None,
    to_status: str,
    updated_at: datetime,
    output_reference: str | None = None,
    error_message: str | None = None,
    new_job: bool = False,
) -> None:
    """Status changes are never throttled: clients rely on seeing each one. `new_job`: the submit's
    own event, for the organization's room only (see above)."""
    message = {
        "job_id": job_id,
        "from_status": from_status,
        "to_status": to_status,
        "output_reference": output_reference,
        "error_message": error_message,
        "updated_at": _iso(rt, updated_at),
    }
    _publish(rt, JOB_STATUS_CHANGED, message, organization, new_job=new_job)


def publish_progress(
    rt: Runtime,
    *,
    job_id: str,
    organization: str,
    status: str,
    progress: float,
    progress_message: str | None,
    updated_at: datetime,
) -> None:
    message: dict[str, Any] = {
        "job_id": job_id,
        "status": status,
        "progress": progress,
        "progress_message": progress_message,
        "updated_at": _iso(rt, updated_at),
    }
    _publish(rt, JOB_PROGRESS, message, organization)


class ProgressThrottle:
    """Decides whether a progress update goes out now; one instance per running job attempt."""

    def __init__(self, interval: float, clock=time.monotonic):
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def allow(self, percent: float) -> bool:
        now = self._clock()
        if percent in (0, 100) or self._last is None or now - self._last >= self._interval:
            self._last = now
            return True
        return False
