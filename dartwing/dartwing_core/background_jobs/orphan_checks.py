"""Orphan checks between minute sweeps, so that a killed worker's job runs again within a minute.

The minute sweep alone would add up to a minute to the `orphan_after_seconds` of silence that proves
a worker dead. So the long-running scheduler process (`dartwing-jobs scheduler` standalone, `bench
--site all dartwing-scheduler` in a bench) checks every `orphan_check_seconds`, once per interval
across all such processes (a Redis turn). The check is one indexed read of the Running rows, which
are as many as the jobs being run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .outages import Outage, quietly
from .retry_policy import is_connection_error
from .runtime import Runtime
from .settings import settings
from .sweeps import recover_orphans
from .tenancy import ADMIN_USER

log = logging.getLogger(__name__)
ORPHAN_CHECK = "orphan_check"


def check_orphans(rt: Runtime) -> int | None:
    """One orphan check as Administrator, if this process takes the interval's turn (None if another
    one did). Returns how many orphans it recovered."""
    if not rt.claim_turn(ORPHAN_CHECK, settings().orphan_check_seconds):
        return None
    previous = rt.current_user()
    rt.set_user(ADMIN_USER)
    try:
        return recover_orphans(runtime=rt)
    finally:
        rt.rollback()
        rt.set_user(previous)


def run_orphan_checks(rt: Runtime, stop: threading.Event, *, recover: Callable[[], None] | None = None) -> None:
    """`check_orphans` every `orphan_check_seconds` until `stop` is set. An outage of Redis or the
    database is logged once, `recover` (reconnect) is called, and the next interval asks again: backoff
    enough for one short query."""
    outage = Outage("Redis or the database", "orphan checks resume when it answers", log)
    while not stop.wait(settings().orphan_check_seconds):
        try:
            recovered = check_orphans(rt)
        except Exception as exc:  # noqa: BLE001 - the next interval tries again
            if not is_connection_error(exc):
                log.exception("orphan check failed")
                continue
            outage.began(exc, time.time())
            if recover is not None:
                quietly(recover, log)
            continue
        outage.ended(time.time())
        if recovered:
            log.info("orphan check recovered %s job(s)", recovered)
