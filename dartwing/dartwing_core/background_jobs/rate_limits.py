"""Rate limits per Job Type: at most `rate_limit_count` starts in any `rate_limit_period` seconds,
for every organization together or (`rate_limit_per_org`) for each organization on its own.

Enforced where a start happens, in the worker's claim (execution.py): under a lock on the Job Type's
row (the Organization's row when counted per organization) the claim counts the type's starts in the
moving window, one Job Start row each, and either starts the job and records its start, or puts it
back Pending with `next_retry_at` = when the window next has room. Racing workers on any number of
hosts take turns on that lock, so no window ever holds more than N starts; a refused job is never
failed, and its retry count is untouched (only its fencing `attempt` moves on, so the message that
later brings it back never shares an RQ id with the one that was refused).

Jobs of a rate-limited type wait in line: submit inserts them Pending and due at once, and
`release_due` queues the due ones oldest first, no more than the window has room for, taking
organizations in turn when they share one limit, so one tenant's flood cannot take every slot of a
window. It runs after a submit's commit, when a job of the type finishes, in the minute sweep, and
in the delayed-jobs releaser (delays.py) as the line's window opens (`Lines`: when a claim's hold
ends or a start leaves the window), so a line moves on time while nothing else happens.

Why the database and not Redis (the `limits` library): the count and the start are then one atomic
decision in the claim's transaction; and a Frappe work horse imports nothing more (`limits` is not in
Frappe v15's pins, and takes about 0.3 s to import).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .records import JobRecord
from .runtime import Runtime
from .statements import statement
from .status import JobStatus

MAX_PERIOD_SECONDS = 24 * 3600
MAX_COUNT = 100_000
# Held jobs one release looks at at most, oldest first; the next release takes the rest.
_RELEASE_BATCH = 500


@dataclass(frozen=True)
class RateLimit:
    count: int
    period: int
    per_org: bool

    def key(self, job: dict[str, Any]) -> tuple[str, str | None]:
        return job["job_type"], job["organization"] if self.per_org else None


def of(settings: dict[str, Any]) -> RateLimit | None:
    """The limit a Job Type's settings (or the claim read's columns) set, or None."""
    count = int(settings.get("rate_limit_count") or 0)
    if count <= 0:
        return None
    period = min(max(int(settings.get("rate_limit_period") or 60), 1), MAX_PERIOD_SECONDS)
    return RateLimit(count, period, bool(settings.get("rate_limit_per_org")))


@statement
def _LOCK_JOB_TYPE(sa, t):
    jt = t.job_type
    return sa.select(jt.c.name).where(jt.c.name == sa.bindparam("job_type")).with_for_update()


# Locking reads: under REPEATABLE READ (Frappe) a plain read after the lock would still see the
# snapshot the claim's first read took, and miss a start another worker committed since.
@statement
def _STARTS(sa, t):
    st = t.job_start
    return (
        sa.select(st.c.started_at)
        .where(st.c.job_type == sa.bindparam("job_type"), st.c.started_at > sa.bindparam("since"))
        .order_by(st.c.started_at)
        .limit(sa.bindparam("count", type_=sa.Integer))
        .with_for_update()
    )


@statement
def _STARTS_OF_ORG(sa, t):
    return _STARTS.build().where(t.job_start.c.organization == sa.bindparam("organization"))


@statement
def _INSERT_START(sa, t):
    return sa.insert(t.job_start)


# Starts older than the window count for nobody: the claim that adds one drops them.
@statement
def _PRUNE(sa, t):
    st = t.job_start
    return sa.delete(st).where(st.c.job_type == sa.bindparam("job_type"), st.c.started_at <= sa.bindparam("since"))


@statement
def _PRUNE_OF_ORG(sa, t):
    return _PRUNE.build().where(t.job_start.c.organization == sa.bindparam("organization"))


@statement
def _COUNT(sa, t):
    st = t.job_start
    return (
        sa.select(sa.func.count())
        .select_from(st)
        .where(st.c.job_type == sa.bindparam("job_type"), st.c.started_at > sa.bindparam("since"))
    )


@statement
def _COUNT_OF_ORG(sa, t):
    return _COUNT.build().where(t.job_start.c.organization == sa.bindparam("organization"))


# Released and not started yet: they will take the window's room when they start.
@statement
def _QUEUED(sa, t):
    bj = t.background_job
    return (
        sa.select(sa.func.count())
        .select_from(bj)
        .where(bj.c.status == JobStatus.QUEUED.value, bj.c.job_type == sa.bindparam("job_type"))
    )


@statement
def _QUEUED_OF_ORG(sa, t):
    return _QUEUED.build().where(t.background_job.c.organization == sa.bindparam("organization"))


# Pending jobs a time holds, due now, of one Job Type, oldest first. In the (status, next_retry_at)
# index's own order (its entries end with the primary key, `name`: a series, so submit order), so
# the read stops after the batch instead of sorting every held row of the line.
@statement
def _DUE(sa, t):
    bj = t.background_job
    return (
        sa.select(bj)
        .where(
            bj.c.status == JobStatus.PENDING.value,
            bj.c.next_retry_at <= sa.bindparam("now"),
            bj.c.job_type == sa.bindparam("job_type"),
        )
        .order_by(bj.c.next_retry_at, bj.c.name)
        .limit(_RELEASE_BATCH)
    )


# The earliest end of a claim's hold, and its job's type (the (status, next_retry_at) index's order).
@statement
def _NEXT_HOLD_END(sa, t):
    bj = t.background_job
    return (
        sa.select(bj.c.job_type, bj.c.next_retry_at)
        .where(bj.c.status == JobStatus.PENDING.value, bj.c.next_retry_at > sa.bindparam("now"))
        .order_by(bj.c.next_retry_at)
        .limit(1)
    )


@statement
def _LIMITED_TYPES(sa, t):
    jt = t.job_type
    return sa.select(jt.c.name, jt.c.rate_limit_count, jt.c.rate_limit_period, jt.c.rate_limit_per_org).where(
        jt.c.rate_limit_count > 0
    )


# A type's window now: its starts and the oldest of them (a range on (job_type, started_at)).
@statement
def _WINDOW(sa, t):
    st = t.job_start
    return sa.select(sa.func.count().label("starts"), sa.func.min(st.c.started_at).label("oldest")).where(
        st.c.job_type == sa.bindparam("job_type"), st.c.started_at > sa.bindparam("since")
    )


@statement
def _WINDOWS_OF_ORGS(sa, t):
    return _WINDOW.build().group_by(t.job_start.c.organization)


def _window(rt: Runtime, job: dict[str, Any], limit: RateLimit) -> dict[str, Any]:
    params = {"job_type": job["job_type"], "since": rt.now() - timedelta(seconds=limit.period)}
    if limit.per_org:
        params["organization"] = job["organization"]
    return params


def take_start(rt: Runtime, job: dict[str, Any], limit: RateLimit) -> datetime | None:
    """In the claim's transaction: lock the limit's key and read its window. None if the job may
    start now (`record_start` then records it), else when the window next has room."""
    if limit.per_org:
        from .release import _LOCK_ORGANIZATION  # release imports this module: import at use

        rt.execute(_LOCK_ORGANIZATION, {"organization": job["organization"]})
    else:
        rt.execute(_LOCK_JOB_TYPE, {"job_type": job["job_type"]})
    window = _window(rt, job, limit)
    starts = rt.execute(_STARTS_OF_ORG if limit.per_org else _STARTS, {**window, "count": limit.count}).rows
    if len(starts) < limit.count:
        return None
    return starts[0]["started_at"] + timedelta(seconds=limit.period)


def record_start(rt: Runtime, job: dict[str, Any], limit: RateLimit, started_at: datetime) -> None:
    """Count the claimed attempt's start in the window (and drop the starts that left it)."""
    window = _window(rt, job, limit)
    rt.execute(_PRUNE_OF_ORG if limit.per_org else _PRUNE, window)
    user = rt.current_user()
    rt.execute(
        _INSERT_START,
        {
            "name": f"{job['name']}-{job['attempt']}",
            "creation": started_at,
            "modified": started_at,
            "owner": user,
            "modified_by": user,
            "job_type": job["job_type"],
            "organization": job["organization"],
            "background_job": job["name"],
            "started_at": started_at,
        },
    )


