"""Small whitelisted helpers for Desk widgets (number cards, dashboard charts)."""

import json

import frappe

from dartwing.dartwing_core.background_jobs.activity import FAILURES, job_activity
from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics
from dartwing.dartwing_core.background_jobs.status import JobStatus


@frappe.whitelist()
def failure_rate_card(filters=None):
    """Number Card "Failure Rate (24 h)": Dead Letter / (Completed + Dead Letter) over the last day."""
    return {"value": get_job_metrics()["failure_rate"] * 100, "fieldtype": "Percent"}


# The Job Activity chart source's series: which statuses each draws, in the order they stack.
CHART_SERIES = {
    "status": [s.value for s in JobStatus],
    "failures": list(FAILURES),
}


@frappe.whitelist()
def job_activity_chart(
    chart_name=None, chart=None, no_cache=None, filters=None, from_date=None, to_date=None,
    timespan=None, time_interval=None, heatmap_year=None,
):
    """Dashboard Chart Source "Job Activity" (dashboard_chart_source/job_activity): transitions into
    each status per bucket of the last hour or day (filters: window, series, organization), from the
    engine's bounded read of the Job Execution Log, for the viewer's organizations."""
    filters = json.loads(filters) if isinstance(filters, str) and filters else filters or {}
    series = filters.get("series") or "status"
    if series not in CHART_SERIES:
        frappe.throw(f"series must be one of {', '.join(CHART_SERIES)}")
    activity = job_activity(filters.get("window") or "day", filters.get("organization") or None)
    buckets = activity["buckets"]
    return {
        "labels": [bucket["start"].strftime("%H:%M") for bucket in buckets],
        "datasets": [
            {"name": status, "values": [bucket["by_status"].get(status, 0) for bucket in buckets]}
            for status in CHART_SERIES[series]
        ],
        "type": "bar",
    }
