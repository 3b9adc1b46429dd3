"""The metrics snapshot (snapshots.py) and the overview read on it (metrics.get_job_metrics): the same
figures as counting the jobs, live between sweeps, fresh after one, scoped to the viewer's
organizations; and, on MariaDB, a read whose work follows the organizations and the transitions
since the snapshot, not the jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B
from job_rows import insert_in_chunks, mixed_jobs

from dartwing.dartwing_core.background_jobs import NotPermittedError, metrics, schema, submit_job
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics
from dartwing.dartwing_core.background_jobs.operations import cancel_job
from dartwing.dartwing_core.background_jobs.scheduler import every_five_minutes
from dartwing.dartwing_core.background_jobs.snapshots import take_snapshot
from dartwing.dartwing_core.background_jobs.sql import to_mariadb
from dartwing.dartwing_core.standalone import admin

LIVE = ("job_count_by_status", "queue_depth_by_priority", "dead_letter_count")


def live_figures(**kw):
    """The figures `get_job_metrics` keeps live (the snapshot's plus the transitions since)."""
    return {key: value for key, value in get_job_metrics(**kw).items() if key in LIVE}


@pytest.fixture
def jobs(rt):
    insert_in_chunks(rt.engine, mixed_jobs(300, [ORG_A, ORG_B], seed=5, spread=timedelta(hours=30)))
    a1 = submit_job("echo", ORG_A, {"n": 1}, priority="High")
    a2 = submit_job("always_fails", ORG_A, {"n": 2})
    rt.commit()
    assert run_job(a1.name, 0) == "Completed"
    assert run_job(a2.name, 0) == "Dead Letter"
    return a1, a2


def test_a_snapshot_gives_the_figures_counting_gives(rt, jobs):
    rt.set_user(ALICE)
    alice_before = live_figures()
    rt.set_user(ADMIN)
    everything = get_job_metrics()  # no snapshot yet: counted from the jobs
    assert everything["snapshot_at"] is None and everything["live"] is True
    assert every_five_minutes()["snapshot"]["organizations"] == 2
    after = get_job_metrics()
    assert after["snapshot_at"] is not None and after["live"] is True
    assert {key: after[key] for key in LIVE} == {key: everything[key] for key in LIVE}
    for key in ("failure_rate", "retry_rate"):
        assert after[key] == everything[key], key
    # The snapshot adds per-organization sums to the recent ones, counting adds them in one go:
    # float sums in another order, so a total can differ in its last (millisecond) digit.
    assert after["processing_time"] == {
        key: pytest.approx(value, abs=0.0011) if isinstance(value, float) else value
        for key, value in everything["processing_time"].items()
    }
    assert after["oldest_queued_age_seconds"] >= everything["oldest_queued_age_seconds"]
    rt.set_user(ALICE)
    assert live_figures() == alice_before


def truth(rt):
    """Counts by status and queued by priority, from the jobs themselves."""
    bj = schema.background_job
    counts = {row["status"]: row["n"] for row in rt.execute(
        sa.select(bj.c.status, sa.func.count().label("n")).group_by(bj.c.status))}
    depth = {row["priority"]: row["n"] for row in rt.execute(
        sa.select(bj.c.priority, sa.func.count().label("n")).where(bj.c.status == "Queued").group_by(bj.c.priority))}
    return counts, {p: depth.get(p, 0) for p in ("Low", "Normal", "High", "Critical")}


def test_counts_stay_live_between_sweeps_and_window_figures_follow_the_sweep(rt, jobs):
    take_snapshot(rt)
    rt.commit()
    base = get_job_metrics()
    submit_job("echo", ORG_B, {"n": 3}, priority="Critical")
    done = submit_job("echo", ORG_A, {"n": 4})
    gone = submit_job("echo", ORG_A, {"n": 5})
    rt.commit()
    run_job(done.name, 0)  # (which may run the overdue minute sweep: more transitions)
    cancel_job(gone.name)
    rt.commit()
    now = get_job_metrics()
    assert now["live"] is True and now["snapshot_at"] == base["snapshot_at"]
    assert (now["job_count_by_status"], now["queue_depth_by_priority"]) == truth(rt)
    assert now["job_count_by_status"] != base["job_count_by_status"]
    # the 24-hour figures are the snapshot's until the next sweep takes one
    assert now["processing_time"] == base["processing_time"]
    every_five_minutes()
    fresh = get_job_metrics()
    assert fresh["snapshot_at"] > base["snapshot_at"]
    assert fresh["processing_time"]["samples"] == base["processing_time"]["samples"] + 1
    assert (fresh["job_count_by_status"], fresh["queue_depth_by_priority"]) == truth(rt)


def test_too_many_transitions_since_the_snapshot_leave_its_figures_as_they_are(rt, jobs, monkeypatch):
    take_snapshot(rt)
    rt.commit()
    base = get_job_metrics()
    monkeypatch.setattr(metrics, "LIVE_LOG_ROWS", 2)
    for n in range(2):
        submit_job("echo", ORG_A, {"more": n})
    rt.commit()  # four log rows: submitted and queued, twice
    stale = get_job_metrics()
    assert stale["live"] is False
    assert stale["job_count_by_status"] == base["job_count_by_status"]


def test_a_member_never_sees_another_organizations_counts(rt, jobs):
    rt.set_user(BOB)
    bob_before = live_figures()
    rt.set_user(ALICE)
    alice_before = live_figures()
    rt.set_user(ADMIN)
    every_five_minutes()
    submit_job("echo", ORG_B, {"after": 1})
    rt.commit()
    rt.set_user(ALICE)
    assert live_figures() == alice_before  # the snapshot's row of every organization is not hers
    assert live_figures(organization=ORG_A) == alice_before
    with pytest.raises(NotPermittedError):
        get_job_metrics(ORG_B)
    rt.set_user(BOB)
    bob = live_figures()
    assert bob["job_count_by_status"]["Queued"] == bob_before["job_count_by_status"].get("Queued", 0) + 1
    assert bob["queue_depth_by_priority"]["Normal"] == bob_before["queue_depth_by_priority"]["Normal"] + 1
    admin.add_user(rt, "nobody@c.example", ("Job User",))
    rt.commit()
    rt.set_user("nobody@c.example")
    nothing = get_job_metrics()
    assert nothing["job_count_by_status"] == {} and nothing["oldest_queued_age_seconds"] is None
    assert nothing["processing_time"]["samples"] == 0


def test_the_sweep_replaces_the_snapshot(rt, jobs):
    every_five_minutes()
    every_five_minutes()
    snap = schema.job_metrics_snapshot
    rows = rt.execute(sa.select(snap.c.organization, snap.c.taken_at)).rows
    assert sorted(row["organization"] or "" for row in rows) == ["", ORG_A, ORG_B]
    assert len({row["taken_at"] for row in rows}) == 1


# --- MariaDB: an overview read does not count the jobs ------------------------------------------

SCALE_ROWS = 30_000


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_an_overview_read_is_bounded_by_organizations_and_recent_transitions(rt, monkeypatch):
    """ANALYZE of each statement `get_job_metrics` runs after a snapshot of 30,000 jobs, for the
    administrator and for a member: rows read follow the organizations (snapshot rows, one oldest
    queued entry each) and the transitions logged since (none here), not the jobs."""
    insert_in_chunks(rt.engine, mixed_jobs(SCALE_ROWS, [ORG_A, ORG_B], seed=3, spread=timedelta(days=2)))
    with rt.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE TABLE `tabBackground Job`, `tabJob Execution Log`").fetchall()
    take_snapshot(rt)
    rt.commit()
    statements = []
    execute = rt.execute

    def recording(statement, params=None):
        statements.append((statement, params))
        return execute(statement, params)

    monkeypatch.setattr(rt, "execute", recording)
    for user in (ADMIN, ALICE):
        rt.set_user(user)
        statements.clear()
        figures = get_job_metrics()
        assert figures["snapshot_at"] is not None and sum(figures["job_count_by_status"].values()) > 1000
        read = 0.0
        for statement, params in statements:
            text, values = to_mariadb(statement, params)
            if not text.startswith("SELECT"):
                continue
            with rt.engine.connect() as conn:
                plan = conn.exec_driver_sql(f"ANALYZE {text}", values).mappings().all()
            for row in plan:
                if row["table"] in ("tabBackground Job", "tabJob Execution Log"):
                    assert row["type"] in ("range", "ref", "eq_ref", "index", "const"), (user, text, row)
                read += float(row["r_rows"] or 0)
        assert read <= 20, (user, read)