def hold(rt: Runtime, job: JobRecord, attempt: int, until: datetime, limit: RateLimit) -> bool:
    """Put a refused job back Pending until `until`, fenced by the attempt its message carried."""
    from .lifecycle import transition

    scope = f" for {job['organization']}" if limit.per_org else ""
    return transition(
        rt,
        job,
        JobStatus.PENDING,
        values={"next_retry_at": until, "attempt": attempt + 1, "worker": None, "rq_job_id": None},
        fence_attempt=attempt,
        message=f"Rate limit of {limit.count} starts per {limit.period}s{scope} reached; waits for the window",
    )


def in_window(rt: Runtime, job: dict[str, Any], limit: RateLimit) -> int:
    """Starts in the job's window now (a plain read: an estimate the claim makes exact)."""
    return int(rt.execute(_COUNT_OF_ORG if limit.per_org else _COUNT, _window(rt, job, limit)).scalar())


def room(rt: Runtime, job: dict[str, Any], limit: RateLimit) -> int:
    """Starts the job's window has room for now, less the jobs released into it and not started."""
    free = limit.count - in_window(rt, job, limit)
    if free <= 0:  # full with starts: the released ones need not be counted
        return free
    params = {"job_type": job["job_type"]}
    if limit.per_org:
        params["organization"] = job["organization"]
    return free - int(rt.execute(_QUEUED_OF_ORG if limit.per_org else _QUEUED, params).scalar())


