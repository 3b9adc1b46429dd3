"""Row access shared by every module: fetch a job, read JSON columns, present a job to callers."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from . import schema
from .runtime import Runtime
from .status import JobStatus


class JobRecord(dict):
    """A Background Job row with attribute access (`job.name`, `job.status`), like frappe._dict."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def fetch_job(rt: Runtime, name: str, *, for_update: bool = False) -> JobRecord | None:
    stmt = sa.select(schema.background_job).where(schema.background_job.c.name == name)
    if for_update:
        stmt = stmt.with_for_update()
    row = rt.execute(stmt).first()
    return JobRecord(row) if row else None


def fetch_job_type(rt: Runtime, type_name: str) -> dict[str, Any] | None:
    jt = schema.job_type
    return rt.execute(sa.select(jt).where(jt.c.name == type_name)).first()


def update_own_attempt(rt: Runtime, job_name: str, attempt: int, **values: Any) -> bool:
    """Write to a Running job's row only while `attempt` still owns it (the lease fence)."""
    bj = schema.background_job
    stmt = (
        sa.update(bj)
        .where(bj.c.name == job_name, bj.c.attempt == attempt, bj.c.status == JobStatus.RUNNING.value)
        .values(**values)
    )
    return rt.execute(stmt).rowcount == 1


def loads(value: str | None) -> Any:
    """Decode a JSON column (None stays None)."""
    return json.loads(value) if value else None
