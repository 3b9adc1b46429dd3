"""Cleanup, metrics, history and the scheduler; sweep queries checked with EXPLAIN on MariaDB."""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B

from dartwing.dartwing_core.background_jobs import (
    JobNotFoundError,
    NotPermittedError,
    delays,
    get_job_history,
    schema,
    submit_job,
    sweeps,
)
from dartwing.dartwing_core.background_jobs.cleanup import cleanup_old_jobs, expired_query
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics
from dartwing.dartwing_core.background_jobs.sql import to_mariadb
from dartwing.dartwing_core.background_jobs.status import JobStatus
from dartwing.dartwing_core.standalone.scheduler import claim_tick, run_scheduler

bj, log = schema.background_job, schema.job_execution_log
STATUS_MIX = [
    ("Completed", 60),
    ("Dead Letter", 10),
    ("Canceled", 5),
    ("Failed", 10),
    ("Queued", 10),
    ("Pending", 5),
]


def generate_jobs(rt, count: int, *, old_fraction: float, seed: int = 1) -> dict[str, int]:
    """Bulk-insert `count` jobs with a realistic status mix; returns how many old terminal ones."""
    rng = random.Random(seed)
    statuses = [s for s, weight in STATUS_MIX for _ in range(weight)]
    now = rt.now()
    old_terminal = 0
    rows, logs = [], []
    for i in range(count):
        status = rng.choice(statuses)
        old = rng.random() < old_fraction
        when = now - timedelta(days=60 if old else 1, seconds=i)
        old_terminal += old and status in ("Completed", "Dead Letter", "Canceled")
        name = f"JOB-2000-{i:07d}"
        rows.append(
            {
                "name": name,
                "creation": when,
                "modified": when,
                "owner": ADMIN,
                "job_type": "echo",
                "organization": ORG_A if i % 2 else ORG_B,
                "status": status,
                "priority": "Normal",
                "parameters": "{}",
                "parameters_hash": "x",
                "timeout": 300,
                "max_retries": 5,
                "started_at": when,
                "completed_at": when + timedelta(seconds=2),
                "next_retry_at": when if status == "Failed" else None,
                "queued_at": when,
            }
        )
        if i % 10 == 0:
            logs.append(
                {
                    "background_job": name,
                    "organization": rows[-1]["organization"],
                    "to_status": status,
                    "timestamp": when,
                    "creation": when,
                    "modified": when,
                }
            )
        if len(rows) == 5000:
            _flush(rt, rows, logs)
    _flush(rt, rows, logs)
    rt.commit()
    return {"old_terminal": old_terminal}


def _flush(rt, rows, logs):
    conn = rt._connection()
    if rows:
        conn.execute(sa.insert(bj), rows)
    if logs:
        conn.execute(sa.insert(log), logs)
    rows.clear()
    logs.clear()


def count(rt, table, *where):
    value = rt.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()
    rt.rollback()
    return value


def test_cleanup_of_100k_rows_deletes_old_finished_jobs_in_batches(rt):
    facts = generate_jobs(rt, 100_000, old_fraction=0.5)
    cutoff = rt.now() - timedelta(days=30)
    recent_before = count(rt, bj, bj.c.modified >= cutoff)
    old_active_before = count(
        rt, bj, bj.c.modified < cutoff, bj.c.status.in_(["Failed", "Queued", "Pending"])
    )
    one_batch = cleanup_old_jobs(batch=500, max_batches=1)
    assert one_batch == 500
    deleted = one_batch + cleanup_old_jobs(batch=500)
    assert deleted == facts["old_terminal"]
    assert count(rt, bj, bj.c.modified >= cutoff) == recent_before  # recent rows untouched
    assert count(rt, bj, bj.c.modified < cutoff) == old_active_before  # unfinished old jobs stay
    assert count(rt, log, ~log.c.background_job.in_(sa.select(bj.c.name))) == 0  # their logs went with them


