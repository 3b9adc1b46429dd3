"""Realtime envelopes for Flutter clients and their throttle (DESIGN.md §5).

Events go to room `org:<organization>` through `Runtime.publish_realtime`, which publishes only after
the transaction that made them commits.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from .runtime import Runtime

JOB_PROGRESS = "job_progress"
JOB_STATUS_CHANGED = "job_status_changed"


def org_room(organization: str) -> str:
    return f"org:{organization}"


def _iso(value: datetime) -> str:
    return value.isoformat()


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
) -> None:
    """Status changes are never throttled: clients rely on seeing each one."""
    message = {
        "job_id": job_id,
        "from_status": from_status,
        "to_status": to_status,
        "output_reference": output_reference,
        "error_message": error_message,
        "updated_at": _iso(updated_at),
    }
    rt.publish_realtime(JOB_STATUS_CHANGED, message, org_room(organization))


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
        "updated_at": _iso(updated_at),
    }
    rt.publish_realtime(JOB_PROGRESS, message, org_room(organization))


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
