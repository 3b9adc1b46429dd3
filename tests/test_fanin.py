"""Fan-in dependencies and batch callbacks (issue 16, item 2), on both stores, with real Redis.

Two parents finishing at the same moment are run by two threads (each on its own connection) that
meet at a barrier inside their handlers, so their finishing transactions overlap; the child must be
released by them exactly once, with no help from the minute sweep.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from conftest import ALICE, BOB, ORG_A, ORG_B

from dartwing.dartwing_core.api import service
from dartwing.dartwing_core.background_jobs import (
    InvalidInputError,
    get_job_history,
    get_job_status,
    schema,
    submit_job,
    submit_jobs,
)
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.background_jobs.operations import cancel_job
from dartwing.dartwing_core.background_jobs.overdue import claim_minute_sweep
from dartwing.dartwing_core.background_jobs.sweeps import recover_outbox
from dartwing.dartwing_core.background_jobs.waiting import explain_wait
from dartwing.dartwing_core.standalone import admin

_barrier: threading.Barrier | None = None


def meet(context) -> dict:
    """Handler: wait for the other parent's handler, so both finish at the same moment."""
    _barrier.wait(timeout=30)
    return {"met": context.parameters.get("n")}


def report_outcomes(context) -> dict:
    """Handler of a batch callback: what it was told about the batch."""
    return {"outcomes": [(o["job_id"], o["status"]) for o in context.dependencies]}


def _status(rt, name):
    value = get_job_status(name).status
    rt.rollback()
    return value


def _releases(name):
    return [step for step in get_job_history(name) if (step["from_status"], step["to_status"]) == ("Pending", "Queued")]


def test_a_fan_in_child_waits_for_every_parent_then_runs(rt):
    a = submit_job("echo", ORG_A, {"p": "a"})
    b = submit_job("echo", ORG_A, {"p": "b"})
    child = submit_job("echo", ORG_A, {"c": 1}, depends_on=[a.name, b.name, a.name])  # a duplicate is dropped
    rt.commit()
    view = get_job_status(child.name)
    assert (view.status, view.depends_on, view.dependencies) == ("Pending", a.name, [a.name, b.name])
    assert [r["reason"] for r in explain_wait(child.name)["reasons"]] == ["parent", "parent"]
    assert run_job(a.name, 0) == "Completed"
    assert _status(rt, child.name) == "Pending"
    assert [r["parent"] for r in explain_wait(child.name)["reasons"]] == [b.name]
    assert run_job(b.name, 0) == "Completed"
    assert _status(rt, child.name) == "Queued"
    assert len(_releases(child.name)) == 1
    assert run_job(child.name, 0) == "Completed"


def test_a_parent_completed_before_the_submit_is_not_waited_for(rt):
    done = submit_job("echo", ORG_A, {"p": "done"})
    rt.commit()
    assert run_job(done.name, 0) == "Completed"
    open_parent = submit_job("echo", ORG_A, {"p": "open"})
    child = submit_job("echo", ORG_A, {"c": 2}, depends_on=[done.name, open_parent.name])
    rt.commit()
    assert _status(rt, child.name) == "Pending"
    assert run_job(open_parent.name, 0) == "Completed"
    assert _status(rt, child.name) == "Queued"


def test_any_parent_ending_badly_cancels_the_child_with_a_reason(rt):
    good = submit_job("echo", ORG_A, {"p": "good"})
    bad = submit_job("echo", ORG_A, {"p": "bad"})
    child = submit_job("echo", ORG_A, {"c": 3}, depends_on=[good.name, bad.name])
    rt.commit()
    cancel_job(bad.name)
    rt.commit()
    view = get_job_status(child.name)
    assert view.status == "Canceled" and view.error_message == f"Dependency {bad.name} ended Canceled"
    assert run_job(good.name, 0) == "Completed"
    assert _status(rt, child.name) == "Canceled"


def test_every_parent_must_exist_in_the_organization_and_be_able_to_complete(rt):
    mine = submit_job("echo", ORG_A, {"p": 1})
    rt.set_user(BOB)
    theirs = submit_job("echo", ORG_B, {"p": 2})
    rt.commit()
    rt.set_user(ALICE)
    canceled = submit_job("echo", ORG_A, {"p": 3})
    cancel_job(canceled.name)
    rt.commit()
    before = rt.execute(sa.select(sa.func.count()).select_from(schema.job_dependency)).scalar()
    cases = [
        ([mine.name, theirs.name], f"{theirs.name} not found in organization {ORG_A}"),
        ([mine.name, "JOB-2000-99999"], "not found"),
        ([mine.name, canceled.name], "will never complete"),
        ([mine.name, 7], "a job id or a list of job ids"),
        ({"a": mine.name}, "a job id or a list of job ids"),
        ([f"JOB-2026-{n:05d}" for n in range(101)], "the limit is 100"),
    ]
    for depends_on, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            submit_job("echo", ORG_A, {"c": str(depends_on)}, depends_on=depends_on)
    rt.rollback()
    assert rt.execute(sa.select(sa.func.count()).select_from(schema.job_dependency)).scalar() == before
    rt.rollback()


