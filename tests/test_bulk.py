"""submit_jobs on SQLite and MariaDB: all or nothing, errors by index, dedup, tenancy, the cap, the
transaction contract, and jobs actually run by a worker."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B, table_counts, wait_for
from test_submit import snapshot

from dartwing.dartwing_core.background_jobs import (
    MAX_BULK_JOBS,
    BulkSubmitError,
    InvalidInputError,
    JobStatus,
    get_job_status,
    schema,
    submit_job,
    submit_jobs,
)
from dartwing.dartwing_core.background_jobs.statements import built
from dartwing.dartwing_core.standalone import admin
from dartwing.dartwing_core.standalone.runtime import RQ_RESULT_TTL_SECONDS, StandaloneRuntime, queue_name


def specs(n: int, org: str = ORG_A, **extra) -> list[dict]:
    return [{"job_type": "echo", "organization": org, "parameters": {"n": i}, **extra} for i in range(n)]


def log_transitions(rt, name: str) -> list[tuple]:
    log = schema.job_execution_log
    rows = rt.execute(
        sa.select(log.c.from_status, log.c.to_status).where(log.c.background_job == name).order_by(log.c.name)
    )
    return [(r["from_status"], r["to_status"]) for r in rows]


def test_a_batch_is_inserted_queued_and_sent_in_one_round_trip_after_commit(rt, monkeypatch):
    rt.set_user(ALICE)
    jobs = submit_jobs(specs(5) + [{"job_type": "echo", "organization": ORG_A, "priority": "High"}])
    year = rt.now().year
    assert [j.name for j in jobs] == [f"JOB-{year}-{i:05d}" for i in range(1, 7)]
    assert all(j.status == "Queued" and j.owner == ALICE for j in jobs)
    assert rt.redis.llen(f"rq:queue:{queue_name('Normal')}") == 0  # nothing leaves before the commit
    calls = []
    enqueue_many = rt.enqueue_many
    monkeypatch.setattr(rt, "enqueue", lambda *a: pytest.fail("a bulk submit sends no single message"))
    monkeypatch.setattr(rt, "enqueue_many", lambda messages: calls.append(messages) or enqueue_many(messages))
    rt.commit()
    assert len(calls) == 1 and len(calls[0]) == 6
    normal = rt.redis.lrange(f"rq:queue:{queue_name('Normal')}", 0, -1)
    assert normal == [f"{j.name}-0".encode() for j in jobs[:5]]
    assert rt.redis.lrange(f"rq:queue:{queue_name('High')}", 0, -1) == [f"{jobs[5].name}-0".encode()]
    for job in jobs:
        assert get_job_status(job.name).status == "Queued"
        assert log_transitions(rt, job.name) == [(None, "Pending"), ("Pending", "Queued")]
    assert submit_job("noop", ORG_A).name == f"JOB-{year}-00007"  # the series continues after the batch


def test_each_message_is_an_rq_job_that_rq_restores(rt):
    from rq.job import Job

    jobs = submit_jobs(specs(3) + [{"job_type": "echo", "organization": ORG_A, "timeout": 77}])
    rt.commit()
    for job in jobs:
        message = Job.fetch(f"{job.name}-0", connection=rt.redis)
        assert message.func_name == "dartwing.dartwing_core.background_jobs.execution.run_job"
        assert message.kwargs == {"background_job": job.name, "attempt": 0} and message.args == ()
        assert message.get_status() == "queued" and message.origin == queue_name("Normal")
        assert message.timeout == job.timeout and message.description == f"{job.name}-0"
        assert message.result_ttl == RQ_RESULT_TTL_SECONDS and message.enqueued_at is not None


def test_errors_are_reported_by_index_and_nothing_is_written(rt):
    before = snapshot(rt)
    rt.set_user(ALICE)
    batch = specs(6)
    batch[1] = {"job_type": "no_such_type", "organization": ORG_A}
    batch[3]["priority"] = "Urgent"
    batch[4] = "not an object"
    batch[5]["colour"] = "blue"
    with pytest.raises(BulkSubmitError) as caught:
        submit_jobs(batch)
    assert [(e["index"], e["error"]) for e in caught.value.errors] == [
        (1, "InvalidInputError"),
        (3, "InvalidInputError"),
        (4, "InvalidInputError"),
        (5, "InvalidInputError"),
    ]
    messages = [e["message"] for e in caught.value.errors]
    assert "Unknown job type" in messages[0] and "Urgent" in messages[1]
    assert "must be an object" in messages[2] and "colour" in messages[3]
    rt.commit()  # even a commit after the failure must find nothing to write
    assert snapshot(rt) == before


def test_tenancy_is_checked_per_item_and_a_crossing_writes_nothing(rt):
    before = snapshot(rt)
    rt.set_user(ALICE)
    batch = specs(3) + specs(1, org=ORG_B) + [{"job_type": "noop", "organization": ORG_A}]
    with pytest.raises(BulkSubmitError) as caught:
        submit_jobs(batch)
    assert [(e["index"], e["error"]) for e in caught.value.errors] == [(3, "NotPermittedError")]
    rt.commit()
    assert snapshot(rt) == before
    rt.set_user(ADMIN)  # an administrator may submit for any organization
    assert {j.organization for j in submit_jobs(batch)} == {ORG_A, ORG_B}
    rt.commit()


def test_a_parent_in_another_organization_is_reported_missing(rt):
    rt.set_user(BOB)
    parent = submit_job("echo", ORG_B, {"p": 1})
    rt.commit()
    rt.set_user(ALICE)
    with pytest.raises(BulkSubmitError) as caught:
        submit_jobs(specs(2, depends_on=parent.name))
    assert [e["index"] for e in caught.value.errors] == [0, 1]
    assert all("not found" in e["message"] for e in caught.value.errors)


def test_children_wait_for_their_parent_and_are_released_by_it(rt):
    parent = submit_job("echo", ORG_A, {"p": 1})
    rt.commit()
    children = submit_jobs(specs(3, depends_on=parent.name))
    rt.commit()
    assert all(get_job_status(c.name).status == "Pending" for c in children)
    assert rt.redis.llen(f"rq:queue:{queue_name('Normal')}") == 1  # only the parent's message


def test_the_parents_of_a_batch_are_read_in_one_query_whatever_their_number(rt, monkeypatch):
    rt.set_user(ADMIN)
    parents = submit_jobs(specs(40) + [{"job_type": "echo", "organization": ORG_B, "parameters": {"b": 1}}])
    rt.commit()
    statements = []  # the reads (every INSERT of a batch is multi-row: their count follows the rows)
    execute = rt.execute

    def recording(stmt, params=None):
        if isinstance(built(stmt), sa.sql.Select):
            statements.append(stmt)
        return execute(stmt, params)

    monkeypatch.setattr(rt, "execute", recording)

    def children(of: list[str], offset: int) -> list[dict]:
        return [
            {"job_type": "echo", "organization": ORG_A, "parameters": {"c": offset + i}, "depends_on": name}
            for i, name in enumerate(of)
        ]

    submit_jobs(children([parents[0].name], 0))
    one = len(statements)
    statements.clear()
    jobs = submit_jobs(children([p.name for p in parents[:40]], 100))
    assert len(statements) == one and all(j.open_parents == 1 for j in jobs)
    # The same rule as a single submit's: another organization's job is missing, by index.
    with pytest.raises(BulkSubmitError) as caught:
        submit_jobs(children([parents[1].name, parents[40].name], 200))
    assert [(e["index"], e["error"]) for e in caught.value.errors] == [(1, "InvalidInputError")]
    assert "not found in organization" in caught.value.errors[0]["message"]


def test_a_duplicate_inside_the_batch_is_an_error_at_the_later_index(rt):
    before = snapshot(rt)
    batch = specs(4)
    batch[3]["parameters"] = {"n": 1}  # the same job as item 1
    with pytest.raises(BulkSubmitError) as caught:
        submit_jobs(batch)
    assert [(e["index"], e["error"]) for e in caught.value.errors] == [(3, "InvalidInputError")]
    assert "item 1" in caught.value.errors[0]["message"]
    rt.commit()
    assert snapshot(rt) == before


def test_a_type_without_dedup_takes_identical_items(rt):
    jobs = submit_jobs([{"job_type": "noop", "organization": ORG_A}] * 3)
    rt.commit()
    assert len({j.name for j in jobs}) == 3


def test_a_duplicate_of_an_existing_job_names_it_by_index_and_writes_nothing(rt):
    existing = submit_job("echo", ORG_A, {"n": 2})
    rt.commit()
    before = snapshot(rt)
    with pytest.raises(BulkSubmitError) as caught:
        submit_jobs(specs(4))
    assert [(e["index"], e["error"]) for e in caught.value.errors] == [(2, "DuplicateJobError")]
    assert existing.name in caught.value.errors[0]["message"]
    rt.commit()
    assert snapshot(rt) == before


def test_a_finished_holder_gives_its_slot_to_the_batch(rt):
    from dartwing.dartwing_core.background_jobs.lifecycle import transition

    old = submit_job("echo", ORG_A, {"n": 0})
    rt.commit()
    transition(rt, dict(get_job_status(old.name)), JobStatus.CANCELED)
    rt.commit()
    jobs = submit_jobs(specs(2))
    rt.commit()
    assert get_job_status(jobs[0].name).status == "Queued"


def test_the_size_cap_is_a_clear_error(rt):
    with pytest.raises(InvalidInputError, match=f"the limit is {MAX_BULK_JOBS}"):
        submit_jobs([{"job_type": "noop", "organization": ORG_A}] * (MAX_BULK_JOBS + 1))
    with pytest.raises(InvalidInputError, match="must be a list"):
        submit_jobs({"job_type": "noop", "organization": ORG_A})
    assert submit_jobs([]) == []


def test_the_callers_rollback_leaves_no_rows_and_sends_no_message(rt):
    """submit_jobs joins the caller's transaction: it commits nothing, not even the caller's own
    earlier write, and a rollback takes back every row and message."""
    before = snapshot(rt)
    submit_job("noop", ORG_A)
    jobs = submit_jobs(specs(10))
    assert len(jobs) == 10
    rt.rollback()
    assert snapshot(rt) == before
    rt.commit()
    assert snapshot(rt) == before


def test_a_held_job_under_a_cap_is_released_after_commit(rt):
    admin.upsert_job_type(
        rt,
        "capped",
        "dartwing.dartwing_core.background_jobs.handlers.examples.echo",
        max_concurrent_per_org=2,
    )
    rt.commit()
    jobs = submit_jobs(
        [{"job_type": "capped", "organization": ORG_A, "parameters": {"n": i}} for i in range(4)]
    )
    assert all(j.status == "Pending" for j in jobs)
    rt.commit()
    statuses = sorted(get_job_status(j.name).status for j in jobs)
    assert statuses == ["Pending", "Pending", "Queued", "Queued"]


def race(rt, batches: list[list[dict]]) -> list[object]:
    """Submit the batches at once, each from a thread and runtime of its own (committed if it went
    in); per batch, in order, its jobs' names or the exception it met."""
    outcomes: list[object] = [None] * len(batches)
    barrier = threading.Barrier(len(batches))

    def submit(which: int) -> None:
        runtime = StandaloneRuntime(rt.config)
        try:
            barrier.wait()
            jobs = submit_jobs(batches[which], runtime=runtime)
            runtime.commit()
            outcomes[which] = [job.name for job in jobs]
        except Exception as exc:  # noqa: BLE001 - the test reports what each batch met
            outcomes[which] = exc
        finally:
            runtime.rollback()
            runtime.engine.dispose()

    threads = [threading.Thread(target=submit, args=(which,)) for which in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes


def rejected_all_but_one(outcomes: list[object]) -> list[BulkSubmitError]:
    """The errors of the batches left out, once it is checked that exactly one went in and every
    other was rejected by index (no deadlock, no other error)."""
    assert [isinstance(o, list) for o in outcomes].count(True) == 1, outcomes
    errors = [o for o in outcomes if not isinstance(o, list)]
    assert all(isinstance(e, BulkSubmitError) for e in errors), outcomes
    return errors


def job_count(rt) -> int:
    return rt.execute(sa.select(sa.func.count()).select_from(schema.background_job)).scalar()


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_two_racing_batches_with_overlapping_jobs_give_each_job_once(rt):
    """Each batch is all or nothing: the overlap lets exactly one of them in."""
    shifted = [{**spec, "parameters": {"n": spec["parameters"]["n"] + 25}} for spec in specs(50)]
    (error,) = rejected_all_but_one(race(rt, [specs(50), shifted]))
    assert {e["error"] for e in error.errors} == {"DuplicateJobError"}
    assert job_count(rt) == 50
    bj = schema.background_job
    hashes = rt.execute(sa.select(sa.func.count(sa.distinct(bj.c.parameters_hash)))).scalar()
    assert hashes == 50


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_many_racing_batches_of_the_same_jobs_give_them_once_and_never_deadlock(rt):
    """Eight batches of the same 30 jobs at once: one goes in, the seven others are rejected by index
    (their locking reads of the holders share the entries their failed INSERTs locked)."""
    rejected_all_but_one(race(rt, [specs(30) for _ in range(8)]))
    assert job_count(rt) == 30


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_racing_batches_of_the_same_jobs_in_opposite_orders_never_deadlock(rt):
    """A batch that meets the other's uncommitted entry waits on it and on the gap below it: inserted
    in the order given, the other batch then had to insert into that gap, a deadlock (1213, every
    round) the caller saw as a lost savepoint. Inserted in the index's order, one goes in."""
    for round_ in range(5):
        batch = [{**spec, "parameters": {**spec["parameters"], "round": round_}} for spec in specs(60)]
        rejected_all_but_one(race(rt, [batch, batch[::-1]]))
    assert job_count(rt) == 300


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_racing_batches_take_distinct_consecutive_names(rt):
    """Each batch reserves its names in one statement: under concurrency every batch's names are
    consecutive and no name is taken twice."""
    names = race(rt, [[{"job_type": "noop", "organization": ORG_A}] * 40 for _ in range(3)])
    assert all(isinstance(batch, list) for batch in names), names
    every = [name for batch in names for name in batch]
    assert len(set(every)) == 120
    for batch in names:
        numbers = [int(name.rsplit("-", 1)[1]) for name in batch]
        assert numbers == list(range(numbers[0], numbers[0] + 40))


def test_a_worker_runs_every_job_of_a_batch(rt, workers):
    jobs = submit_jobs(specs(20))
    rt.commit()
    workers.start()

    def all_done():
        done = [get_job_status(j.name).status for j in jobs]
        rt.rollback()
        return all(status == "Completed" for status in done)

    wait_for(all_done, timeout=60, message="the batch to complete")


# --- the CLI and both HTTP surfaces -------------------------------------------------------------


def test_http_submit_jobs_answers_the_jobs_or_400_with_errors_by_index(api, rt):
    ok = api.call(
        "POST",
        "submit_jobs",
        json={
            "jobs": [{"job_type": "echo", "organization": ORG_A, "parameters": {"n": i}} for i in range(3)]
        },
    )
    assert ok.status_code == 200, ok.text
    created = ok.json()["message"]["jobs"]
    assert [job["status"] for job in created] == ["Queued"] * 3
    before = table_counts(rt)
    refused = api.call(
        "POST",
        "submit_jobs",
        json={
            "jobs": [
                {"job_type": "echo", "organization": ORG_A, "parameters": {"n": 9}},
                {"job_type": "echo", "organization": ORG_B},
                {"job_type": "echo", "organization": ORG_A, "parameters": {"n": 0}},
            ]
        },
    )
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["exc_type"] == "BulkSubmitError"
    assert [(e["index"], e["error"]) for e in body["errors"]] == [
        (1, "NotPermittedError"),
        (2, "DuplicateJobError"),
    ]
    assert table_counts(rt) == before
    form = api.call(
        "POST", "submit_jobs", data={"jobs": json.dumps([{"job_type": "noop", "organization": ORG_A}])}
    )
    assert form.status_code == 200, form.text
    too_many = api.call(
        "POST",
        "submit_jobs",
        json={"jobs": [{"job_type": "noop", "organization": ORG_A}] * (MAX_BULK_JOBS + 1)},
    )
    assert too_many.status_code == 400 and "the limit is" in too_many.text
    assert api.call("POST", "submit_jobs", json={"jobs": "[1,"}).status_code == 400
    doc = api.client.get("/api/openapi.json").json()
    operation = doc["paths"]["/api/method/dartwing.dartwing_core.api.jobs.submit_jobs"]["post"]
    jobs_schema = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["jobs"]
    assert jobs_schema["maxItems"] == MAX_BULK_JOBS


def test_seed_surface_takes_a_list_all_or_nothing(api, rt):
    url = "/api/system/background-jobs"
    headers = {"Authorization": api.tokens[ALICE].replace("token ", "Bearer ")}
    ok = api.client.post(
        url, headers=headers, json=[{"job_type": "echo", "payload": {"n": i}} for i in range(2)]
    )
    assert ok.status_code == 200, ok.text
    assert [(job["status"], job["organization"]) for job in ok.json()] == [("queued", ORG_A)] * 2
    before = table_counts(rt)
    refused = api.client.post(
        url,
        headers=headers,
        json=[{"job_type": "echo", "payload": {"n": 5}}, {"job_type": "echo", "colour": 1}, 7],
    )
    assert refused.status_code == 400, refused.text
    assert [(e["index"], e["error"]) for e in refused.json()["errors"]] == [
        (1, "InvalidInputError"),
        (2, "InvalidInputError"),
    ]
    assert "colour" in refused.json()["errors"][0]["message"]
    assert table_counts(rt) == before
