"""Engine tunables, read from the environment so both runtimes and every process agree.

Inside a bench the same names can be set in the bench's environment (e.g. in the Procfile line of
the workers); defaults are the production values of DESIGN.md §4.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    backoff_base_seconds: float
    backoff_cap_seconds: float
    progress_throttle_seconds: float
    heartbeat_seconds: float
    orphan_after_seconds: float
    orphan_check_seconds: float
    outbox_grace_seconds: float
    sweep_overdue_seconds: float
    redis_socket_timeout_seconds: float
    claim_outage_wait_seconds: float
    delay_poll_seconds: float
    max_snoozes: float

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            backoff_base_seconds=_number("DARTWING_BACKOFF_BASE_SECONDS", 60),
            backoff_cap_seconds=_number("DARTWING_BACKOFF_CAP_SECONDS", 16 * 60),
            progress_throttle_seconds=_number("DARTWING_PROGRESS_THROTTLE_SECONDS", 0.25),
            # A running job's row gets heartbeat_at every heartbeat_seconds; a Running job silent for
            # orphan_after_seconds (three missed beats) is orphaned (its worker died). The orphan
            # check runs every orphan_check_seconds (standalone: the scheduler; in a bench: the
            # minute sweep), so a killed worker's job runs again 20-40 s after the kill.
            heartbeat_seconds=_number("DARTWING_HEARTBEAT_SECONDS", 10),
            orphan_after_seconds=_number("DARTWING_ORPHAN_AFTER_SECONDS", 30),
            orphan_check_seconds=_number("DARTWING_ORPHAN_CHECK_SECONDS", 10),
            # Pending/Queued rows younger than this are left alone by the outbox sweep: their
            # after-commit hand-off may still be in flight.
            outbox_grace_seconds=_number("DARTWING_OUTBOX_GRACE_SECONDS", 30),
            # A run of the minute sweep counts for this long; a worker finishing a job after that
            # runs it itself (overdue.py), so a queue backlog cannot hold it back.
            sweep_overdue_seconds=_number("DARTWING_SWEEP_OVERDUE_SECONDS", 55),
            # A Redis command (standalone) answers in milliseconds; one unanswered for this long (a
            # partition, a hung server) fails instead of hanging its caller. RQ's blocking dequeue
            # has a connection of its own, with RQ's longer timeout.
            redis_socket_timeout_seconds=_number("DARTWING_REDIS_SOCKET_TIMEOUT_SECONDS", 10),
            # A claim that meets an unreachable database retries with backoff for this long, holding
            # its message (execution.py); then it drops the message and the outbox sweep sends the
            # still-Queued row again.
            claim_outage_wait_seconds=_number("DARTWING_CLAIM_OUTAGE_WAIT_SECONDS", 30),
            # The delayed-job releaser (delays.py) sleeps until the earliest run time it knows of, but
            # never longer than this: a job submitted meanwhile may be due sooner.
            delay_poll_seconds=_number("DARTWING_DELAY_POLL_SECONDS", 1.0),
            # Snoozes one job may take (snooze.py); past them a snooze counts as a transient failure.
            max_snoozes=_number("DARTWING_MAX_SNOOZES", 25),
        )


def settings() -> Settings:
    """Current settings (read each call: cheap, and tests may change the environment)."""
    return Settings.from_env()
