"""Fan-in: a job's parents (its Job Dependency rows), checked at submit and read when it may go.

A job may wait for several parents (`depends_on` given a list; the column of that name keeps the first,
for a single parent as before). Each parent is a Job Dependency row: (`parent` = the waiting job,
`depends_on` = the job it waits for), indexed both ways, so finding a parent's children and a child's
parents are index lookups whatever the table's size.

Who releases a fan-in child, and why exactly once: the child's `open_parents` counts the parents it
still waits for. A finishing parent counts it down with one UPDATE of the child's row, whose row lock
makes two parents finishing at the same moment take turns; the one that brings it to zero releases
the child. Reading the parents' statuses instead could not work there: each finisher's transaction
sees the other parent still Running, and both would leave the child waiting. The count can only be
too high, never too low (a parent that ended while the child was being submitted never counted it
down), so the release after the submit's commit and the minute sweep read the parents' statuses
(`parents_state`) and catch that case.

`runs_on_failure` rows (a batch's on_complete callback, bulk.py) count a parent that ends Dead Letter
or Canceled as done instead of canceling the child; `settled` makes each parent count once, even if
it is retried and ends again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import InvalidInputError
from .records import JobRecord, fetch_job
from .runtime import Runtime
from .statements import statement
from .status import JobStatus

MAX_PARENTS = 100
PARENT_FIELD = "dependencies"  # the Table field of Background Job that holds the rows
_ENDED_BADLY = frozenset({JobStatus.DEAD_LETTER.value, JobStatus.CANCELED.value})


@statement
def _INSERT_DEPENDENCY(sa, t):
    return sa.insert(t.job_dependency)


@statement
def _PARENTS(sa, t):
    dep, bj = t.job_dependency, t.background_job
    return (
        sa.select(dep.c.depends_on, dep.c.runs_on_failure, bj.c.status, bj.c.output_reference, bj.c.error_message)
        .select_from(dep.outerjoin(bj, bj.c.name == dep.c.depends_on))
        .where(dep.c.parent == sa.bindparam("job_name"))
        .order_by(dep.c.idx)
    )


# A finished parent's waiting children, in name order: two finishers lock shared children in the
# same order, so they take turns instead of deadlocking.
@statement
def _WAITING_CHILDREN(sa, t):
    dep, bj = t.job_dependency, t.background_job
    return (
        sa.select(dep.c.name, dep.c.parent, dep.c.runs_on_failure)
        .select_from(dep.join(bj, bj.c.name == dep.c.parent))
        .where(dep.c.depends_on == sa.bindparam("parent_job"), bj.c.status == JobStatus.PENDING.value)
        .order_by(dep.c.parent)
    )


@statement
def _SETTLE(sa, t):
    dep = t.job_dependency
    return sa.update(dep).where(dep.c.name == sa.bindparam("dependency"), dep.c.settled == 0).values(settled=1)


@statement
def _COUNT_DOWN(sa, t):
    bj = t.background_job
    return (
        sa.update(bj)
        .where(bj.c.name == sa.bindparam("child"), bj.c.status == JobStatus.PENDING.value)
        .values(open_parents=bj.c.open_parents - 1)
    )


def parent_names(depends_on: Any) -> list[str]:
    """The parents a caller named: one job id, or a list of them (duplicates dropped, order kept)."""
    if depends_on is None or depends_on == "":
        return []
    names = [depends_on] if isinstance(depends_on, str) else depends_on
    if not isinstance(names, list | tuple) or not all(isinstance(name, str) and name for name in names):
        raise InvalidInputError("depends_on must be a job id or a list of job ids")
    unique = list(dict.fromkeys(names))
    if len(unique) > MAX_PARENTS:
        raise InvalidInputError(f"depends_on names {len(unique)} jobs; the limit is {MAX_PARENTS}")
    return unique


def valid_parent(rt: Runtime, name: str, organization: str) -> str:
    """The status of `name`, a parent the new job may wait for: an existing job of the same
    organization that can still complete (so a cycle can never form: a parent exists before its child)."""
    return parent_status(fetch_job(rt, name), name, organization)


def parent_status(parent: dict[str, Any] | None, name: str, organization: str) -> str:
    """`valid_parent`'s rule for the row read for `name` (None: there is none)."""
    # Another organization's job is reported as missing, never as existing elsewhere.
    if parent is None or parent["organization"] != organization:
        raise InvalidInputError(f"depends_on: Background Job {name} not found in organization {organization}")
    if parent["status"] in _ENDED_BADLY:
        raise InvalidInputError(f"depends_on: Background Job {name} is {parent['status']} and will never complete")
    return parent["status"]


