"""Row access shared by every module: fetch a job, read JSON columns, present a job to callers."""

from __future__ import annotations

import json
from typing import Any

from .runtime import Runtime
from .statements import statement
from .status import JobStatus


@statement
def _JOB(sa, t):
    return sa.select(t.background_job).where(t.background_job.c.name == sa.bindparam("job_name"))


@statement
def _JOB_FOR_UPDATE(sa, t):
    return _JOB.build().with_for_update()


@statement
def _JOB_TYPE(sa, t):
    return sa.select(t.job_type).where(t.job_type.c.name == sa.bindparam("job_type"))


@statement
def _UPDATE_OWN_ATTEMPT(sa, t):
    bj = t.background_job
    return sa.update(bj).where(
        bj.c.name == sa.bindparam("where_name"),
        bj.c.attempt == sa.bindparam("where_attempt"),
        bj.c.status == JobStatus.RUNNING.value,
    )


class JobRecord(dict):
    """A Background Job row with attribute access (`job.name`, `job.status`), like frappe._dict.

    `caps_at_claim` is set by the worker's claim: the (organization, job type) concurrency caps read
    with the row, so finishing the job needs no read of its own (release.after_transition).
    """

    caps_at_claim: tuple[int, int] | None = None
    # Set by the claim too: the Job Type's rate limit (rate_limits.RateLimit), None when it has none.
    rate_limit_at_claim: Any = None

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def fetch_job(rt: Runtime, name: str, *, for_update: bool = False) -> JobRecord | None:
    row = rt.execute(_JOB_FOR_UPDATE if for_update else _JOB, {"job_name": name}).first()
    return JobRecord(row) if row else None


def fetch_job_type(rt: Runtime, type_name: str) -> dict[str, Any] | None:
    return rt.execute(_JOB_TYPE, {"job_type": type_name}).first()


def update_own_attempt(rt: Runtime, job_name: str, attempt: int, **values: Any) -> bool:
    """Write to a Running job's row only while `attempt` still owns it (the lease fence)."""
    params = {"where_name": job_name, "where_attempt": attempt, **values}
    return rt.execute(_UPDATE_OWN_ATTEMPT, params).rowcount == 1


def loads(value: str | None) -> Any:
    """Decode a JSON column (None stays None)."""
    return json.loads(value) if value else None