def release_due(rt: Runtime, job_type: str, limit: RateLimit | None) -> int:
    """Queue the type's due held jobs, oldest first, while the window has room, organizations in
    turn; returns how many went. In the caller's transaction. The room it counts is an estimate
    (another release or a claim may act beside it): the claim is what enforces the limit."""
    return _release_line(rt, job_type, limit)[0]


def _release_line(rt: Runtime, job_type: str, limit: RateLimit | None) -> tuple[int, bool]:
    """`release_due`, and whether jobs may still wait in the line. A window for every organization
    that is full costs a count, not a read of the line."""
    from .release import try_release

    free: dict[tuple[str, str | None], int] = {}
    if limit is not None and not limit.per_org:
        key = (job_type, None)
        free[key] = room(rt, {"job_type": job_type}, limit)
        if free[key] <= 0:
            return 0, True
    held = [JobRecord(row) for row in rt.execute(_DUE, {"now": rt.now(), "job_type": job_type}).rows]
    if limit is None:  # the limit was lifted: nothing holds them any more
        released = sum(try_release(rt, job, message="Rate limit lifted", due=True) for job in held)
        return released, len(held) == _RELEASE_BATCH or released < len(held)
    released = 0
    for job in _organizations_in_turn(held):
        key = limit.key(job)
        if key not in free:
            free[key] = room(rt, job, limit)
        if free[key] > 0 and try_release(rt, job, message="Rate limit window has room", due=True):
            free[key] -= 1
            released += 1
    return released, len(held) == _RELEASE_BATCH or released < len(held)


def release_all_due(rt: Runtime) -> int:
    """The minute sweep's pass: every type's due held jobs, each type in a transaction of its own."""
    return Lines().release(rt)