def test_bulk_items_may_fan_in_and_the_sweep_releases_a_child_it_missed(rt, monkeypatch):
    monkeypatch.setenv("DARTWING_OUTBOX_GRACE_SECONDS", "0")
    # Only the sweep below may release the late child: no run_job may run an overdue one first (it
    # asks at most once a second, so whether it would depended on the previous test's timing).
    assert claim_minute_sweep(rt)
    a = submit_job("echo", ORG_A, {"p": "a"})
    b = submit_job("echo", ORG_A, {"p": "b"})
    rt.commit()
    [child] = submit_jobs([{"job_type": "echo", "organization": ORG_A, "depends_on": [a.name, b.name]}])
    rt.commit()
    assert run_job(a.name, 0) == "Completed" and run_job(b.name, 0) == "Completed"
    assert _status(rt, child.name) == "Queued"
    # A child whose count is too high (a parent ended while it was submitted) waits for the sweep.
    c = submit_job("echo", ORG_A, {"p": "c"})
    late = submit_job("echo", ORG_A, {"c": "late"}, depends_on=[c.name])
    rt.execute(sa.update(schema.background_job).where(schema.background_job.c.name == late.name).values(open_parents=2))
    rt.commit()
    assert run_job(c.name, 0) == "Completed"
    assert _status(rt, late.name) == "Pending"
    recover_outbox()
    assert _status(rt, late.name) == "Queued"


def test_a_batch_callback_runs_once_every_job_ended_and_gets_their_outcomes(rt):
    admin.upsert_job_type(rt, "report_outcomes", "test_fanin.report_outcomes", deduplication_window=0)
    rt.commit()
    specs = [{"job_type": "echo", "organization": ORG_A, "parameters": {"n": n}} for n in range(3)]
    jobs = submit_jobs(specs, on_complete={"job_type": "report_outcomes", "organization": ORG_A})
    rt.commit()
    callback = jobs.on_complete
    assert _status(rt, callback.name) == "Pending"
    assert get_job_status(callback.name).dependencies == [job.name for job in jobs]
    assert run_job(jobs[0].name, 0) == "Completed"
    cancel_job(jobs[1].name)  # a batch job that ends badly does not cancel the callback
    rt.commit()
    assert _status(rt, callback.name) == "Pending"
    assert run_job(jobs[2].name, 0) == "Completed"
    assert _status(rt, callback.name) == "Queued"
    assert run_job(callback.name, 0) == "Completed"
    outcomes = get_job_status(callback.name).result["outcomes"]
    assert outcomes == [[jobs[0].name, "Completed"], [jobs[1].name, "Canceled"], [jobs[2].name, "Completed"]]
    # The same callback for another batch: no dedup slot contends.
    again = submit_jobs(specs[:1] and [{**specs[0], "parameters": {"n": 9}}], on_complete={"job_type": "report_outcomes", "organization": ORG_A})
    assert again.on_complete is not None
    rt.rollback()


