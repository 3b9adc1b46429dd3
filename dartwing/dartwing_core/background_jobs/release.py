"""When a Pending job may go to the queue, and what a finished job releases or cancels.

A Pending job is released (→ Queued) once its parent has Completed and its organization is under
its concurrency caps (the Organization's `max_concurrent_jobs`, the Job Type's
`max_concurrent_per_org`; 0 means no cap). Jobs over a cap wait Pending, outside RQ, so one
tenant's flood never sits in front of another tenant's jobs. Releases happen in the transaction that
frees the slot or completes the parent; the minute sweep catches anything left behind.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import schema
from .queueing import mark_queued, queue_for
from .records import JobRecord, fetch_job
from .runtime import Runtime
from .status import JobStatus

_IN_FLIGHT = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_PARENT_GONE = (JobStatus.DEAD_LETTER, JobStatus.CANCELED)
_PARENT_GONE_VALUES = frozenset(status.value for status in _PARENT_GONE)

_bj, _org, _jt = schema.background_job, schema.organization, schema.job_type
_CAPS = (
    sa.select(_org.c.max_concurrent_jobs, _jt.c.max_concurrent_per_org, _jt.c.queue)
    .select_from(_org.join(_jt, sa.true()))
    .where(_org.c.name == sa.bindparam("organization"), _jt.c.name == sa.bindparam("job_type"))
)
_STATUS = sa.select(_bj.c.status).where(_bj.c.name == sa.bindparam("job_name"))
# Names only: most jobs have no children, and a one-column result is cheap to read and parse.
_PENDING_CHILDREN = sa.select(_bj.c.name).where(
    _bj.c.depends_on == sa.bindparam("parent"), _bj.c.status == JobStatus.PENDING.value
)


def _caps(rt: Runtime, job: dict[str, Any]) -> tuple[int, int, str | None]:
    """(organization cap, job type cap, job type's fixed queue) for the job."""
    row = rt.execute(_CAPS, {"organization": job["organization"], "job_type": job["job_type"]}).first()
    if row is None:
        return 0, 0, None
    return int(row["max_concurrent_jobs"] or 0), int(row["max_concurrent_per_org"] or 0), row["queue"]


def _in_flight(rt: Runtime, organization: str, job_type: str | None = None) -> int:
    bj = schema.background_job
    stmt = (
        sa.select(sa.func.count())
        .select_from(bj)
        .where(bj.c.organization == organization, bj.c.status.in_(_IN_FLIGHT))
    )
    if job_type is not None:
        stmt = stmt.where(bj.c.job_type == job_type)
    return int(rt.execute(stmt).scalar())


def _under_caps(rt: Runtime, job: dict[str, Any], org_cap: int, type_cap: int) -> bool:
    if not org_cap and not type_cap:
        return True
    # Serialise releases per organization so two of them cannot both take the last slot.
    org = schema.organization
    rt.execute(sa.select(org.c.name).where(org.c.name == job["organization"]).with_for_update())
    if org_cap and _in_flight(rt, job["organization"]) >= org_cap:
        return False
    return not (type_cap and _in_flight(rt, job["organization"], job["job_type"]) >= type_cap)


def _parent_status(rt: Runtime, job: dict[str, Any]) -> str | None:
    return rt.execute(_STATUS, {"job_name": job["depends_on"]}).scalar()


def _queue_under_caps(rt: Runtime, job: dict[str, Any], message: str | None) -> bool:
    org_cap, type_cap, fixed_queue = _caps(rt, job)
    if not _under_caps(rt, job, org_cap, type_cap):
        return False
    return mark_queued(rt, job, queue_for(job, {"queue": fixed_queue}), message=message)


def queues_at_submit(job: dict[str, Any], org_cap: int, type_cap: int) -> bool:
    """True when nothing can hold the new job (no parent, no cap): its submit may queue it at once."""
    return not job.get("depends_on") and not org_cap and not type_cap


def try_release(rt: Runtime, job: dict[str, Any], *, message: str | None = None) -> bool:
    """Queue a Pending job in the current transaction if its parent is done and caps allow."""
    if job["status"] != JobStatus.PENDING.value:
        return False
    if job.get("depends_on") and _parent_status(rt, job) != JobStatus.COMPLETED.value:
        return False
    return _queue_under_caps(rt, job, message)


def release_or_settle(rt: Runtime, job: dict[str, Any], *, message: str | None = None) -> bool:
    """`try_release`, or cancel the job if its parent ended Dead Letter or Canceled; True if it moved.

    A child validated while its parent was alive can commit after the parent's end was settled: that
    transaction could not see the uncommitted child. Without this the child would wait Pending forever.
    """
    if job["status"] != JobStatus.PENDING.value:
        return False
    if job.get("depends_on"):
        parent_status = _parent_status(rt, job)
        if parent_status in _PARENT_GONE_VALUES:
            return _cancel_child(rt, job, job["depends_on"], JobStatus(parent_status))
        if parent_status != JobStatus.COMPLETED.value:
            return False
    return _queue_under_caps(rt, job, message)


def release_waiting(rt: Runtime, organization: str, *, limit: int = 100) -> int:
    """Queue an organization's waiting Pending jobs, oldest first, while its caps allow."""
    bj = schema.background_job
    rows = rt.execute(
        sa.select(bj)
        .where(bj.c.organization == organization, bj.c.status == JobStatus.PENDING.value)
        .order_by(bj.c.creation, bj.c.name)
        .limit(limit)
    ).rows
    return sum(try_release(rt, JobRecord(row), message="Slot free") for row in rows)


def after_transition(rt: Runtime, job: dict[str, Any], from_status: JobStatus, to_status: JobStatus) -> None:
    """Consequences of a transition for other jobs, in the same transaction."""
    if to_status is JobStatus.COMPLETED or to_status in _PARENT_GONE:
        _settle_children(rt, job, to_status)
    if from_status.value in _IN_FLIGHT and to_status.value not in _IN_FLIGHT:
        # Caps read at the claim: one set while the job ran holds new jobs Pending until the minute
        # sweep releases them, rather than costing every finish a read.
        caps = getattr(job, "caps_at_claim", None)
        org_cap, type_cap = caps if caps is not None else _caps(rt, job)[:2]
        if org_cap or type_cap:
            release_waiting(rt, job["organization"])


def _settle_children(rt: Runtime, parent: dict[str, Any], parent_status: JobStatus) -> None:
    for row in rt.execute(_PENDING_CHILDREN, {"parent": parent["name"]}).rows:
        child = fetch_job(rt, row["name"])
        if child is None:
            continue
        if parent_status is JobStatus.COMPLETED:
            try_release(rt, child, message=f"Dependency {parent['name']} completed")
        else:
            _cancel_child(rt, child, parent["name"], parent_status)


def _cancel_child(rt: Runtime, child: dict[str, Any], parent_name: str, parent_status: JobStatus) -> bool:
    from .lifecycle import transition  # lifecycle calls after_transition: import at use

    reason = f"Dependency {parent_name} ended {parent_status.value}"
    return transition(
        rt,
        child,
        JobStatus.CANCELED,
        values={"completed_at": rt.now(), "error_message": reason},
        message=reason,
    )
