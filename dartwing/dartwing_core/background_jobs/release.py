"""When a Pending job may go to the queue, and what a finished job releases or cancels.

A Pending job is released (→ Queued) once its `run_at` has come (a delayed or snoozed job: delays.py
queues it on time), its parents have Completed (dependencies.py) and its organization is under its
concurrency caps (the Organization's `max_concurrent_jobs`, the Job Type's
`max_concurrent_per_org`; 0 means no cap). Jobs over a cap wait Pending, outside RQ, so one
tenant's flood never sits in front of another tenant's jobs. Releases happen in the transaction that
frees the slot or completes the parent; the minute sweep catches anything left behind.
"""

from __future__ import annotations

from typing import Any

from . import dependencies, rate_limits
from .queueing import mark_queued, queue_for
from .records import JobRecord, fetch_job
from .runtime import Runtime
from .statements import statement
from .status import JobStatus

_IN_FLIGHT = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_PARENT_GONE = (JobStatus.DEAD_LETTER, JobStatus.CANCELED)
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
        .where(
            bj.c.organization == sa.bindparam("organization"),
            bj.c.status == JobStatus.PENDING.value,
            bj.c.run_at.is_(None),  # a job held by time is released by delays.py when due
        )
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


def _queue_under_caps(rt: Runtime, job: dict[str, Any], message: str | None) -> bool:
    org_cap, type_cap, fixed_queue = caps_of(rt, job)
    if not _under_caps(rt, job, org_cap, type_cap):
        return False
    return mark_queued(rt, job, queue_for(job, {"queue": fixed_queue}), message=message)


def queues_at_submit(job: dict[str, Any], org_cap: int, type_cap: int, rate_limited: bool = False) -> bool:
    """True when nothing can hold the new job (no run time, parent, cap or rate limit): its submit
    may queue it at once."""
    return (
        not job.get("run_at") and not job.get("depends_on") and not org_cap and not type_cap and not rate_limited
    )


def held_by_time(job: dict[str, Any]) -> bool:
    """A Pending job with a time set waits for it (a rate limit's window: rate_limits.py)."""
    return job["status"] == JobStatus.PENDING.value and job.get("next_retry_at") is not None


def waits_for_run_at(rt: Runtime, job: dict[str, Any]) -> bool:
    """Whether the job waits for its `run_at` (a delayed or snoozed job: delays.py), not come yet."""
    run_at = job.get("run_at")
    return run_at is not None and run_at > rt.now()


def try_release(rt: Runtime, job: dict[str, Any], *, message: str | None = None, due: bool = False) -> bool:
    """Queue a Pending job in the current transaction if its run time has come, its parents are done
    and caps allow; a job held by a rate limit only when its releaser says it is `due`."""
    if job["status"] != JobStatus.PENDING.value or (held_by_time(job) and not due) or waits_for_run_at(rt, job):
        return False
    if job.get("depends_on") and not dependencies.parents_state(rt, job).done:
        return False
    return _queue_under_caps(rt, job, message)


def release_or_settle(rt: Runtime, job: dict[str, Any], *, message: str | None = None) -> bool:
    """`try_release`, or cancel the job if a parent ended Dead Letter or Canceled; True if it moved.

    A child validated while its parents were alive can commit after a parent's end was settled: that
    transaction could not see the uncommitted child. Without this the child would wait Pending forever.
    """
    if job["status"] != JobStatus.PENDING.value:
        return False
    if job.get("depends_on"):
        state = dependencies.parents_state(rt, job)
        if state.ended is not None:
            return _cancel_child(rt, job, state.ended[0], JobStatus(state.ended[1]))
        if state.open:
            return False
    if held_by_time(job):
        return False  # its own releaser queues it (rate_limits.release_due)
    if waits_for_run_at(rt, job):
        return False
    return _queue_under_caps(rt, job, message)


def release_waiting(rt: Runtime, organization: str) -> int:
    """Queue an organization's waiting Pending jobs, oldest first, while its caps allow."""
    rows = rt.execute(_WAITING_IN_ORG, {"organization": organization}).rows
    return sum(try_release(rt, JobRecord(row), message="Slot free") for row in rows)


def after_transition(
    rt: Runtime, job: dict[str, Any], from_status: JobStatus, to_status: JobStatus, *, childless: bool = False
) -> None:
    """Consequences of a transition for other jobs, in the same transaction. `childless`: the
    transition's UPDATE proved that no job waits for this one (lifecycle.transition)."""
    if not childless and (to_status is JobStatus.COMPLETED or to_status in _PARENT_GONE):
        _settle_children(rt, job, to_status)
    if from_status.value in _IN_FLIGHT and to_status.value not in _IN_FLIGHT:
        # Caps read at the claim: one set while the job ran holds new jobs Pending until the minute
        # sweep releases them, rather than costing every finish a read.
        caps = getattr(job, "caps_at_claim", None)
        org_cap, type_cap = caps if caps is not None else caps_of(rt, job)[:2]
        if org_cap or type_cap:
            release_waiting(rt, job["organization"])
        limit = getattr(job, "rate_limit_at_claim", None)
        if from_status is JobStatus.RUNNING and limit is not None:
            rate_limits.release_due(rt, job["job_type"], limit)


def _settle_children(rt: Runtime, parent: dict[str, Any], parent_status: JobStatus) -> None:
    """Count the parent's end for each waiting child: release those it was the last parent of, cancel
    those it fails (dependencies.py says why this counts rather than reads)."""
    for waiting in dependencies.waiting_children(rt, parent["name"], parent_status):
        if waiting.cancels:
            child = fetch_job(rt, waiting.name)
            if child is not None:
                _cancel_child(rt, child, parent["name"], parent_status)
        elif (child := dependencies.count_down(rt, waiting)) is not None:
            _queue_under_caps(rt, child, f"Dependency {parent['name']} ended {parent_status.value}")


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
