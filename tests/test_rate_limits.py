"""Rate limits per Job Type (issue 16, item 3): never more than N starts in any window, jobs over it
held Pending in line (never failed), released in turn across organizations; real worker processes
racing on MariaDB, and the rules on both stores."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import ADMIN, ALICE, ORG_A, ORG_B, wait_for

from dartwing.dartwing_core.background_jobs import (
    get_job_history,
    get_job_status,
    schema,
    submit_job,
    submit_jobs,
)
from dartwing.dartwing_core.background_jobs.delays import release_due as release_due_delayed
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.background_jobs.overdue import claim_minute_sweep
from dartwing.dartwing_core.background_jobs.rate_limits import Lines, release_all_due
from dartwing.dartwing_core.background_jobs.scheduler import minute_sweep_now
from dartwing.dartwing_core.background_jobs.waiting import explain_wait
from dartwing.dartwing_core.standalone import admin
from dartwing.dartwing_core.standalone.scheduler import start_delay_releases

NOOP = "dartwing.dartwing_core.background_jobs.handlers.examples.noop"
bj = schema.background_job


def _limit(rt, name, count, period, per_org=False):
    admin.upsert_job_type(
        rt, name, NOOP, deduplication_window=0, rate_limit_count=count, rate_limit_period=period,
        rate_limit_per_org=per_org,
    )
    rt.commit()


def _statuses(rt, names):
    rows = rt.execute(sa.select(bj.c.name, bj.c.status).where(bj.c.name.in_(names))).rows
    rt.rollback()
    return {row["name"]: row["status"] for row in rows}


def _starts(rt, names, organization=None):
    query = sa.select(bj.c.started_at).where(bj.c.name.in_(names), bj.c.started_at.is_not(None))
    if organization:
        query = query.where(bj.c.organization == organization)
    times = sorted(row["started_at"] for row in rt.execute(query).rows)
    rt.rollback()
    return times


def _assert_window(times, count, period):
    for first, later in zip(times, times[count:], strict=False):
        assert (later - first).total_seconds() >= period, (first, later, times)


def test_jobs_over_the_limit_wait_in_line_and_are_released_as_the_window_allows(rt):
    _limit(rt, "limited", 2, 3600)
    jobs = [submit_job("limited", ORG_A, {"n": n}) for n in range(4)]
    rt.commit()
    assert [_statuses(rt, [j.name])[j.name] for j in jobs] == ["Queued", "Queued", "Pending", "Pending"]
    reason = explain_wait(jobs[2].name)["reasons"][0]
    assert (reason["reason"], reason["limit"], reason["period"]) == ("rate_limit", 2, 3600)
    assert [run_job(j.name, 0) for j in jobs[:2]] == ["Completed", "Completed"]
    assert release_all_due(rt) == 0  # the window is full for the hour
    assert _statuses(rt, [jobs[2].name])[jobs[2].name] == "Pending"
    # The window moves on: their starts are an hour old.
    st = schema.job_start
    rt.execute(sa.update(st).values(started_at=rt.now() - timedelta(hours=2)))
    rt.commit()
    assert minute_sweep_now()["rate_limited"] == 2
    assert [run_job(j.name, 0) for j in jobs[2:]] == ["Completed", "Completed"]
    assert all(get_job_status(j.name).retry_count == 0 for j in jobs)


def test_a_claim_over_the_limit_puts_the_job_back_pending_with_its_time(rt):
    _limit(rt, "limited", 0, 60)  # no limit at submit: both are queued at once
    first, second = (submit_job("limited", ORG_A, {"n": n}) for n in range(2))
    rt.commit()
    _limit(rt, "limited", 1, 60)
    assert run_job(first.name, 0) == "Completed"
    assert run_job(second.name, 0) == "not claimed"
    view = get_job_status(second.name)
    assert view.status == "Pending" and view.attempt == 1 and view.retry_count == 0
    assert view.next_retry_at > get_job_status(first.name).started_at
    assert [s["to_status"] for s in get_job_history(second.name)][-1] == "Pending"
    assert "Rate limit of 1 starts per 60s" in get_job_history(second.name)[-1]["message"]
    assert release_all_due(rt) == 0  # not due before the window opens
    _limit(rt, "limited", 0, 60)  # lifting the limit frees the line
    rt.execute(sa.update(bj).where(bj.c.name == second.name).values(next_retry_at=rt.now()))
    rt.commit()
    assert release_all_due(rt) == 1
    assert run_job(second.name, 1) == "Completed"


def test_release_takes_organizations_in_turn(rt):
    _limit(rt, "limited", 4, 3600)
    rt.set_user(ADMIN)
    flood = [{"job_type": "limited", "organization": ORG_A, "parameters": {"n": n}} for n in range(6)]
    late = [{"job_type": "limited", "organization": ORG_B, "parameters": {"n": n}} for n in range(2)]
    jobs = submit_jobs(flood + late)
    rt.commit()
    statuses = _statuses(rt, [j.name for j in jobs])
    queued = [j.organization for j in jobs if statuses[j.name] == "Queued"]
    assert sorted(queued) == [ORG_A, ORG_A, ORG_B, ORG_B]


def test_per_organization_limits_count_each_organization_alone(rt):
    _limit(rt, "limited", 1, 3600, per_org=True)
    rt.set_user(ADMIN)
    jobs = [submit_job("limited", org, {"n": n}) for org in (ORG_A, ORG_B) for n in range(2)]
    rt.commit()
    statuses = _statuses(rt, [j.name for j in jobs])
    assert [statuses[j.name] for j in jobs] == ["Queued", "Pending", "Queued", "Pending"]
    rt.set_user(ALICE)
    assert explain_wait(jobs[1].name)["reasons"][0]["per_organization"] is True


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
@pytest.mark.parametrize("per_org", [False, True], ids=["shared", "per-org"])
def test_racing_workers_never_start_more_than_n_per_window(rt, workers, per_org):
    from rq import Worker

    count, period = 2, 2
    _limit(rt, "limited", 0, period)
    for _ in range(3):
        workers.start()
    wait_for(lambda: len(Worker.all(connection=rt.redis)) == 3, timeout=30)
    rt.set_user(ADMIN)
    # Queued at once (no limit when submitted), and limited from the same commit on: every job
    # reaches the claim while three idle workers wait for messages, and they race there.
    jobs = submit_jobs([
        {"job_type": "limited", "organization": org, "parameters": {"n": n}}
        for n in range(6) for org in (ORG_A, ORG_B)
    ])
    _limit(rt, "limited", count, period, per_org=per_org)
    names = [j.name for j in jobs]

    def all_done():
        release_all_due(rt)  # the releaser's part (the minute sweep's pass, run often here)
        return set(_statuses(rt, names).values()) == {"Completed"}

    wait_for(all_done, timeout=60, interval=0.2)
    if per_org:
        for org in (ORG_A, ORG_B):
            _assert_window(_starts(rt, names, org), count, period)
    else:
        _assert_window(_starts(rt, names), count, period)
    held = [n for n in names if any(s["to_status"] == "Pending" for s in get_job_history(n)[1:])]
    assert held, "some claims must have been refused and held"
    assert all(get_job_status(n).retry_count == 0 for n in names)
    rt.rollback()


def _make_due(rt, name):
    """As if the delayed job's run time had come: run_at one second ago."""
    rt.execute(bj.update().where(bj.c.name == name).values(run_at=rt.now() - timedelta(seconds=1)))
    rt.commit()


