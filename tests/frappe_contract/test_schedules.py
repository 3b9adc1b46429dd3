"""Job Schedules in the Frappe binding, under the v15 contract host: the endpoints (tenancy, bad cron
and time zone as 400), the permission hooks and controller on Desk paths, and the tick in the minute
sweep firing an occurrence once."""

from __future__ import annotations

import json
from datetime import timedelta

import frappe
import pytest
from frappe.app import handle

from dartwing.dartwing_core.background_jobs.runtime import get_runtime
from dartwing.dartwing_core.background_jobs.scheduler import minute_sweep_now

from .conftest import ALICE, BOB, OPERATOR, ORG_A, ORG_B

API = "dartwing.dartwing_core.api.jobs."


@pytest.fixture
def schedules_site(site):
    for doctype in ("Job Schedule", "Job Schedule Run"):
        frappe.db.sql(f"delete from `tab{doctype}`")
    frappe.db.commit()
    return site


def call(http_method: str, name: str, user: str, **form):
    return handle(http_method, API + name, form, user=user)


def _messages(body) -> str:
    return " ".join(json.loads(m)["message"] for m in json.loads(body["_server_messages"]))


def _count(doctype: str) -> int:
    return frappe.db.sql(f"select count(*) from `tab{doctype}`")[0][0]


def test_schedule_endpoints_keep_to_the_callers_organizations(schedules_site):
    status, body = call("POST", "create_schedule", ALICE, job_type="noop", organization=ORG_A,
                        cron_expression="30 2 * * *", timezone="America/New_York", parameters='{"n": 1}')
    assert status == 200, body
    name = body["message"]["name"]
    assert call("GET", "get_schedule", ALICE, schedule=name)[1]["message"]["timezone"] == "America/New_York"
    assert call("GET", "get_schedule", BOB, schedule=name)[0] == 404
    assert call("POST", "disable_schedule", BOB, schedule=name)[0] == 404
    assert call("POST", "create_schedule", BOB, job_type="noop", organization=ORG_A, cron_expression="@daily")[0] == 403
    assert call("GET", "list_schedules", BOB)[1]["message"] == []
    assert [s["name"] for s in call("GET", "list_schedules", OPERATOR)[1]["message"]] == [name]
    assert call("POST", "disable_schedule", OPERATOR, schedule=name)[1]["message"]["enabled"] is False
    assert call("POST", "delete_schedule", ALICE, schedule=name)[0] == 200
    assert _count("Job Schedule") == 0


@pytest.mark.parametrize(
    ("form", "text"),
    [
        ({"cron_expression": "0 24 * * *"}, "is not valid"),
        ({"cron_expression": "@daily", "timezone": "Mars/Base"}, "Unknown timezone"),
    ],
)
def test_bad_cron_or_time_zone_is_a_400_with_a_message(schedules_site, form, text):
    status, body = call("POST", "create_schedule", ALICE, job_type="noop", organization=ORG_A, **form)
    assert status == 400 and text in _messages(body)
    assert _count("Job Schedule") == 0


def test_desk_lists_and_documents_are_scoped_and_saves_are_checked(schedules_site):
    frappe.set_user(ALICE)
    mine = frappe.get_doc({"doctype": "Job Schedule", "job_type": "noop", "organization": ORG_A,
                           "cron_expression": "*/15 * * * *", "timezone": "Europe/Berlin"}).insert()
    assert mine.name.startswith("SCHED-") and mine.next_run_at
    with pytest.raises(Exception, match="Unknown timezone"):
        frappe.get_doc({"doctype": "Job Schedule", "job_type": "noop", "organization": ORG_A,
                        "cron_expression": "@daily", "timezone": "Nowhere"}).insert()
    frappe.db.commit()
    frappe.set_user(BOB)
    assert frappe.get_list("Job Schedule", pluck="name") == []
    assert not frappe.has_permission("Job Schedule", "read", doc=frappe.get_doc("Job Schedule", mine.name))
    with pytest.raises(Exception, match="not an active member"):
        frappe.get_doc({"doctype": "Job Schedule", "job_type": "noop", "organization": ORG_A,
                        "cron_expression": "@daily"}).insert()
    frappe.set_user(ALICE)
    assert frappe.get_list("Job Schedule", pluck="name") == [mine.name]
    assert ORG_B not in {row.organization for row in frappe.get_list("Job Schedule", fields=["organization"])}


def test_the_minute_sweep_fires_an_occurrence_once_as_the_owner(schedules_site):
    frappe.set_user(ALICE)
    status, body = call("POST", "create_schedule", ALICE, job_type="noop", organization=ORG_A,
                        cron_expression="* * * * *")
    name = body["message"]["name"]
    rt = get_runtime()
    frappe.db.sql("update `tabJob Schedule` set next_run_at=%s where name=%s", (rt.now() - timedelta(seconds=5), name))
    frappe.db.commit()
    assert minute_sweep_now()["schedules"] == 1
    assert minute_sweep_now()["schedules"] == 0
    jobs = frappe.db.sql("select owner, organization from `tabBackground Job`", as_dict=True)
    assert [(job.owner, job.organization) for job in jobs] == [(ALICE, ORG_A)]
    runs = frappe.get_all("Job Schedule Run", fields=["name", "outcome", "background_job"])
    assert len(runs) == 1 and runs[0].name.startswith(f"{name}@") and runs[0].outcome == "Submitted"
