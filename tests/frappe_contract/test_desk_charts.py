"""The Job Activity chart source (Dashboard Chart fixtures) under Frappe v15: the engine's activity
read compiled for MariaDB through frappe.db, scoped to the viewer like every read."""

from __future__ import annotations

import json

import frappe

from dartwing.dartwing_core.api.desk import job_activity_chart
from dartwing.dartwing_core.background_jobs import submit_job

from .conftest import ALICE, OPERATOR, ORG_A, ORG_B


def _queued(chart: dict) -> int:
    return sum(next(d["values"] for d in chart["datasets"] if d["name"] == "Queued"))


def test_the_chart_counts_transitions_per_bucket_for_the_viewers_organizations(site):
    for organization, count in ((ORG_A, 3), (ORG_B, 2)):
        for n in range(count):
            submit_job("echo", organization, {"n": n})
    frappe.db.commit()
    frappe.set_user(OPERATOR)
    chart = job_activity_chart(filters=json.dumps({"window": "hour", "series": "status"}))
    assert len(chart["labels"]) == 60 and _queued(chart) == 5
    assert [d["name"] for d in job_activity_chart(filters='{"series": "failures"}')["datasets"]] == [
        "Failed", "Timed Out", "Dead Letter"
    ]
    frappe.set_user(ALICE)
    assert _queued(job_activity_chart(filters={"window": "hour"})) == 3
