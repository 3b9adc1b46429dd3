"""submit_job: validate everything, insert the row in the caller's transaction, send it after commit.

Nothing here commits or rolls back the caller's transaction. Every check runs before the first write,
so a rejected submit leaves the database and Redis exactly as they were. A job that nothing holds (no
parent, no concurrency cap, no run time) is inserted Queued (its log still shows Pending → Queued)
and its RQ message leaves after the commit; a crash in between leaves a Queued row with no message,
which the minute sweep re-sends. A delayed job is inserted Pending with its `run_at`, and the delay
releaser queues it on time (delays.py). A job with a parent or under a cap is inserted Pending and
released after the commit, in a transaction of its own (`Runtime.own_transaction`) that takes the organization's lock,
so the caller's transaction never holds it. Dedup is atomic through the unique `job_hash` column: the
database, not a read-then-insert, decides which of two identical submits wins.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from . import dependencies, rate_limits, tenancy
from .delays import run_at_of
from .errors import DuplicateJobError, InvalidInputError, NotPermittedError
from .hashing import canonical_json, parameters_hash
from .inputs import bounded_int
from .lifecycle import record_submit
from .queueing import queue_for, queued_values, send_after_commit
from .records import JobRecord, fetch_job_type
from .release import held_by_time, queues_at_submit, release_or_settle
from .runtime import Runtime, get_runtime
from .statements import statement
from .status import TERMINAL, JobStatus, parse_priority

JOB_NAMING_SERIES = "JOB-.YYYY.-.#####"
MAX_PARAMETERS_BYTES = 64 * 1024
MAX_TIMEOUT_SECONDS = 24 * 3600
MAX_RETRIES_LIMIT = 25
_DEDUP_ATTEMPTS = 3

@statement
def _INSERT_JOB(sa, t):
    return sa.insert(t.background_job)


# Submit's one read for validation: the Job Type's settings, the organization (NULLs if it does not
# exist, joined on the parameter) and whether the user is an active member of it.
@statement
def _JOB_TYPE_AND_ORGANIZATION(sa, t):
    jt, org = t.job_type, t.organization
    return (
        sa.select(
            jt.c.is_enabled,
            jt.c.requires_role,
            jt.c.default_priority,
            jt.c.default_timeout,
            jt.c.max_retries,
            jt.c.deduplication_window,
            jt.c.max_concurrent_per_org,
            jt.c.queue,
            jt.c.rate_limit_count,
            jt.c.rate_limit_period,
            jt.c.rate_limit_per_org,
            org.c.name.label("organization_found"),
            org.c.status.label("organization_status"),
            org.c.max_concurrent_jobs,
            tenancy.membership_of(sa.bindparam("user"), org.c.name).exists().label("is_member"),
        )
        .select_from(jt.outerjoin(org, org.c.name == sa.bindparam("organization")))
        .where(jt.c.name == sa.bindparam("job_type"))
    )


# A locking read sees the latest committed holder of a dedup slot, whatever the isolation level. A
# shared lock (LOCK IN SHARE MODE), not FOR UPDATE: the failed INSERT already holds one on that index
# entry, so the read is granted at once; concurrent losers each asking for an exclusive lock on the
# entry they all share-lock deadlocked (1213), twenty of fifty identical submits, once submits no
# longer queued behind the naming series' row lock (standalone/naming.py).
@statement
def _DEDUP_HOLDER(sa, t):
    bj = t.background_job
    return (
        sa.select(bj.c.name, bj.c.status, bj.c.creation)
        .where(bj.c.job_hash == sa.bindparam("job_hash"))
        .with_for_update(read=True)
    )


# Frees a slot its holder has left (terminal, or past the window): a compare-and-set on the hash.
@statement
def _FREE_DEDUP_SLOT(sa, t):
    bj = t.background_job
    return (
        sa.update(bj)
        .where(bj.c.name == sa.bindparam("holder"), bj.c.job_hash == sa.bindparam("held_hash"))
        .values(job_hash=None)
    )


def submit_job(
    job_type: str,
    organization: str,
    parameters: dict[str, Any] | str | None = None,
    priority: str | None = None,
    depends_on: str | list[str] | None = None,
    timeout: int | None = None,
    max_retries: int | None = None,
    *,
    run_at: datetime | str | None = None,
    delay: float | None = None,
    runtime: Runtime | None = None,
) -> JobRecord:
    """Create a Background Job as the runtime's current user; it runs after the caller commits, or
    from `run_at` (an aware datetime) or `delay` seconds after the submit, whichever is given.

    `depends_on`: a job id, or a list of them (fan-in): the job waits Pending until every one has
    Completed, and is canceled if one ends Dead Letter or Canceled. Raises InvalidInputError (400), NotPermittedError (403) or DuplicateJobError (409); in every
    case nothing has been written.
    """
    rt = runtime or get_runtime()
    user = rt.current_user()
    jt = checked_job_type(rt, user, job_type, organization)
    row = new_row(
        rt, user, jt, job_type, organization, parameters, priority, depends_on, timeout, max_retries,
        run_at=run_at, delay=delay,
    )
    parents = dependencies.parent_names(depends_on)
    row["open_parents"] = dependencies.open_count(rt, parents, organization)
    row["name"] = rt.make_name(JOB_NAMING_SERIES)
    queue_now = queue_at_insert(rt, row, jt)
    _insert_deduplicated(rt, row, dedup_window(jt))
    dependencies.record(rt, row, parents, now=row["creation"])
    record_submit(rt, row, row["creation"])
    if queue_now:
        send_after_commit(rt, row, queue_for(row, jt))
    elif not row.get("run_at"):  # a delayed job is the delay releaser's to queue
        rt.after_commit(lambda: release_after_commit(rt, JobRecord(row)))
    return row


def checked_job_type(rt: Runtime, user: str, job_type: Any, organization: Any) -> dict[str, Any]:
    """The Job Type's settings for a submit by `user` to `organization`, once every check on the
    pair has passed: both exist and accept jobs, the user may act for the organization and holds the
    type's role. Raises InvalidInputError or NotPermittedError."""
    jt = _valid_job_type_and_organization(rt, user, job_type, organization)
    tenancy.require_access(rt, user, organization, member=bool(jt["is_member"]))
    if jt.get("requires_role") and not (
        tenancy.is_admin(rt, user) or jt["requires_role"] in rt.user_roles(user)
    ):
        raise NotPermittedError(f"Job type {job_type} requires the role {jt['requires_role']}")
    return jt


