"""`dartwing-jobs scheduler`: the hooks.py schedule, standalone, safe to run on several hosts.

Each tick of each schedule runs once across all schedulers: before running, a scheduler takes a
Redis key named after the schedule and the tick's minute (SET NX with an expiry); whoever gets it
runs the tick, everyone else skips it.

The scheduler outlives outages. While Redis cannot be asked for a tick's key, it asks again with
backoff until Redis answers; then the late tick runs, once, as usual. A tick whose schedule's next
tick is already due is skipped (the next one does the same work), so an outage or a long sweep is
followed by one run per schedule, not a burst of stale ones. A tick that raises is logged and the
schedule goes on. Each outage is logged once when it starts and once when it ends.

Beside the schedule, a thread checks for orphans (Running jobs whose worker died) every
`orphan_check_seconds`, once per interval across schedulers (background_jobs/orphan_checks.py).

A second thread releases delayed and snoozed jobs as their run time comes, and rate-limited ones as
their window opens (background_jobs/delays.py): the minute tick would start them up to a minute late. Every scheduler runs one; their releases are
compare-and-sets, so a job is queued once.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from datetime import datetime, timezone

import redis
from croniter import croniter

from dartwing.dartwing_core.background_jobs.delays import run_releaser
from dartwing.dartwing_core.background_jobs.orphan_checks import run_orphan_checks
from dartwing.dartwing_core.background_jobs.scheduler import SCHEDULE
from dartwing.dartwing_core.background_jobs.tenancy import ADMIN_USER

from ..background_jobs.outages import Outage
from .runtime import StandaloneRuntime

log = logging.getLogger("dartwing.scheduler")
LOCK_SECONDS = 3600
RETRY_FIRST_WAIT_SECONDS = 1.0
RETRY_MAX_WAIT_SECONDS = 30.0


def _function(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def claim_tick(rt: StandaloneRuntime, path: str, tick: datetime) -> bool:
    """True for exactly one caller per (schedule, tick) across every scheduler on this Redis."""
    key = f"dartwing:scheduler:{path.rsplit('.', 1)[-1]}:{tick:%Y%m%d%H%M}"
    return bool(rt.redis.set(key, "1", nx=True, ex=LOCK_SECONDS))


def _claim_with_retry(rt: StandaloneRuntime, path: str, due: datetime, outage: Outage, clock, sleep) -> bool:
    """claim_tick, asked again with backoff for as long as Redis is unreachable."""
    wait = RETRY_FIRST_WAIT_SECONDS
    while True:
        try:
            claimed = claim_tick(rt, path, due)
        except redis.exceptions.RedisError as exc:
            outage.began(exc, clock())
            sleep(wait)
            wait = min(wait * 2, RETRY_MAX_WAIT_SECONDS)
            continue
        outage.ended(clock())
        return claimed


def run_scheduler(
    rt: StandaloneRuntime, *, ticks: int | None = None, clock=time.time, sleep=time.sleep
) -> int:
    """Run the schedule until stopped (or for `ticks` due ticks). Returns how many ticks this process ran.

    Each tick ends its transaction as Frappe's job runner ends a scheduled job's: committed after
    the function returns, rolled back if it raises. A tick that ended inside one (the five-minute
    metrics reads) left it open while the scheduler slept to the next tick; on SQLite every
    transaction holds the file's write lock, so every other process waited, and failed after the
    30 s busy timeout."""
    start = datetime.fromtimestamp(clock(), timezone.utc)
    upcoming = {path: croniter(expr, start).get_next(datetime) for expr, path in SCHEDULE.items()}
    crons = {path: expr for expr, path in SCHEDULE.items()}
    outage = Outage("Redis", "ticks wait and retry with backoff", log)
    seen = ran = 0
    while ticks is None or seen < ticks:
        path, due = min(upcoming.items(), key=lambda item: item[1])
        wait = due.timestamp() - clock()
        if wait > 0:
            sleep(wait)
        upcoming[path] = croniter(crons[path], due).get_next(datetime)
        seen += 1
        if upcoming[path].timestamp() <= clock():
            log.info("skipped the late %s tick of %s: a later one is due", path, due.isoformat())
            continue
        if _claim_with_retry(rt, path, due, outage, clock, sleep):
            ran += 1
            log.info("running %s for %s", path, due.isoformat())
            try:
                result = _function(path)()
                rt.commit()
            except Exception:  # noqa: BLE001 - one failed tick must not stop the schedule
                rt.rollback()
                log.exception("%s failed for %s", path, due.isoformat())
                continue
            log.info("%s -> %s", path, result)
    return ran


def start_orphan_checks(rt: StandaloneRuntime, stop: threading.Event | None = None) -> threading.Thread:
    """Run the orphan checks (background_jobs/orphan_checks.py) in a daemon thread until `stop` is set."""
    thread = threading.Thread(
        target=run_orphan_checks, args=(rt, stop or threading.Event()), name="dartwing-orphan-checks", daemon=True
    )
    thread.start()
    return thread


def start_delay_releases(rt: StandaloneRuntime, stop: threading.Event | None = None) -> threading.Thread:
    """Release due delayed, snoozed and rate-limited jobs on time (delays.run_releaser), as Administrator, in a
    daemon thread until `stop` is set."""
    stop = stop or threading.Event()

    def run() -> None:
        rt.set_user(ADMIN_USER)  # this thread's user: the runtime keeps one per thread
        run_releaser(rt, stop)

    thread = threading.Thread(target=run, name="dartwing-delay-releases", daemon=True)
    thread.start()
    return thread
