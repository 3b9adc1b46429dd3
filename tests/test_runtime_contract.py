"""The Runtime seam's contract as the standalone runtime keeps it (the Frappe runtime's half runs under
the contract host, tests/frappe_contract): matched-row counts, own_transaction, RQ status reading."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import ORG_A
from rq.job import JobStatus as RQStatus

from dartwing.dartwing_core.background_jobs import schema, submit_job
from dartwing.dartwing_core.background_jobs.queueing import waiting_for_delivery
from dartwing.dartwing_core.background_jobs.records import fetch_job


def test_an_update_that_changes_nothing_counts_its_matched_row(rt):
    job = submit_job("echo", ORG_A, {"n": 1})
    rt.commit()
    bj = schema.background_job
    assert rt.execute(sa.update(bj).where(bj.c.name == job.name).values(status=job.status)).rowcount == 1


def test_own_transaction_commits_apart_from_the_callers(rt):
    if rt.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: own_transaction joins the open transaction (next test)")
    parent = submit_job("echo", ORG_A, {"n": 1})
    rt.commit()
    job = submit_job("echo", ORG_A, {"n": 2})  # the caller's open transaction
    bj = schema.background_job
    with rt.own_transaction():
        assert fetch_job(rt, job.name) is None  # the caller's uncommitted row is not visible here
        rt.execute(sa.update(bj).where(bj.c.name == parent.name).values(progress=7))
    rt.rollback()
    assert fetch_job(rt, job.name) is None
    assert fetch_job(rt, parent.name)["progress"] == 7


def test_own_transaction_on_sqlite_inside_an_open_transaction_joins_it(rt):
    if rt.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite lacks a second writer")
    job = submit_job("echo", ORG_A, {"n": 1})
    bj = schema.background_job
    with rt.own_transaction():
        rt.execute(sa.update(bj).where(bj.c.name == job.name).values(progress=7))
    assert fetch_job(rt, job.name)["progress"] == 7
    rt.rollback()
    assert fetch_job(rt, job.name) is None


def test_own_transaction_runs_its_callbacks_at_its_own_commit_only(rt):
    ran = []
    rt.after_commit(lambda: ran.append("caller"))
    with rt.own_transaction():
        rt.after_commit(lambda: ran.append("own"))
    assert ran == ["own"]
    rt.commit()
    assert ran == ["own", "caller"]


def test_own_transaction_rolls_back_when_its_block_raises(rt):
    ran = []
    with pytest.raises(RuntimeError), rt.own_transaction():
        rt.after_commit(lambda: ran.append("own"))
        raise RuntimeError("boom")
    rt.commit()
    assert ran == []


@pytest.mark.parametrize("status", list(RQStatus), ids=lambda s: s.value)
def test_waiting_for_delivery_reads_rq_status_enums_and_strings(status):
    pending = status.value in ("queued", "started", "deferred", "scheduled")
    assert waiting_for_delivery(status) is pending  # str(JobStatus.QUEUED) is "JobStatus.QUEUED"
    assert waiting_for_delivery(status.value) is pending


def test_create_schema_adds_the_columns_an_older_store_lacks(rt):
    from dartwing.dartwing_core.standalone import database

    table = schema.table_name("Organization")
    quoted = rt.engine.dialect.identifier_preparer.quote(table)
    with rt.engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {quoted} DROP COLUMN _liked_by")
    database.create_schema(rt.engine)
    assert "_liked_by" in {c["name"] for c in sa.inspect(rt.engine).get_columns(table)}


def test_create_schema_adds_the_composite_indexes_an_older_store_lacks(rt):
    from dartwing.dartwing_core.standalone import database

    table = schema.table_name("Background Job")
    name = schema.index_name(("job_type", "status", "modified"))
    with rt.engine.begin() as conn:
        if rt.engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        else:
            conn.exec_driver_sql(f"ALTER TABLE `{table}` DROP INDEX `{name}`")
    assert name not in {i["name"] for i in sa.inspect(rt.engine).get_indexes(table)}
    database.create_schema(rt.engine)
    database.create_schema(rt.engine)  # and again: nothing to add
    assert name in {i["name"] for i in sa.inspect(rt.engine).get_indexes(table)}