def new_row(
    rt: Runtime,
    user: str,
    jt: dict[str, Any],
    job_type: str,
    organization: str,
    parameters: Any,
    priority: Any,
    depends_on: Any,
    timeout: Any,
    max_retries: Any,
    *,
    run_at: Any = None,
    delay: Any = None,
    now: datetime | None = None,
) -> JobRecord:
    """The validated Pending row of a new job, without its name (`jt`: from `checked_job_type`),
    created at `now` (default: the runtime's clock; a bulk submit's jobs share one instant). Its
    parents are checked apart (dependencies.open_count), which sets `open_parents`. A delayed one
    has `run_at`; the column is left out otherwise, so an undelayed submit's INSERT stays the one
    precompiled statement it was."""
    params_json = _valid_parameters(parameters)
    parents = dependencies.parent_names(depends_on)
    chosen_priority = _valid_priority(priority, jt)
    now = now or rt.now()
    held_until = run_at_of(rt, now, run_at, delay)
    params_hash = parameters_hash(job_type, organization, params_json)
    row = JobRecord(
        creation=now,
        modified=now,
        owner=user,
        modified_by=user,
        job_type=job_type,
        organization=organization,
        status=JobStatus.PENDING.value,
        priority=chosen_priority.value,
        parameters=params_json,
        parameters_hash=params_hash,
        job_hash=params_hash if dedup_window(jt) > 0 else None,
        depends_on=parents[0] if parents else None,
        open_parents=len(parents),
        progress=0,
        retry_count=0,
        attempt=0,
        cancel_requested=0,
        timeout=bounded_int("timeout", timeout, 1, MAX_TIMEOUT_SECONDS, default=jt.get("default_timeout") or 300),
        max_retries=bounded_int("max_retries", max_retries, 0, MAX_RETRIES_LIMIT, default=jt.get("max_retries")),
    )
    if held_until is not None:
        row["run_at"] = held_until
    return row


def dedup_window(jt: dict[str, Any]) -> int:
    """Seconds a new job of this type holds its dedup slot (0: no dedup)."""
    return int(jt.get("deduplication_window") or 0)


def queue_at_insert(rt: Runtime, row: JobRecord, jt: dict[str, Any]) -> bool:
    """Make the named row Queued when nothing can hold it (no run time, parent, cap or rate limit);
    True if it did. A job of a rate-limited type joins its line instead: Pending, due at once (a
    delayed one when its run time comes, and a worker's claim holds it if the window is full)."""
    org_cap, type_cap = int(jt["max_concurrent_jobs"] or 0), int(jt.get("max_concurrent_per_org") or 0)
    rate_limited = rate_limits.of(jt) is not None
    if rate_limited and not row.get("run_at"):
        row["next_retry_at"] = row["creation"]
    if not queues_at_submit(row, org_cap, type_cap, rate_limited):
        return False
    # Inserted Queued, at its creation: one write instead of an insert and a transition.
    row.update(queued_values(rt, row, row["creation"]), status=JobStatus.QUEUED.value)
    return True