def open_count(
    rt: Runtime, parents: list[str], organization: str, check: Callable[..., str] = valid_parent
) -> int:
    """How many of the (validated) parents have not completed yet: the new job's `open_parents`."""
    return sum(check(rt, name, organization) != JobStatus.COMPLETED.value for name in parents)


def rows_for(
    rt: Runtime, job: dict[str, Any], parents: list[str], *, now: datetime, runs_on_failure: bool = False
) -> list[dict[str, Any]]:
    """The Job Dependency rows of `job` (named) for its `parents`, as Frappe stores a child table."""
    user = rt.current_user()
    return [
        {
            "name": f"{job['name']}-{index}",
            "creation": now,
            "modified": now,
            "owner": user,
            "modified_by": user,
            "idx": index,
            "parent": job["name"],
            "parenttype": "Background Job",
            "parentfield": PARENT_FIELD,
            "depends_on": parent,
            "runs_on_failure": int(runs_on_failure),
            "settled": 0,
        }
        for index, parent in enumerate(parents, start=1)
    ]


def record(rt: Runtime, job: dict[str, Any], parents: list[str], *, now: datetime) -> None:
    """Insert the Job Dependency rows of a job its submit just inserted."""
    if parents:
        rows = rows_for(rt, job, parents, now=now)
        rt.execute(_INSERT_DEPENDENCY, rows if len(rows) > 1 else rows[0])


@dataclass
class ParentsState:
    """Where a waiting job's parents stand: `ended` names the first that ended Dead Letter or Canceled
    (and cancels the job), `open` those still to finish; neither: it may go."""

    ended: tuple[str, str] | None = None
    open: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.ended is None and not self.open


def parents_state(rt: Runtime, job: dict[str, Any]) -> ParentsState:
    """Read the statuses of the job's parents (a job submitted before fan-in has only `depends_on`)."""
    rows = rt.execute(_PARENTS, {"job_name": job["name"]}).rows
    if not rows and job.get("depends_on"):
        status = fetch_job(rt, job["depends_on"])
        rows = [{"depends_on": job["depends_on"], "runs_on_failure": 0, "status": status and status["status"]}]
    state = ParentsState()
    for row in rows:
        status = row["status"]
        if status == JobStatus.COMPLETED.value or (status in _ENDED_BADLY and row["runs_on_failure"]):
            continue
        if status in _ENDED_BADLY:
            state.ended = state.ended or (row["depends_on"], status)
        else:
            state.open.append((row["depends_on"], status))
    return state


def parent_outcomes(rt: Runtime, job_name: str) -> list[dict[str, Any]]:
    """[{job_id, status, output_reference, error_message}] of the job's parents, in the order given."""
    return [
        {
            "job_id": row["depends_on"],
            "status": row["status"],
            "output_reference": row["output_reference"],
            "error_message": row["error_message"],
        }
        for row in rt.execute(_PARENTS, {"job_name": job_name}).rows
    ]


@dataclass
class WaitingChild:
    """A Pending child of a parent that just ended, and whether that end cancels it."""

    name: str
    cancels: bool
    dependency: str


def waiting_children(rt: Runtime, parent: str, parent_status: JobStatus) -> list[WaitingChild]:
    failed = parent_status is not JobStatus.COMPLETED
    return [
        WaitingChild(row["parent"], failed and not row["runs_on_failure"], row["name"])
        for row in rt.execute(_WAITING_CHILDREN, {"parent_job": parent}).rows
    ]


def count_down(rt: Runtime, child: WaitingChild) -> JobRecord | None:
    """Count this parent's end for the child, once; the child's row if it waits for no other parent."""
    if rt.execute(_SETTLE, {"dependency": child.dependency}).rowcount != 1:
        return None  # this parent's end was counted before (it was retried and ended again)
    if rt.execute(_COUNT_DOWN, {"child": child.name}).rowcount != 1:
        return None  # released or canceled meanwhile
    row = fetch_job(rt, child.name)  # this transaction's own write: the count as it now stands
    return row if row is not None and int(row["open_parents"] or 0) <= 0 else None
