"""Maintenance handlers that work the same in a bench and standalone (they use only the engine).

The seed-004 `cleanup` job type runs this in both runtimes; the other maintenance types need the
runtime's own services (`dartwing.dartwing_core.site_maintenance`, `...standalone.maintenance`).
"""

from __future__ import annotations

import time

from ..cleanup import RETENTION_DAYS, cleanup_old_jobs
from ..context import JobContext
from ..retry_policy import PermanentError


def elapsed_ms(started: float) -> int:
    """Milliseconds since `started` (a `time.monotonic()` reading), as the seed-004 results report."""
    return int((time.monotonic() - started) * 1000)


def optimize_requested(context: JobContext) -> bool:
    """db_optimize's `optimize` parameter: true or false (default false), anything else is refused."""
    optimize = context.parameters.get("optimize", False)
    if not isinstance(optimize, bool):
        raise PermanentError("optimize must be true or false")
    return optimize


def cleanup(context: JobContext) -> dict:
    """Delete finished jobs (and their logs) older than `retention_days` (default 30)."""
    started = time.monotonic()
    try:
        days = int(context.parameters.get("retention_days", RETENTION_DAYS))
    except (TypeError, ValueError):
        raise PermanentError("retention_days must be a whole number of days") from None
    if days < 1:
        raise PermanentError("retention_days must be at least 1")
    deleted = cleanup_old_jobs(retention_days=days)
    return {"status": "success", "records_deleted": deleted, "duration_ms": elapsed_ms(started)}
