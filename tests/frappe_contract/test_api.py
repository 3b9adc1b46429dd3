"""The whitelisted endpoints, the permission hooks, the Dead Letter Queue report and the controllers,
run the way Frappe v15 serves and calls them (frappe_host/frappe/app.py: one request each, committed
for POST, rolled back for GET, errors answered with their http_status_code)."""

from __future__ import annotations

import json

import frappe
import pytest
from frappe.app import handle

from dartwing.dartwing_core.api.jobs import SUBMITS_PER_MINUTE
from dartwing.dartwing_core.background_jobs import submit_job
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.report.dead_letter_queue.dead_letter_queue import execute as dlq_report

from .conftest import ALICE, BOB, OPERATOR, ORG_A, ORG_B

API = "dartwing.dartwing_core.api.jobs."


def call(http_method: str, name: str, user: str, **form):
    return handle(http_method, API + name, form, user=user)


def _status(name: str) -> str | None:
    rows = frappe.db.sql("select status from `tabBackground Job` where name=%s", (name,))
    return rows[0][0] if rows else None


def test_submit_then_status_over_http(site):
    status, body = call("POST", "submit_job", ALICE, job_type="echo", organization=ORG_A, parameters='{"n": 1}')
    assert status == 200 and body["message"]["status"] == "Queued"
    job_id = body["message"]["job_id"]
    status, body = call("GET", "get_job_status", ALICE, job_id=job_id)
    assert status == 200 and body["message"]["job_id"] == job_id


def test_submit_is_post_only_and_guests_are_refused(site):
    assert call("GET", "submit_job", ALICE, job_type="echo", organization=ORG_A)[0] == 403
    assert call("POST", "submit_job", "Guest", job_type="echo", organization=ORG_A)[0] == 403


@pytest.mark.parametrize(
    ("form", "code", "text"),
    [
        ({"job_type": "nope", "organization": ORG_A}, 400, "Unknown job type"),
        ({"job_type": "echo", "organization": ORG_A, "parameters": "[1]"}, 400, "JSON object"),
        ({"job_type": "echo", "organization": ORG_B}, 403, "not an active member"),
        ({"job_type": "echo", "organization": ORG_A, "priority": "Urgent"}, 400, "priority"),
    ],
)
def test_bad_input_answers_4xx_with_a_readable_message_and_writes_nothing(site, form, code, text):
    status, body = call("POST", "submit_job", ALICE, **form)
    assert status == code
    messages = [json.loads(m)["message"] for m in json.loads(body["_server_messages"])]
    assert any(text in m for m in messages), messages
    assert frappe.db.sql("select count(*) from `tabBackground Job`")[0][0] == 0


def test_another_tenants_job_is_not_found(site):
    frappe.set_user(BOB)
    job = submit_job("echo", ORG_B, {"n": 1})
    frappe.db.commit()
    for name in ("get_job_status", "get_job_history"):
        assert call("GET", name, ALICE, job_id=job.name)[0] == 404
    assert call("POST", "cancel_job", ALICE, job_id=job.name)[0] == 404
    assert _status(job.name) == "Queued"


def test_cancel_over_http_commits_once_and_a_failed_action_rolls_back(site):
    _, body = call("POST", "submit_job", ALICE, job_type="echo", organization=ORG_A)
    job_id = body["message"]["job_id"]
    assert call("POST", "cancel_job", ALICE, job_id=job_id)[0] == 200
    frappe.db.rollback()  # a later rollback cannot undo what the request committed
    assert _status(job_id) == "Canceled"
    assert call("POST", "cancel_job", ALICE, job_id=job_id)[0] == 409
    assert call("POST", "retry_job", ALICE, job_id=job_id)[0] == 403  # operators only
    assert call("POST", "retry_job", OPERATOR, job_id=job_id)[0] == 200
    assert _status(job_id) == "Queued"


def test_submit_rate_limit_is_per_user(site):
    for n in range(SUBMITS_PER_MINUTE):
        status, _ = call("POST", "submit_job", ALICE, job_type="noop", organization=ORG_A, parameters=json.dumps({"n": n}))
        assert status == 200
    status, _ = call("POST", "submit_job", ALICE, job_type="noop", organization=ORG_A, parameters='{"n": -1}')
    assert status == 429
    frappe.set_user(BOB)
    assert call("POST", "submit_job", BOB, job_type="noop", organization=ORG_B)[0] == 200


def test_check_realtime_room_admits_members_only(site):
    assert call("GET", "check_realtime_room", ALICE, room=f"org:{ORG_A}")[1]["message"]["allowed"] is True
    assert call("GET", "check_realtime_room", ALICE, room=f"org:{ORG_B}")[1]["message"]["allowed"] is False


# --- permission hooks through frappe.get_list (Desk lists, /api/resource) ---------------------------


