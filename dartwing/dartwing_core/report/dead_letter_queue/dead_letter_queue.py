"""Dead Letter Queue: jobs that exhausted their retries or failed permanently, for operators to
retry or delete. Rows come through frappe.get_list, so permission_query_conditions (tenancy) and
bound parameters apply."""

import frappe
from frappe import _
from frappe.utils import add_to_date, now_datetime


def execute(filters=None):
    filters = frappe._dict(filters or {})
    conditions = {"status": "Dead Letter"}
    for field in ("organization", "job_type", "error_type"):
        if filters.get(field):
            conditions[field] = filters[field]
    if filters.get("older_than_hours"):
        conditions["modified"] = ("<", add_to_date(now_datetime(), hours=-int(filters.older_than_hours)))
    rows = frappe.get_list(
        "Background Job",
        filters=conditions,
        fields=[
            "name",
            "job_type",
            "organization",
            "error_type",
            "error_message",
            "retry_count",
            "attempt",
            "modified",
            "owner",
        ],
        order_by="modified desc",
        limit_page_length=500,
    )
    return _columns(), rows


def _columns():
    return [
        {
            "fieldname": "name",
            "label": _("Job"),
            "fieldtype": "Link",
            "options": "Background Job",
            "width": 170,
        },
        {
            "fieldname": "job_type",
            "label": _("Job Type"),
            "fieldtype": "Link",
            "options": "Job Type",
            "width": 140,
        },
        {
            "fieldname": "organization",
            "label": _("Organization"),
            "fieldtype": "Link",
            "options": "Organization",
            "width": 150,
        },
        {"fieldname": "error_type", "label": _("Error Type"), "fieldtype": "Data", "width": 100},
        {"fieldname": "error_message", "label": _("Error"), "fieldtype": "Small Text", "width": 300},
        {"fieldname": "retry_count", "label": _("Retries"), "fieldtype": "Int", "width": 80},
        {"fieldname": "attempt", "label": _("Attempts"), "fieldtype": "Int", "width": 80},
        {"fieldname": "modified", "label": _("In Dead Letter Since"), "fieldtype": "Datetime", "width": 170},
        {
            "fieldname": "owner",
            "label": _("Submitted By"),
            "fieldtype": "Link",
            "options": "User",
            "width": 160,
        },
    ]
