"""The metrics snapshot in a Frappe v15 site: the 5-minute scheduler event takes it (hooks.py), the
overview reads it and the transitions logged since, per member, and Desk cannot write it."""

from __future__ import annotations

import frappe
import pytest

from dartwing.dartwing_core.background_jobs import submit_job
from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics
from dartwing.dartwing_core.background_jobs.scheduler import every_five_minutes

from .conftest import ALICE, BOB, ORG_A, ORG_B


def test_the_sweep_takes_the_snapshot_the_overview_reads(site):
    for organization in (ORG_A, ORG_A, ORG_B):
        submit_job("echo", organization, {"o": organization, "n": frappe.generate_hash(length=6)})
    frappe.db.commit()
    assert get_job_metrics()["snapshot_at"] is None
    result = every_five_minutes()
    assert result["snapshot"]["organizations"] == 2 and result["metrics"]["job_count_by_status"] == {"Queued": 3}
    frappe.db.rollback()  # the sweep committed its snapshot itself
    rows = frappe.get_all("Job Metrics Snapshot", fields=["organization", "job_counts"], limit_page_length=0)
    assert sorted(row.organization or "" for row in rows) == ["", ORG_A, ORG_B]
    submit_job("echo", ORG_B, {"after": 1})
    frappe.db.commit()
    figures = get_job_metrics()
    assert figures["snapshot_at"] is not None and figures["live"] is True
    assert figures["job_count_by_status"] == {"Queued": 4}
    frappe.set_user(ALICE)
    assert get_job_metrics()["job_count_by_status"] == {"Queued": 2}
    frappe.set_user(BOB)
    assert get_job_metrics()["job_count_by_status"] == {"Queued": 2}
    assert get_job_metrics()["queue_depth_by_priority"]["Normal"] == 2


def test_desk_cannot_write_a_snapshot(site):
    with pytest.raises(frappe.PermissionError):
        frappe.get_doc({"doctype": "Job Metrics Snapshot", "taken_at": frappe.utils.now_datetime()}).insert(
            ignore_permissions=True
        )
