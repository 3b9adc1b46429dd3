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
import time
from collections.abc import Callable

from .runtime import Runtime
from .settings import settings

log = logging.getLogger(__name__)

MINUTE_SWEEP = "every_minute"
_ASK_EVERY_SECONDS = 1.0
_next_ask = 0.0  # monotonic time before which this process does not ask Redis again


def claim_minute_sweep(rt: Runtime) -> bool:
    """Take the minute sweep's turn; False while another run holds it."""
    return rt.claim_turn(MINUTE_SWEEP, settings().sweep_overdue_seconds)


def run_minute_sweep_if_overdue(rt: Runtime, before: Callable[[Runtime], None] | None = None) -> bool:
    """Called by the worker after a job's outcome; never raises. `before(rt)` runs first if the
    sweep runs (the worker commits an outcome it held for the next claim: group_commit.py).

    A worker that runs jobs itself asks Redis at most once a second (a finished job costs no round
    trip in between); the sweep's modules are imported only by the worker that takes the turn.
    """
    global _next_ask
    now = time.monotonic()
    if now < _next_ask:
        return False
    _next_ask = now + _ASK_EVERY_SECONDS
    try:
        if not claim_minute_sweep(rt):
            return False
        from .scheduler import minute_sweep_now  # the sweeps import much of the engine

        if before is not None:
            before(rt)
        minute_sweep_now()
    except Exception as exc:  # noqa: BLE001 - the job is done; the next finish tries again
        log.warning("overdue minute sweep failed: %s", exc)
        return False
    return True