def _row(rt, name):
    value = rt.execute(sa.select(bj).where(bj.c.name == name)).first()
    rt.rollback()
    return value


def test_a_delayed_job_of_a_limited_type_waits_for_its_time_then_for_the_window(rt):
    _limit(rt, "limited", 1, 3600)
    first = submit_job("limited", ORG_A, {"n": 0})
    later = submit_job("limited", ORG_A, {"n": 1}, delay=60)
    rt.commit()
    assert run_job(first.name, 0) == "Completed"  # the window is full for the hour
    # Before its time nothing releases it, though the lines' release runs too.
    assert release_due_delayed(rt) == 0 and release_all_due(rt) == 0 and minute_sweep_now()["delayed"] == 0
    assert _row(rt, later.name)["status"] == "Pending"
    rt.set_user(ALICE)
    assert explain_wait(later.name)["reasons"][0]["reason"] == "run_at"
    # Its time comes: it is released, and the claim finds the window full and holds it (never failed).
    _make_due(rt, later.name)
    assert release_due_delayed(rt) == 1
    assert run_job(later.name, 0) == "not claimed"
    assert release_due_delayed(rt) == 0 and release_all_due(rt) == 0  # its run time is no hold any more
    held = _row(rt, later.name)
    assert held["status"] == "Pending" and held["retry_count"] == 0 and held["started_at"] is None
    assert held["run_at"] is None and held["next_retry_at"] == _row(rt, first.name)["started_at"] + timedelta(hours=1)
    assert explain_wait(later.name)["reasons"][0]["reason"] == "rate_limit"
    # The window moves on (its start is two hours old, and so is the hold's end).
    rt.execute(sa.update(schema.job_start).values(started_at=rt.now() - timedelta(hours=2)))
    rt.execute(bj.update().where(bj.c.name == later.name).values(next_retry_at=rt.now() - timedelta(seconds=1)))
    rt.commit()
    assert release_all_due(rt) == 1
    assert run_job(later.name, 1) == "Completed"
    assert _row(rt, later.name)["retry_count"] == 0
    assert "Failed" not in [h["to_status"] for h in get_job_history(later.name)]