def test_lists_are_scoped_to_the_users_organizations(site):
    mine = submit_job("echo", ORG_A, {"n": 1})
    frappe.set_user(BOB)
    theirs = submit_job("echo", ORG_B, {"n": 1})
    frappe.db.commit()
    frappe.set_user(ALICE)
    assert frappe.get_list("Background Job", pluck="name") == [mine.name]
    assert {row.background_job for row in frappe.get_list("Job Execution Log", fields=["background_job"])} == {
        mine.name
    }
    assert frappe.get_list("Organization", pluck="name") == [ORG_A]
    assert not frappe.has_permission("Background Job", "read", doc=frappe.get_doc("Background Job", theirs.name))
    assert not frappe.has_permission("Organization", "read", doc=frappe.get_doc("Organization", ORG_B))
    frappe.set_user(OPERATOR)
    assert set(frappe.get_list("Organization", pluck="name")) == {ORG_A, ORG_B}


def test_a_disabled_job_type_is_hidden_from_users(site):
    frappe.db.sql("update `tabJob Type` set is_enabled=0 where name='sleep'")
    frappe.set_user(ALICE)
    assert "sleep" not in frappe.get_list("Job Type", pluck="name", limit_page_length=0)
    frappe.set_user(OPERATOR)
    assert "sleep" in frappe.get_list("Job Type", pluck="name", limit_page_length=0)


# --- the Dead Letter Queue report ----------------------------------------------------------------


def test_dead_letter_queue_report_lists_only_visible_dead_jobs(site):
    mine = submit_job("always_fails", ORG_A, {}, max_retries=0)
    frappe.set_user(BOB)
    theirs = submit_job("always_fails", ORG_B, {}, max_retries=0)
    frappe.db.commit()
    frappe.set_user("Administrator")
    assert run_job(mine.name, 0) == run_job(theirs.name, 0) == "Dead Letter"
    frappe.set_user(ALICE)
    columns, rows = dlq_report({})
    assert [row.name for row in rows] == [mine.name]
    assert {c["fieldname"] for c in columns} >= {"name", "error_type", "error_message"}
    frappe.set_user(OPERATOR)
    assert {row.name for row in dlq_report({"organization": ORG_B})[1]} == {theirs.name}


# --- controllers, as Desk would call them ----------------------------------------------------------


def test_background_jobs_cannot_be_inserted_from_desk(site):
    with pytest.raises(frappe.PermissionError):
        frappe.get_doc({"doctype": "Background Job", "job_type": "echo", "organization": ORG_A}).insert(
            ignore_permissions=True
        )


def test_desk_edits_follow_the_transition_table(site):
    job = submit_job("echo", ORG_A, {"n": 1})
    frappe.db.commit()
    doc = frappe.get_doc("Background Job", job.name)
    doc.status = "Completed"  # Queued → Completed skips Running
    with pytest.raises(frappe.ValidationError, match="cannot go from"):
        doc.save(ignore_permissions=True)
    doc = frappe.get_doc("Background Job", job.name)
    doc.parameters = '{"n": 2}'
    with pytest.raises(frappe.ValidationError, match="managed by the job engine"):
        doc.save(ignore_permissions=True)


def test_only_finished_jobs_can_be_deleted_and_their_log_goes_with_them(site):
    job = submit_job("echo", ORG_A, {"n": 1})
    frappe.db.commit()
    with pytest.raises(frappe.ValidationError, match="Only finished jobs"):
        frappe.delete_doc("Background Job", job.name, ignore_permissions=True)
    assert call("POST", "cancel_job", ALICE, job_id=job.name)[0] == 200
    assert call("POST", "delete_job", OPERATOR, job_id=job.name)[0] == 200
    assert _status(job.name) is None
    assert frappe.db.sql("select count(*) from `tabJob Execution Log` where background_job=%s", (job.name,))[0][0] == 0


def test_the_engines_delete_works_where_frappes_would_refuse_a_linked_parent(site):
    parent = submit_job("always_fails", ORG_A, {}, max_retries=0)
    child = submit_job("echo", ORG_A, {"n": 1}, depends_on=parent.name)
    frappe.db.commit()
    assert run_job(parent.name, 0) == "Dead Letter"
    frappe.db.commit()
    assert _status(child.name) == "Canceled"
    with pytest.raises(frappe.LinkExistsError):  # what the report's old frappe.client.delete ran into
        frappe.delete_doc("Background Job", parent.name, ignore_permissions=True)
    frappe.db.rollback()
    assert call("POST", "delete_job", OPERATOR, job_id=parent.name)[0] == 200
    assert _status(parent.name) is None


def test_a_job_type_with_a_handler_that_does_not_import_is_refused(site):
    with pytest.raises(frappe.ValidationError, match="cannot be used"):
        frappe.get_doc(
            {"doctype": "Job Type", "type_name": "broken", "handler_method": "no.such.module.fn"}
        ).insert(ignore_permissions=True)


def test_one_membership_per_person_and_organization(site):
    person = frappe.db.sql("select name from `tabPerson` where frappe_user=%s", (ALICE,))[0][0]
    with pytest.raises(frappe.ValidationError, match="already a member"):
        frappe.get_doc(
            {"doctype": "Org Member", "person": person, "organization": ORG_A, "status": "Active"}
        ).insert(ignore_permissions=True)
