"""Small whitelisted helpers for Desk widgets (number cards)."""

import frappe

from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics


@frappe.whitelist()
def failure_rate_card(filters=None):
    """Number Card "Failure Rate (24 h)": Dead Letter / (Completed + Dead Letter) over the last day."""
    return {"value": get_job_metrics()["failure_rate"] * 100, "fieldtype": "Percent"}
