"""When a Pending job may go to the queue, and what a finished job releases or cancels.

A Pending job is released (→ Queued) once its parent has Completed and its organization is under
its concurrency caps (the Organization's `max_concurrent_jobs`, the Job Type's
`max_concurrent_per_org`; 0 means no cap). Jobs over a cap wait Pending, outside RQ, so one
tenant's flood never sits in front of another tenant's jobs. Releases happen in the transaction that
frees the slot or completes the parent; the minute sweep catches anything left behind.
"""

from __future__ import annotations

from typing import Any

from .queueing import mark_queued, queue_for
from .records import JobRecord, fetch_job
from .runtime import Runtime
from .statements import statement
from .status import JobStatus

_IN_FLIGHT = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_PARENT_GONE = (JobStatus.DEAD_LETTER, JobStatus.CANCELED)
_PARENT_GONE_VALUES = frozenset(status.value for status in _PARENT_GONE)
# Waiting jobs one freed slot may release at most, oldest first; the minute sweep takes the rest.
_RELEASE_BATCH = 100

@statement
def _CAPS(sa, t):
    org, jt = t.organization, t.job_type
    return (
        sa.select(org.c.max_concurrent_jobs, jt.c.max_concurrent_per_org, jt.c.queue)
        .select_from(org.join(jt, sa.true()))
        .where(org.c.name == sa.bindparam("organization"), jt.c.name == sa.bindparam("job_type"))
    )


@statement
def _STATUS(sa, t):
    return sa.select(t.background_job.c.status).where(t.background_job.c.name == sa.bindparam("job_name"))


# Names only: most jobs have no children, and a one-column result is cheap to read and parse.
@statement
def _PENDING_CHILDREN(sa, t):
    bj = t.background_job
    return sa.select(bj.c.name).where(bj.c.depends_on == sa.bindparam("parent"), bj.c.status == JobStatus.PENDING.value)


@statement
def _IN_FLIGHT_IN_ORG(sa, t):
    bj = t.background_job
    return (
        sa.select(sa.func.count())
        .select_from(bj)
        # literals, not an expanding IN: the text is compiled before the organization is known
        .where(
            bj.c.organization == sa.bindparam("organization"),
            bj.c.status.in_([sa.literal(status) for status in _IN_FLIGHT]),
        )
    )


@statement
def _IN_FLIGHT_OF_TYPE(sa, t):
    return _IN_FLIGHT_IN_ORG.build().where(t.background_job.c.job_type == sa.bindparam("job_type"))


# Taken before counting, so two releases in one organization cannot both take its last slot.
@statement
def _LOCK_ORGANIZATION(sa, t):
    org = t.organization
    return sa.select(org.c.name).where(org.c.name == sa.bindparam("organization")).with_for_update()


@statement
def _WAITING_IN_ORG(sa, t):
    bj = t.background_job
    return (
        sa.select(bj)
        .where(bj.c.organization == sa.bindparam("organization"), bj.c.status == JobStatus.PENDING.value)
        .order_by(bj.c.creation, bj.c.name)
        .limit(_RELEASE_BATCH)
    )


def caps_of(rt: Runtime, job: dict[str, Any]) -> tuple[int, int, str | None]:
    """(organization cap, job type cap, job type's fixed queue) for the job."""
    row = rt.execute(_CAPS, {"organization": job["organization"], "job_type": job["job_type"]}).first()
    if row is None:
        return 0, 0, None
    return int(row["max_concurrent_jobs"] or 0), int(row["max_concurrent_per_org"] or 0), row["queue"]


def in_flight(rt: Runtime, organization: str, job_type: str | None = None) -> int:
    if job_type is None:
        return int(rt.execute(_IN_FLIGHT_IN_ORG, {"organization": organization}).scalar())
    return int(rt.execute(_IN_FLIGHT_OF_TYPE, {"organization": organization, "job_type": job_type}).scalar())


def _under_caps(rt: Runtime, job: dict[str, Any], org_cap: int, type_cap: int) -> bool:
    if not org_cap and not type_cap:
        return True
    rt.execute(_LOCK_ORGANIZATION, {"organization": job["organization"]})
    if org_cap and in_flight(rt, job["organization"]) >= org_cap:
        return False
    return not (type_cap and in_flight(rt, job["organization"], job["job_type"]) >= type_cap)


def parent_status(rt: Runtime, job: dict[str, Any]) -> str | None:
    return rt.execute(_STATUS, {"job_name": job["depends_on"]}).scalar()


def _queue_under_caps(rt: Runtime, job: dict[str, Any], message: str | None) -> bool:
    org_cap, type_cap, fixed_queue = caps_of(rt, job)
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
    if job.get("depends_on") and parent_status(rt, job) != JobStatus.COMPLETED.value:
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
        parent = parent_status(rt, job)
        if parent in _PARENT_GONE_VALUES:
            return _cancel_child(rt, job, job["depends_on"], JobStatus(parent))
        if parent != JobStatus.COMPLETED.value:
            return False
    return _queue_under_caps(rt, job, message)


def release_waiting(rt: Runtime, organization: str) -> int:
    """Queue an organization's waiting Pending jobs, oldest first, while its caps allow."""
    rows = rt.execute(_WAITING_IN_ORG, {"organization": organization}).rows
    return sum(try_release(rt, JobRecord(row), message="Slot free") for row in rows)


def after_transition(rt: Runtime, job: dict[str, Any], from_status: JobStatus, to_status: JobStatus) -> None:
    """Consequences of a transition for other jobs, in the same transaction."""
    if to_status is JobStatus.COMPLETED or to_status in _PARENT_GONE:
        _settle_children(rt, job, to_status)
    if from_status.value in _IN_FLIGHT and to_status.value not in _IN_FLIGHT:
        # Caps read at the claim: one set while the job ran holds new jobs Pending until the minute
        # sweep releases them, rather than costing every finish a read.
        caps = getattr(job, "caps_at_claim", None)
        org_cap, type_cap = caps if caps is not None else caps_of(rt, job)[:2]
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