def test_a_batch_callback_must_be_a_spec_of_the_batchs_organization(rt):
    rt.set_user("Administrator")
    specs = [{"job_type": "echo", "organization": ORG_A}, {"job_type": "echo", "organization": ORG_B}]
    for specs_, on_complete, message in [
        (specs, {"job_type": "echo", "organization": ORG_A}, "item 1 belongs to Org B"),
        (specs[:1], {"job_type": "echo", "organization": ORG_A, "depends_on": "JOB-2026-00001"}, "depends_on"),
        (specs[:1], ["echo"], "must be a job spec object"),
        ([], {"job_type": "echo", "organization": ORG_A}, "at least one job"),
        (specs[:1], {"job_type": "nope", "organization": ORG_A}, "Unknown job type"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            submit_jobs(specs_, on_complete=on_complete)
        rt.rollback()
    assert rt.execute(sa.select(sa.func.count()).select_from(schema.background_job)).scalar() == 0
    rt.rollback()


def test_the_service_takes_lists_as_json_and_reports_the_callback(rt):
    a = submit_job("echo", ORG_A, {"p": "a"})
    b = submit_job("echo", ORG_A, {"p": "b"})
    rt.commit()
    answer = service.submit_job(job_type="echo", organization=ORG_A, depends_on=f'["{a.name}", "{b.name}"]')
    assert get_job_status(answer["job_id"]).dependencies == [a.name, b.name]
    answer = service.submit_jobs(
        jobs='[{"job_type": "echo", "organization": "Org A", "parameters": {"x": 1}}]',
        on_complete='{"job_type": "echo", "organization": "Org A", "parameters": {"done": 1}}',
    )
    assert answer["on_complete"]["status"] == "Pending" and len(answer["jobs"]) == 1
    with pytest.raises(InvalidInputError, match="on_complete must be a JSON object"):
        service.submit_jobs(jobs="[]", on_complete="{not json")
    rt.rollback()


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_two_parents_finishing_at_the_same_moment_release_the_child_exactly_once(rt):
    global _barrier
    admin.upsert_job_type(rt, "meet", "test_fanin.meet", deduplication_window=0)
    rt.commit()
    rounds = 12
    pairs, children = [], []
    for n in range(rounds):
        pair = [submit_job("meet", ORG_A, {"n": f"{n}-{side}"}) for side in ("a", "b")]
        children.append(submit_job("echo", ORG_A, {"child": n}, depends_on=[job.name for job in pair]))
        pairs.append(pair)
    rt.commit()
    for pair in pairs:
        _barrier = threading.Barrier(2)
        ended: list[str] = []
        threads = [threading.Thread(target=lambda job=job, out=ended: out.append(run_job(job.name, 0))) for job in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert ended == ["Completed", "Completed"]
    for child in children:
        assert _status(rt, child.name) == "Queued", child.name  # released by a finisher, not the sweep
        assert len(_releases(child.name)) == 1
        rt.rollback()


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_the_dependency_and_rate_limit_reads_are_index_lookups(rt):
    """EXPLAIN on MariaDB with enough rows that a scan would show: finding a finished parent's
    children, a child's parents, a rate window and the due held jobs all go through their indexes
    (bench/sweeps_scale.py shows the same plans at 1M jobs)."""
    from datetime import timedelta

    from dartwing.dartwing_core.background_jobs import dependencies, rate_limits
    from dartwing.dartwing_core.background_jobs.sql import to_mariadb

    now = rt.now()
    jobs, deps = [], []
    for n in range(6000):
        name = f"JOB-2026-{n:06d}"
        jobs.append({"name": name, "job_type": "echo", "organization": ORG_A, "status": "Completed" if n % 7 else "Pending",
                     "priority": "Normal", "parameters": "{}", "modified": now, "creation": now,
                     "next_retry_at": now if n % 7 == 0 else None})
        if n % 7 == 0 and n:
            deps.append({"name": f"{name}-1", "parent": name, "parenttype": "Background Job",
                         "parentfield": "dependencies", "depends_on": f"JOB-2026-{n - 1:06d}", "idx": 1})
    rt.execute(sa.insert(schema.background_job), jobs)
    rt.execute(sa.insert(schema.job_dependency), deps)
    rt.execute(sa.insert(schema.job_start), [
        {"name": f"S{n}", "job_type": "echo" if n % 2 else "noop", "organization": ORG_A, "background_job": "x",
         "started_at": now - timedelta(seconds=n)} for n in range(3000)])
    rt.commit()
    raw = rt.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table in ("tabBackground Job", "tabJob Dependency", "tabJob Start"):
            cursor.execute(f"ANALYZE TABLE `{table}`")
            cursor.fetchall()
        cases = [
            (dependencies._WAITING_CHILDREN, {"parent_job": "JOB-2026-000006"}, "depends_on"),
            (dependencies._PARENTS, {"job_name": "JOB-2026-000007"}, "parent"),
            (rate_limits._STARTS, {"job_type": "echo", "since": now - timedelta(seconds=60), "count": 5},
             "job_type_started_at_index"),
            (rate_limits._STARTS_OF_ORG, {"job_type": "echo", "organization": ORG_A,
                                          "since": now - timedelta(seconds=60), "count": 5},
             "job_type_organization_started_at_index"),
            (rate_limits._DUE, {"now": now, "job_type": "echo"}, "status_next_retry_at_index"),
        ]
        for statement, params, first_key in cases:
            text, values = to_mariadb(statement, params)
            cursor.execute("EXPLAIN " + text.replace(" FOR UPDATE", ""), values)
            columns = [d[0] for d in cursor.description]
            plan = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            assert all(step["type"] != "ALL" for step in plan), (statement, plan)
            assert plan[0]["key"] == first_key, (statement, plan)
    finally:
        raw.close()