@dataclass
class Lines:
    """What the delayed-jobs releaser (delays.py) knows of the lines between its passes, so that it
    releases a line as its window opens without reading every held row on every pass.

    `held`: the types with jobs held in line (None until a first pass has found them all, from every
    due held row), each with whether the next pass tries its line again: always for one limit for
    all organizations (a full window costs a count, not a read of the line) or a lifted one; a
    per-organization line is read (its organizations' rooms) when one of its windows opens, or at
    the next pass when none holds a start (every room is free, or fills as its released jobs start).
    `opens`: when a type's window may next have room, which the releaser sleeps until. A type is
    watched while its line waits, and from the moment its window is full (a line may form then: a
    submit finds no room, and that submit's own release is all that runs); the time a claim held a
    job until is watched too. Each read is a range on an index: (status, next_retry_at), or the
    type's starts on (job_type, started_at), bounded by its window.
    """

    held: dict[str, bool] | None = None
    opens: dict[str, datetime] = field(default_factory=dict)

    def release(self, rt: Runtime) -> int:
        """Release the held lines and those whose window has opened (every line, the first time),
        each type in a transaction of its own; returns how many jobs went."""
        from .records import fetch_job_type

        if self.held is None:
            types, self.held = _types_in_line(rt), {}
        else:
            now = rt.now()
            every_pass = {job_type for job_type, again in self.held.items() if again}
            types = sorted(every_pass | {job_type for job_type, when in self.opens.items() if when <= now})
        released = 0
        for job_type in types:
            limit = of(fetch_job_type(rt, job_type) or {})
            count, waiting = _release_line(rt, job_type, limit)
            rt.commit()
            released += count
            if waiting:
                self.held[job_type] = limit is None or not limit.per_org
            else:
                self.held.pop(job_type, None)
        return released

    def next_opening(self, rt: Runtime) -> datetime | None:
        """The earliest time a watched window may have room (None: nothing to wait for); in the
        caller's transaction."""
        now = rt.now()
        held = self.held or {}
        opens: dict[str, datetime] = {}
        for settings in rt.execute(_LIMITED_TYPES, {}).rows:
            job_type, limit = settings["name"], of(settings)
            window = {"job_type": job_type, "since": now - timedelta(seconds=limit.period)}
            for key in rt.execute(_WINDOWS_OF_ORGS if limit.per_org else _WINDOW, window).rows:
                if key["oldest"] is not None and (job_type in held or key["starts"] >= limit.count):
                    _sooner(opens, job_type, key["oldest"] + timedelta(seconds=limit.period))
            if job_type in held and job_type not in opens:
                held[job_type] = True  # no start in any window: its rooms are free, or fill soon
        hold = rt.execute(_NEXT_HOLD_END, {"now": now}).first()
        if hold is not None:
            _sooner(opens, hold["job_type"], hold["next_retry_at"])
        self.opens = opens
        return min(opens.values(), default=None)


def _sooner(opens: dict[str, datetime], job_type: str, when: datetime) -> None:
    opens[job_type] = min(opens.get(job_type, when), when)


def _types_in_line(rt: Runtime) -> list[str]:
    """Every type with due held jobs: a range over all of them (the minute sweep's statement, built
    here as the sweeps build theirs: no work horse runs it)."""
    import sqlalchemy as sa

    from . import schema

    bj = schema.background_job
    due_types = (
        sa.select(bj.c.job_type)
        .where(bj.c.status == JobStatus.PENDING.value, bj.c.next_retry_at <= rt.now())
        .distinct()
    )
    types = [row["job_type"] for row in rt.execute(due_types).rows]
    rt.rollback()
    return types


def _organizations_in_turn(jobs: list[JobRecord]) -> list[JobRecord]:
    """The jobs reordered so that organizations alternate, each one's own order kept."""
    by_org: dict[str, list[JobRecord]] = {}
    for job in jobs:
        by_org.setdefault(job["organization"], []).append(job)
    queues = list(by_org.values())
    ordered = []
    for turn in range(max((len(q) for q in queues), default=0)):
        ordered += [queue[turn] for queue in queues if turn < len(queue)]
    return ordered
