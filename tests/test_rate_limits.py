"""Rate limits per Job Type (issue 16, item 3): never more than N starts in any window, jobs over it
held Pending in line (never failed), released in turn across organizations; real worker processes
racing on MariaDB, and the rules on both stores."""

from __future__ import annotations

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
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.background_jobs.rate_limits import release_all_due
from dartwing.dartwing_core.background_jobs.scheduler import minute_sweep_now
from dartwing.dartwing_core.background_jobs.waiting import explain_wait
from dartwing.dartwing_core.standalone import admin

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