def _explain(rt, stmt) -> list[dict]:
    sql, params = to_mariadb(stmt)
    with rt.engine.connect() as conn:
        return [dict(r) for r in conn.exec_driver_sql("EXPLAIN " + sql, params).mappings()]


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_every_sweep_query_uses_an_index(rt):
    generate_jobs(rt, 20_000, old_fraction=0.5, seed=2)
    rt.execute(sa.text("ANALYZE TABLE `tabBackground Job`"))
    rt.commit()
    now = rt.now()
    queries = {
        "due retries": sweeps.due_retry_query(now),
        "orphans": sweeps.orphan_query(now),
        "stale pending": sweeps.stale_query(JobStatus.PENDING, now),
        "stale queued": sweeps.stale_query(JobStatus.QUEUED, now),
        "due delayed": delays._DUE.build().params(now=now),
        "next run time": delays._NEXT_RUN_AT.build().params(now=now),
        "cleanup batch": expired_query(now - timedelta(days=30), "Completed", 500),
        "org list": sa.select(bj.c.name)
        .where(bj.c.organization == ORG_A)
        .order_by(bj.c.creation.desc())
        .limit(20),
        "org status counts": sa.select(bj.c.status, sa.func.count())
        .where(bj.c.organization.in_([ORG_A]))
        .group_by(bj.c.status),
        "job history": sa.select(log)
        .where(log.c.background_job == "JOB-2000-0000010")
        .order_by(log.c.timestamp),
    }
    for label, stmt in queries.items():
        explained = _explain(rt, stmt)
        # A MIN over an index prefix is answered from the index's end, reading no row at all.
        if any(row.get("Extra") in ("Select tables optimized away", "No matching min/max row") for row in explained):
            continue
        plan = [row for row in explained if row["table"] in (bj.name, log.name)]
        assert plan, label
        for row in plan:
            assert row["key"], f"{label}: no index used: {row}"
            assert row["type"] != "ALL", f"{label}: full scan: {row}"


def test_metrics_counts_rates_and_scope(rt):
    a1 = submit_job("echo", ORG_A, {"m": 1}, priority="High")
    a2 = submit_job("always_fails", ORG_A, {"m": 2})
    b1 = submit_job("echo", ORG_B, {"m": 3})
    rt.commit()
    assert run_job(a1.name, 0) == "Completed"
    assert run_job(a2.name, 0) == "Dead Letter"
    everything = get_job_metrics()
    assert everything["job_count_by_status"] == {"Completed": 1, "Dead Letter": 1, "Queued": 1}
    assert everything["queue_depth_by_priority"] == {"Low": 0, "Normal": 1, "High": 0, "Critical": 0}
    assert everything["dead_letter_count"] == 1 and everything["failure_rate"] == 0.5
    assert everything["processing_time"]["samples"] == 1 and everything["processing_time"]["p95_seconds"] >= 0
    assert everything["oldest_queued_age_seconds"] >= 0
    rt.set_user(ALICE)
    mine = get_job_metrics()
    assert mine["job_count_by_status"] == {"Completed": 1, "Dead Letter": 1}  # org B is invisible
    assert get_job_metrics(ORG_A)["dead_letter_count"] == 1
    with pytest.raises(NotPermittedError):
        get_job_metrics(ORG_B)
    rt.set_user(BOB)
    assert get_job_metrics()["job_count_by_status"] == {"Queued": 1}
    with pytest.raises(JobNotFoundError):
        get_job_history(a1.name)
    assert b1.name


def test_a_tick_ends_its_transaction_so_the_scheduler_never_sleeps_holding_one(rt, monkeypatch):
    """The five-minute tick ends in reads (the metrics); left open while the scheduler slept to its
    next tick, on SQLite that transaction held the file's write lock and every other process failed
    after the busy timeout."""
    from dartwing.dartwing_core.standalone import scheduler as standalone_scheduler

    five_minutes = "dartwing.dartwing_core.background_jobs.scheduler.every_five_minutes"
    monkeypatch.setattr(standalone_scheduler, "SCHEDULE", {"*/5 * * * *": five_minutes})
    submit_job("echo", ORG_A, {"n": 1})
    rt.commit()
    clock = [1_800_000_000.0]

    def sleep(seconds):
        clock[0] += seconds

    assert run_scheduler(rt, ticks=1, clock=lambda: clock[0], sleep=sleep) == 1
    assert rt._state.connection is None  # nothing left open
    if rt.engine.dialect.name == "sqlite":  # another process may write at once
        other = sqlite3.connect(rt.engine.url.database, timeout=0.1)
        try:
            other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_scheduler_runs_each_tick_once_across_two_schedulers(rt):
    tick = rt.now().replace(second=0, microsecond=0)
    path = "dartwing.dartwing_core.background_jobs.scheduler.every_minute"
    assert claim_tick(rt, path, tick) is True
    assert claim_tick(rt, path, tick) is False  # the second scheduler skips this tick
    assert claim_tick(rt, path, tick + timedelta(minutes=1)) is True

    clock = [1_800_000_000.0]  # a fake clock shared by two schedulers stepping through 3 minutes

    def sleep(seconds):
        clock[0] += seconds

    first = run_scheduler(rt, ticks=4, clock=lambda: clock[0], sleep=sleep)
    clock[0] = 1_800_000_000.0
    second = run_scheduler(rt, ticks=4, clock=lambda: clock[0], sleep=sleep)
    assert first == 4 and second == 0
