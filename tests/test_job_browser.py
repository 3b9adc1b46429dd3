"""The job browser's filters and keyset pages, job detail, activity charts and bulk actions over a
filter, on both stores; and, on MariaDB, that every page query is an index range in page order."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B
from job_rows import insert_in_chunks, mixed_jobs, utcnow

from dartwing.dartwing_core.background_jobs import (
    InvalidInputError,
    JobNotFoundError,
    NotPermittedError,
    get_job_status,
    submit_job,
)
from dartwing.dartwing_core.background_jobs import job_browser as browser
from dartwing.dartwing_core.background_jobs.activity import job_activity
from dartwing.dartwing_core.background_jobs.bulk_operations import act_on_jobs, act_on_matching
from dartwing.dartwing_core.background_jobs.job_browser import browse_jobs, job_detail
from dartwing.dartwing_core.background_jobs.sql import to_mariadb

ROWS = 600


@pytest.fixture
def jobs(rt):
    rows = list(mixed_jobs(ROWS, [ORG_A, ORG_B], seed=7, spread=timedelta(hours=30)))
    expected = [dict(row) for row in rows]
    insert_in_chunks(rt.engine, rows)
    return expected


def every_page(filters, user=ADMIN, limit=37):
    """All pages of a filter, as job ids, and how many pages it took."""
    ids, cursor, pages = [], None, 0
    while True:
        page = browse_jobs(filters, cursor, limit)
        ids += [job["job_id"] for job in page["jobs"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, pages
        assert pages < 500


def truth(jobs, predicate):
    chosen = [job for job in jobs if predicate(job)]
    chosen.sort(key=lambda job: (job["modified"], job["name"]), reverse=True)
    return [job["name"] for job in chosen]


def test_pages_are_exact_for_every_filter_past_many_pages(rt, jobs):
    now = utcnow()
    cases = [
        ({}, lambda j: True),
        ({"status": "Dead Letter"}, lambda j: j["status"] == "Dead Letter"),
        ({"status": ["Failed", "Timed Out"]}, lambda j: j["status"] in ("Failed", "Timed Out")),
        ({"organization": ORG_B}, lambda j: j["organization"] == ORG_B),
        ({"organization": ORG_A, "status": "Completed", "job_type": "echo"},
         lambda j: (j["organization"], j["status"], j["job_type"]) == (ORG_A, "Completed", "echo")),
        ({"error_type": "Timeout"}, lambda j: j.get("error_type") == "Timeout"),
        ({"since": (now - timedelta(hours=10)).isoformat() + "+00:00", "until": (now - timedelta(hours=2)).isoformat()},
         lambda j: now - timedelta(hours=10) <= j["modified"] < now - timedelta(hours=2)),
        ({"q": "cust-0042"}, lambda j: "cust-0042" in j["parameters"]),
        ({"q": jobs[5]["name"]}, lambda j: j["name"] == jobs[5]["name"]),
    ]
    for filters, predicate in cases:
        ids, _ = every_page(filters)
        assert ids == truth(jobs, predicate), filters
    assert len(every_page({})[0]) == ROWS


def test_a_text_search_that_stops_early_says_where_it_stopped(rt, jobs, monkeypatch):
    monkeypatch.setattr(browser, "TEXT_SCAN_ROWS", 50)  # a page examines at most 50 rows
    ids, pages = every_page({"q": "cust-00"}, limit=20)
    assert ids == truth(jobs, lambda j: "cust-00" in j["parameters"])
    assert pages >= ROWS // 50


def test_a_member_sees_only_their_organizations(rt, jobs):
    rt.set_user(ALICE)
    ids, _ = every_page({})
    assert ids == truth(jobs, lambda j: j["organization"] == ORG_A)
    assert every_page({"organization": ORG_B})[0] == []
    other = next(job["name"] for job in jobs if job["organization"] == ORG_B)
    assert every_page({"q": other})[0] == []
    with pytest.raises(JobNotFoundError):
        job_detail(other)


@pytest.mark.parametrize(
    "filters, cursor, limit",
    [
        ({"status": "Done"}, None, 10),
        ({"colour": "red"}, None, 10),
        ({"since": "yesterday"}, None, 10),
        ({"error_type": "Oops"}, None, 10),
        ({"organization": ["a"]}, None, 10),
        ({"q": "x" * 201}, None, 10),
        ({}, "garbage", 10),
        ({}, "2026-01-01T00:00:00|DROP TABLE", 10),
        ({}, None, 101),
        ({}, None, "ten"),
        ("status=Queued", None, 10),
    ],
)
def test_bad_input_is_refused(rt, filters, cursor, limit):
    with pytest.raises(InvalidInputError):
        browse_jobs(filters, cursor, limit)


def test_job_detail_has_history_wait_parent_and_children(rt):
    parent = submit_job("echo", ORG_A, {"secret": "p"})
    child = submit_job("echo", ORG_A, {"n": 1}, depends_on=parent.name)
    rt.commit()
    detail = job_detail(parent.name)
    assert detail["parameters"] == {"secret": "p"}
    assert [c["job_id"] for c in detail["children"]] == [child.name]
    assert [h["to_status"] for h in detail["history"]] == ["Pending", "Queued"]
    assert detail["wait"]["waiting"] is True
    child_detail = job_detail(child.name)
    assert [p["job_id"] for p in child_detail["parent"]] == [parent.name]
    assert child_detail["wait"]["reasons"][0]["reason"] == "parent"
    rt.set_user(BOB)
    with pytest.raises(JobNotFoundError):
        job_detail(parent.name)


def test_activity_counts_the_window_by_bucket_and_scope(rt, jobs):
    hour = job_activity("hour")
    assert len(hour["buckets"]) == 60 and hour["bucket_seconds"] == 60
    day = job_activity("day")
    assert len(day["buckets"]) == 96
    start = day["buckets"][0]["start"].replace(tzinfo=None)
    recent = [j for j in jobs if j["modified"] >= start]
    assert sum(b["completed"] for b in day["buckets"]) == sum(j["status"] == "Completed" for j in recent)
    failures = ("Failed", "Timed Out", "Dead Letter")
    assert sum(b["failed"] for b in day["buckets"]) == sum(j["status"] in failures for j in recent)
    assert any(b["latency_seconds"] is not None for b in day["buckets"])
    rt.set_user(ALICE)
    mine = job_activity("day")
    assert sum(b["completed"] for b in mine["buckets"]) == sum(
        j["status"] == "Completed" and j["organization"] == ORG_A for j in recent
    )
    with pytest.raises(NotPermittedError):
        job_activity("day", ORG_B)
    with pytest.raises(InvalidInputError):
        job_activity("week")


def test_cancel_and_delete_all_matching_in_batches(rt, jobs):
    queued_a = truth(jobs, lambda j: j["organization"] == ORG_A and j["status"] in ("Queued", "Pending"))
    rt.set_user(ALICE)  # a member may cancel their organization's jobs, never delete them
    first = act_on_matching("cancel", {"status": ["Queued", "Pending"]}, batch_size=5)
    assert (first["canceled"], first["remaining"]) == (5, len(queued_a) - 5)
    while act_on_matching("cancel", {"status": ["Queued", "Pending"]}, batch_size=500)["remaining"]:
        pass
    rt.commit()
    assert {get_job_status(name)["status"] for name in queued_a} == {"Canceled"}
    with pytest.raises(NotPermittedError):
        act_on_matching("delete", {})
    rt.set_user(ADMIN)
    assert act_on_matching("cancel", {"organization": ORG_B, "status": "Queued"}, batch_size=500)["canceled"] > 0
    with pytest.raises(InvalidInputError):
        act_on_matching("delete", {"status": "Queued"})  # only finished jobs can be deleted
    with pytest.raises(InvalidInputError):
        act_on_matching("explode", {})
    dead_b = truth(jobs, lambda j: j["organization"] == ORG_B and j["status"] == "Dead Letter")
    result = act_on_matching("delete", {"organization": ORG_B, "status": "Dead Letter"}, batch_size=500)
    rt.commit()
    assert (result["deleted"], result["remaining"]) == (len(dead_b), 0)
    with pytest.raises(JobNotFoundError):
        get_job_status(dead_b[0])


def test_actions_on_a_selection_report_each_failure(rt, jobs):
    dead_a = truth(jobs, lambda j: j["organization"] == ORG_A and j["status"] == "Dead Letter")[:3]
    dead_b = truth(jobs, lambda j: j["organization"] == ORG_B and j["status"] == "Dead Letter")[:1]
    completed = truth(jobs, lambda j: j["status"] == "Completed")[:1]
    result = act_on_jobs("retry", dead_a + completed)
    assert result["retried"] == 3 and [f["job_id"] for f in result["failed"]] == completed
    rt.commit()
    rt.set_user(ALICE)
    canceled = act_on_jobs("cancel", dead_b)  # another tenant's job fails as not found
    assert canceled["canceled"] == 0 and "not found" in canceled["failed"][0]["error"].lower()
    with pytest.raises(NotPermittedError):
        act_on_jobs("retry", dead_a)
    for bad in ([], "JOB-2025-0000001", ["x"] * 501):
        with pytest.raises(InvalidInputError):
            act_on_jobs("cancel", bad)


# --- MariaDB: every page is an index range read in page order ----------------------------------------

SCALE_ROWS = 30_000
# With two organizations either index is a good plan: (status, modified) reads about twice the rows.
BY_STATUS = {"organization_status_modified_index", "status_modified_index"}
BY_TYPE = {"job_type_status_modified_index"}
BRANCH_ROWS = 52  # a page (50), the one past it, and the range's end


def _plans(rt, statements):
    """ANALYZE of each recorded statement that reads a range of jobs in page order (not the page's
    rows by primary key): its plan rows on `tabBackground Job`, one per branch."""
    plans = []
    for statement in statements:
        text, values = to_mariadb(statement)
        if "ORDER BY" not in text:
            continue
        with rt.engine.connect() as conn:
            rows = conn.exec_driver_sql(f"ANALYZE {text}", values).mappings().all()
        for row in rows:  # a text search reads its scan's rows by primary key, one each
            if row["table"] == "scanned_job":
                assert (row["key"], row["type"], float(row["r_rows"])) == ("PRIMARY", "eq_ref", 1.0), row
        plans.append([row for row in rows if row["table"] == "tabBackground Job"])
    return plans


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_every_page_query_is_an_ordered_index_range(rt, monkeypatch):
    """ANALYZE (EXPLAIN plus the rows really read) of each statement a page runs, at 30,000 rows after
    ANALYZE TABLE: every branch a status- or type-leading or `modified` index read in page order (no
    filesort, no full scan), and rows read that follow the page size (51 a branch here), not the
    table's; a text search's follow its scan bound."""
    orgs = [ORG_A, ORG_B]
    insert_in_chunks(rt.engine, mixed_jobs(SCALE_ROWS, orgs, seed=3, spread=timedelta(days=20)))
    with rt.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE TABLE `tabBackground Job`").fetchall()
    statements = []
    execute = rt.execute

    def recording(statement, params=None):
        if isinstance(statement, sa.Select | sa.CompoundSelect):
            statements.append(statement)
        return execute(statement, params)

    monkeypatch.setattr(rt, "execute", recording)
    last = utcnow().isoformat()
    scan = browser.TEXT_SCAN_ROWS + 1  # a text search's branch reads its scan, then its matches in it
    cases = [
        ({}, ADMIN, {"modified"}, BRANCH_ROWS),
        ({"status": "Dead Letter"}, ADMIN, {"status_modified_index"}, BRANCH_ROWS),
        ({"status": "Completed", "job_type": "echo"}, ADMIN, BY_TYPE, BRANCH_ROWS),
        ({"job_type": "echo"}, ADMIN, BY_TYPE, BRANCH_ROWS),
        ({"organization": ORG_A}, ADMIN, BY_STATUS, BRANCH_ROWS),
        ({"organization": ORG_A, "status": "Failed"}, ADMIN, BY_STATUS, BRANCH_ROWS),
        ({}, ALICE, BY_STATUS, BRANCH_ROWS),
        ({"until": last}, ALICE, BY_STATUS, BRANCH_ROWS),
        # in page order too, but the rows read follow the type's share of the range (no index has both)
        ({"job_type": "echo", "status": "Completed"}, ALICE, BY_STATUS | BY_TYPE, None),
        ({"q": "cust-0042"}, ADMIN, {"modified"}, scan),
        ({"q": "cust-0042", "status": "Completed"}, ALICE, BY_STATUS, scan),
    ]
    for filters, user, keys, branch_rows in cases:
        rt.set_user(user)
        statements.clear()
        page = browse_jobs(filters, None, 50)
        browse_jobs(filters, page["next_cursor"], 50)  # with the keyset condition too
        plans = _plans(rt, statements)
        assert plans, filters
        for plan in plans:
            assert plan, filters
            for row in plan:
                assert row["key"] in keys, (filters, user, row)
                assert row["type"] in ("range", "ref", "index"), (filters, row)
                assert "filesort" not in (row["Extra"] or ""), (filters, row)
                assert branch_rows is None or float(row["r_rows"]) <= branch_rows, (filters, row)