def test_a_delayed_job_of_a_limited_type_with_room_starts_at_its_time_not_before(rt):
    _limit(rt, "limited", 5, 3600)
    job = submit_job("limited", ORG_A, {"n": 0}, delay=60)
    rt.commit()
    lines = Lines()
    assert release_due_delayed(rt) == 0 and lines.release(rt) == 0 and release_all_due(rt) == 0
    lines.next_opening(rt)
    rt.rollback()
    assert lines.release(rt) == 0 and _row(rt, job.name)["status"] == "Pending"
    _make_due(rt, job.name)
    assert release_due_delayed(rt) == 1
    assert run_job(job.name, 0) == "Completed"
    assert _row(rt, job.name)["retry_count"] == 0


def test_the_releasers_watch_reads_no_line_while_its_window_is_full(rt):
    _limit(rt, "limited", 1, 3600)
    jobs = [submit_job("limited", ORG_A, {"n": n}) for n in range(3)]
    rt.commit()
    assert run_job(jobs[0].name, 0) == "Completed"
    lines = Lines()
    assert lines.release(rt) == 0 and lines.held == {"limited": True}  # a count each pass, no read
    opening = lines.next_opening(rt)
    rt.rollback()
    started = _row(rt, jobs[0].name)["started_at"]
    assert opening == started + timedelta(hours=1) and lines.opens == {"limited": opening}
    assert lines.release(rt) == 0  # not yet: nothing is read until the window opens
    rt.execute(sa.update(schema.job_start).values(started_at=rt.now() - timedelta(hours=2)))
    rt.commit()
    lines.next_opening(rt)
    rt.rollback()
    assert lines.release(rt) == 1 and lines.held == {"limited": True}  # one more still waits


