"""submit_jobs under the Frappe runtime: names from `tabSeries` in one take, log rows named from the
DocType's sequence (submit_job's two rows in one read of it), one pipelined enqueue of Frappe-shaped RQ jobs after the commit, run by a stock
worker; the caller's rollback leaves nothing; the whitelisted endpoint answers 400 with errors by
index."""

from __future__ import annotations

import json

import frappe
import pytest

from dartwing.dartwing_core.background_jobs import BulkSubmitError, submit_job, submit_jobs

from .conftest import ALICE, ORG_A, ORG_B, rq_messages
from .test_api import call


def _count(table: str) -> int:
    return frappe.db.sql(f"select count(*) from `tab{table}`")[0][0]


def _specs(n: int, org: str = ORG_A) -> list[dict]:
    return [{"job_type": "echo", "organization": org, "parameters": {"n": i}} for i in range(n)]


def test_a_batch_is_named_in_one_take_sent_after_commit_and_run_by_a_worker(site, redis_server):
    frappe.set_user(ALICE)
    jobs = submit_jobs(_specs(5))
    year = frappe.utils.now_datetime().year
    assert [j.name for j in jobs] == [f"JOB-{year}-{i:05d}" for i in range(1, 6)]
    assert rq_messages(redis_server) == []  # nothing leaves before the commit
    log_names = [r[0] for r in frappe.db.sql("select name from `tabJob Execution Log` order by name")]
    assert len(log_names) == 10 and len(set(log_names)) == 10
    frappe.db.commit()
    assert rq_messages(redis_server) == [f"{site.site}::{j.name}-0" for j in jobs]
    assert submit_job("echo", ORG_A, {"after": 1}).name == f"JOB-{year}-00006"  # the series goes on
    frappe.db.commit()
    site.run_burst_worker()
    frappe.db.rollback()
    statuses = frappe.db.sql(
        "select status from `tabBackground Job` where name in %(names)s", {"names": [j.name for j in jobs]}
    )
    assert [row[0] for row in statuses] == ["Completed"] * 5


def test_a_single_submit_names_its_two_log_rows_in_one_read_of_the_sequence(site, redis_server, monkeypatch):
    frappe.set_user(ALICE)
    statements = []
    sql = frappe.db.sql

    def recording(query, *args, **kwargs):
        statements.append(str(query))
        return sql(query, *args, **kwargs)

    monkeypatch.setattr(frappe.db, "sql", recording)
    job = submit_job("echo", ORG_A, {"n": 1})
    monkeypatch.undo()
    assert sum("nextval" in statement for statement in statements) == 1
    rows = frappe.db.sql(
        "select name, from_status, to_status from `tabJob Execution Log` where background_job = %s order by name",
        (job.name,),
    )
    assert [(row[1], row[2]) for row in rows] == [(None, "Pending"), ("Pending", "Queued")]
    assert rows[1][0] == rows[0][0] + 1
    assert submit_job("echo", ORG_A, {"n": 2}) and _count("Job Execution Log") == 4


def test_the_callers_rollback_leaves_no_rows_and_no_message(site, redis_server):
    submit_jobs(_specs(3))
    frappe.db.rollback()
    assert (_count("Background Job"), _count("Job Execution Log")) == (0, 0)
    assert rq_messages(redis_server) == []


def test_a_member_cannot_submit_for_another_organization_in_a_batch(site, redis_server):
    frappe.set_user(ALICE)
    with pytest.raises(BulkSubmitError) as caught:
        submit_jobs(_specs(2) + _specs(1, ORG_B))
    assert [(e["index"], e["error"]) for e in caught.value.errors] == [(2, "NotPermittedError")]
    frappe.db.commit()
    assert _count("Background Job") == 0 and rq_messages(redis_server) == []


def test_the_endpoint_answers_the_jobs_or_400_with_errors_by_index(site, redis_server):
    status, body = call("POST", "submit_jobs", ALICE, jobs=json.dumps(_specs(2)))
    assert status == 200 and [j["status"] for j in body["message"]["jobs"]] == ["Queued", "Queued"]
    assert len(rq_messages(redis_server)) == 2  # committed by the request, sent after it
    status, body = call("POST", "submit_jobs", ALICE, jobs=json.dumps(_specs(3) + [{"job_type": "nope"}]))
    assert status == 400 and body["exc_type"] == "BulkSubmitError"
    assert [(e["index"], e["error"]) for e in body["errors"]] == [
        (0, "DuplicateJobError"),
        (1, "DuplicateJobError"),
        (3, "InvalidInputError"),
    ]
    assert _count("Background Job") == 2