def release_after_commit(rt: Runtime, job: JobRecord) -> None:
    """Queue the new job in a transaction of its own, unless its parent or a cap holds it Pending
    (or cancel it, if its parent ended Dead Letter / Canceled while it was being submitted).

    It runs as an after-commit callback, so it neither ends the (new) caller transaction nor raises:
    a failure is logged and the minute sweep releases the job.
    """
    try:
        with rt.own_transaction():
            if held_by_time(job):  # in a rate limit's line: released in its turn
                rate_limits.release_due(rt, job["job_type"], rate_limits.of(fetch_job_type(rt, job["job_type"]) or {}))
            else:
                release_or_settle(rt, job)
    except Exception as exc:  # noqa: BLE001 - a callback must not break the caller's commit
        rt.log_error("Dartwing release after submit failed", f"{job['name']}: {exc!r}; the sweep will release it")


def _valid_job_type_and_organization(
    rt: Runtime, user: str, job_type: Any, organization: Any
) -> dict[str, Any]:
    """The enabled Job Type's settings and the Active organization's `max_concurrent_jobs` (0: none)."""
    if not isinstance(job_type, str) or not job_type.strip():
        raise InvalidInputError("job_type is required")
    organization_given = isinstance(organization, str) and bool(organization.strip())
    found = rt.execute(
        _JOB_TYPE_AND_ORGANIZATION,
        {"user": user, "job_type": job_type, "organization": organization if organization_given else None},
    ).first()
    if found is None:
        raise InvalidInputError(f"Unknown job type {job_type!r}")
    if not found["is_enabled"]:
        raise InvalidInputError(f"Job type {job_type!r} is disabled")
    if not organization_given:
        raise InvalidInputError("organization is required")
    if found["organization_found"] is None:
        raise InvalidInputError(f"Unknown organization {organization!r}")
    if found["organization_status"] != tenancy.ACTIVE:
        raise InvalidInputError(
            f"Organization {organization!r} is {found['organization_status']} and accepts no jobs"
        )
    return found


def _valid_parameters(parameters: Any) -> str:
    if parameters is None or parameters == "":
        parameters = {}
    if isinstance(parameters, str):
        try:
            parameters = json.loads(parameters)
        except ValueError:
            raise InvalidInputError("parameters must be a JSON object") from None
    if not isinstance(parameters, dict):
        raise InvalidInputError(f"parameters must be a JSON object, not {type(parameters).__name__}")
    params_json = canonical_json(parameters)
    size = len(params_json.encode("utf-8"))
    if size > MAX_PARAMETERS_BYTES:
        raise InvalidInputError(f"parameters are {size} bytes; the limit is {MAX_PARAMETERS_BYTES}")
    return params_json


def _valid_priority(priority: Any, jt: dict[str, Any]):
    try:
        return parse_priority(priority) or parse_priority(jt.get("default_priority") or "Normal")
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


def _insert_deduplicated(rt: Runtime, row: dict[str, Any], window_seconds: int) -> None:
    """Insert `row`; if its job_hash is held, free a stale holder or raise DuplicateJobError."""
    if not row["job_hash"]:
        # No dedup slot to contend for (window 0): nothing to recover from, so no savepoint.
        rt.execute(_INSERT_JOB, row)
        return
    holder = None
    for _ in range(_DEDUP_ATTEMPTS):
        try:
            with rt.savepoint():
                rt.execute(_INSERT_JOB, row)
            return
        except Exception as exc:
            if not rt.is_unique_violation(exc):
                raise
        holder = rt.execute(_DEDUP_HOLDER, {"job_hash": row["job_hash"]}).first()
        if holder is None:
            continue  # the holder went away between our insert and this read: try again
        if not left_slot(holder, row["creation"], window_seconds):
            raise DuplicateJobError(holder["name"], holder["status"])
        free_slot(rt, holder["name"], row["job_hash"])
    # Every round was lost to a concurrent identical submit: it holds the slot now.
    if holder is None:
        raise DuplicateJobError("(a concurrent submit)", JobStatus.PENDING.value)
    raise DuplicateJobError(holder["name"], holder["status"])


def left_slot(holder: dict[str, Any], now: datetime, window_seconds: int) -> bool:
    """Whether the job holding a dedup slot has left it: terminal, or older than the window at `now`."""
    expired = holder["creation"] < now - timedelta(seconds=window_seconds)
    return JobStatus(holder["status"]) in TERMINAL or expired


def free_slot(rt: Runtime, holder: str, job_hash: str) -> None:
    """Take the dedup slot `job_hash` from the job `holder`, which has left it (a compare-and-set)."""
    rt.execute(_FREE_DEDUP_SLOT, {"holder": holder, "held_hash": job_hash})