def test_a_per_organization_line_is_read_only_when_one_of_its_windows_opens(rt, monkeypatch):
    from dartwing.dartwing_core.background_jobs import rate_limits

    _limit(rt, "limited", 1, 3600, per_org=True)
    rt.set_user(ADMIN)
    jobs = [submit_job("limited", org, {"n": n}) for org in (ORG_A, ORG_B) for n in range(2)]
    rt.commit()
    assert [run_job(jobs[i].name, 0) for i in (0, 2)] == ["Completed", "Completed"]
    lines = Lines()
    assert lines.release(rt) == 0 and lines.held == {"limited": False}
    opening = lines.next_opening(rt)
    rt.rollback()
    assert opening == min(_row(rt, jobs[i].name)["started_at"] for i in (0, 2)) + timedelta(hours=1)
    reads = []
    execute = rt.execute
    monkeypatch.setattr(rt, "execute", lambda stmt, params=None: reads.append(stmt) or execute(stmt, params))
    assert lines.release(rt) == 0 and rate_limits._DUE not in reads  # no window opened: nothing read
    rt.execute(sa.update(schema.job_start).values(started_at=rt.now() - timedelta(hours=2)))
    rt.commit()
    lines.next_opening(rt)
    rt.rollback()
    assert lines.release(rt) == 2 and lines.held == {}  # one for each organization; the line is empty
    assert set(_statuses(rt, [jobs[1].name, jobs[3].name]).values()) == {"Queued"}


@contextmanager
def one_worker_and_the_releaser(rt, workers):
    """A worker and the delay releaser running, and no overdue minute sweep (its turn is taken), so
    only the releaser can start a held job as its window opens; the releaser stops at the end."""
    from rq import Worker

    assert claim_minute_sweep(rt)
    workers.start()
    wait_for(lambda: len(Worker.all(connection=rt.redis)) == 1, timeout=30)
    stop = threading.Event()
    releaser = start_delay_releases(rt, stop)
    try:
        yield
    finally:
        stop.set()
        releaser.join(10)


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
@pytest.mark.parametrize("per_org", [False, True], ids=["shared", "per-org"])
def test_with_only_the_releaser_running_the_line_starts_as_the_window_opens(rt, workers, per_org):
    """No minute sweep (its turn is taken), no submit and no finish when the window opens: the
    releaser alone must release the second half, within about a second of each slot's opening."""
    count, period = 3, 3
    _limit(rt, "limited", count, period, per_org=per_org)
    with one_worker_and_the_releaser(rt, workers):
        rt.set_user(ALICE)
        jobs = submit_jobs([{"job_type": "limited", "organization": ORG_A, "parameters": {"n": n}} for n in range(2 * count)])
        rt.commit()
        names = [j.name for j in jobs]
        wait_for(lambda: set(_statuses(rt, names).values()) == {"Completed"}, timeout=30, interval=0.1)
    starts = _starts(rt, names)
    _assert_window(starts, count, period)
    late = [(later - first).total_seconds() - period for first, later in zip(starts, starts[count:], strict=False)]
    assert len(late) == count and all(0 <= seconds < 1 for seconds in late), late
    assert all(get_job_status(n).retry_count == 0 for n in names)
    rt.rollback()


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_with_a_worker_and_the_releaser_delayed_jobs_of_a_limited_type_keep_their_time_and_the_limit(rt, workers):
    count, period = 2, 3
    _limit(rt, "limited", count, period)
    with one_worker_and_the_releaser(rt, workers):
        rt.set_user(ALICE)
        now = [submit_job("limited", ORG_A, {"n": n}) for n in range(count)]
        delayed = [submit_job("limited", ORG_A, {"n": n}, delay=1) for n in range(count, 2 * count + 1)]
        rt.commit()
        names = [j.name for j in now + delayed]
        wait_for(lambda: set(_statuses(rt, names).values()) == {"Completed"}, timeout=30, interval=0.1)
    _assert_window(_starts(rt, names), count, period)
    for job in delayed:
        done = _row(rt, job.name)
        assert done["started_at"] >= done["creation"] + timedelta(seconds=1), job.name  # never early
        assert done["retry_count"] == 0
        assert "Failed" not in [h["to_status"] for h in get_job_history(job.name)]
    rt.rollback()
