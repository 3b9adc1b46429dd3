"""Job statuses, priorities and the one transition table.

The engine, the DocType controller and the tests all read `TRANSITIONS`; nothing else may decide
whether a status change is legal, so Desk edits and engine writes follow the same rules.
"""

from __future__ import annotations

from enum import Enum


class JobStatus(str, Enum):
    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TIMED_OUT = "Timed Out"
    CANCELED = "Canceled"
    DEAD_LETTER = "Dead Letter"

    def __str__(self) -> str:
        return self.value


class Priority(str, Enum):
    LOW = "Low"
    NORMAL = "Normal"
    HIGH = "High"
    CRITICAL = "Critical"

    def __str__(self) -> str:
        return self.value


# Workers drain queues in this order, so a Critical job never waits behind a Low one.
PRIORITY_ORDER: tuple[Priority, ...] = (Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW)

S = JobStatus
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.PENDING: frozenset({S.QUEUED, S.CANCELED}),
    S.QUEUED: frozenset({S.RUNNING, S.CANCELED, S.PENDING}),
    # Running → Pending: a snooze (snooze.py), back to waiting for its run time, no failure counted.
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.TIMED_OUT, S.CANCELED, S.PENDING}),
    S.FAILED: frozenset({S.QUEUED, S.DEAD_LETTER, S.CANCELED}),
    S.TIMED_OUT: frozenset({S.QUEUED, S.DEAD_LETTER, S.CANCELED}),
    S.DEAD_LETTER: frozenset({S.QUEUED}),
    S.CANCELED: frozenset({S.QUEUED}),
    S.COMPLETED: frozenset(),
}
del S

# Statuses a job rests in until someone acts; they give up their dedup slot.
TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.DEAD_LETTER})
# Statuses that still hold work a worker will (or may) do.
ACTIVE: frozenset[JobStatus] = frozenset(
    {JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED, JobStatus.TIMED_OUT}
)
# What a manual retry may start from.
RETRYABLE: frozenset[JobStatus] = frozenset(
    {JobStatus.DEAD_LETTER, JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELED}
)


def can_transition(from_status: JobStatus | str, to_status: JobStatus | str) -> bool:
    """True when the table allows `from_status` → `to_status`."""
    try:
        return JobStatus(to_status) in TRANSITIONS[JobStatus(from_status)]
    except ValueError:
        return False


_PRIORITY_NAMES = {p.value.lower(): p for p in Priority}


def parse_priority(value: str | Priority | None) -> Priority | None:
    """Priority from its name (case-insensitive), None for None; ValueError for anything else."""
    if value is None or isinstance(value, Priority):
        return value
    if isinstance(value, str) and (priority := _PRIORITY_NAMES.get(value.strip().lower())) is not None:
        return priority
    raise ValueError(f"invalid priority {value!r}: use one of {', '.join(p.value for p in Priority)}")
