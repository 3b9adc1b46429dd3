"""The lease heartbeat: stamps a running job's row each interval, stops when its handler returns, and
one helper thread serves every job of the process."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from conftest import ALICE, ORG_A, wait_for

from dartwing.dartwing_core.background_jobs import schema, submit_job
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.standalone import admin

bj = schema.background_job
INTERVAL = 0.2

# Handlers of this module's job type block until the test lets them go.
_release: dict[str, threading.Event] = {}
_started: dict[str, threading.Event] = {}


def hold_until_released(ctx):
    _started[ctx.parameters["key"]].set()
    _release[ctx.parameters["key"]].wait(30)


@pytest.fixture
def held_jobs(rt, monkeypatch):
    """Starts run_job for held jobs in threads; releases and joins every one at the end."""
    monkeypatch.setenv("DARTWING_HEARTBEAT_SECONDS", str(INTERVAL))
    admin.upsert_job_type(rt, "held", f"{__name__}.hold_until_released", deduplication_window=0)
    rt.commit()
    threads: list[threading.Thread] = []

    def start(key: str) -> str:
        _release[key], _started[key] = threading.Event(), threading.Event()
        rt.set_user(ALICE)
        job = submit_job("held", ORG_A, {"key": key})
        rt.commit()
        thread = threading.Thread(target=run_job, args=(job.name, 0), daemon=True)
        thread.start()
        threads.append(thread)
        assert _started[key].wait(30)
        return job.name

    yield start
    for event in _release.values():
        event.set()
    for thread in threads:
        thread.join(30)


def column(rt, name, column_name):
    value = rt.execute(sa.select(bj.c[column_name]).where(bj.c.name == name)).scalar()
    rt.rollback()  # a SQLite read transaction would hold the write lock the workers need
    return value


def heartbeat_at(rt, name):
    return column(rt, name, "heartbeat_at")


def wait_completed(rt, name):
    wait_for(lambda: column(rt, name, "status") == "Completed", message=f"{name} Completed")


def heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dartwing-heartbeat"]


def test_rows_of_running_jobs_are_stamped_until_their_handlers_return(rt, held_jobs):
    first, second = held_jobs("first"), held_jobs("second")
    claimed = {name: heartbeat_at(rt, name) for name in (first, second)}
    for name in (first, second):  # both jobs run at once; each gets beats of its own
        wait_for(lambda name=name: heartbeat_at(rt, name) > claimed[name], timeout=10, message="a beat")
    assert len(heartbeat_threads()) == 1

    _release["first"].set()
    wait_completed(rt, first)
    last_of_first = heartbeat_at(rt, first)
    still_running = heartbeat_at(rt, second)
    time.sleep(INTERVAL * 4)
    assert heartbeat_at(rt, first) == last_of_first  # no stamp after the outcome was written
    assert heartbeat_at(rt, second) > still_running


def test_a_job_shorter_than_the_interval_is_never_stamped(rt, held_jobs, monkeypatch):
    monkeypatch.setenv("DARTWING_HEARTBEAT_SECONDS", "5")
    name = held_jobs("short")
    claimed = heartbeat_at(rt, name)
    _release["short"].set()
    wait_completed(rt, name)
    assert heartbeat_at(rt, name) == claimed
