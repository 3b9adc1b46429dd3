"""The minute sweep, run by a worker when it is overdue, so that no backlog can starve it.

Frappe's scheduler enqueues cron events on its `default` queue, behind whatever waits there (and a
stock `bench worker` serves `short` before `default`), so during a backlog of any priority the sweep's
own message, and with it due retries, orphan recovery and the outbox, would wait for the whole
backlog: 11 to 13 minutes for 2,000 jobs in a real bench. Each run of the sweep takes a turn in Redis
that lasts `sweep_overdue_seconds` (`Runtime.claim_turn`); a worker that finishes a job while no turn
is held takes it and runs the sweep there and then. The sweeps are idempotent, so a cron run that
arrives late after one of these is harmless.
"""

from __future__ import annotations

import logging

from .runtime import Runtime
from .settings import settings

log = logging.getLogger(__name__)

MINUTE_SWEEP = "every_minute"


def claim_minute_sweep(rt: Runtime) -> bool:
    """Take the minute sweep's turn; False while another run holds it."""
    return rt.claim_turn(MINUTE_SWEEP, settings().sweep_overdue_seconds)


def run_minute_sweep_if_overdue(rt: Runtime) -> bool:
    """Called by the worker after a job's outcome is committed; never raises."""
    from .scheduler import minute_sweep_now  # the scheduler's sweeps import the whole engine

    try:
        if not claim_minute_sweep(rt):
            return False
        minute_sweep_now()
    except Exception as exc:  # noqa: BLE001 - the job is done; the next finish tries again
        log.warning("overdue minute sweep failed: %s", exc)
        return False
    return True
