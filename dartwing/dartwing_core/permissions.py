"""Desk and REST permissions for the job DocTypes (hooks.py `permission_query_conditions` and
`has_permission`), using the engine's tenancy rules so Desk and the API agree.

Administrators (System Manager, Job Administrator) see every row; everyone else sees the rows of
organizations where they are an active member (User → Person → Org Member → Organization).
"""

from __future__ import annotations

import frappe

from dartwing.dartwing_core.background_jobs import tenancy
from dartwing.dartwing_core.background_jobs.runtime import get_runtime


def _organization_condition(table: str, user: str | None, column: str = "organization") -> str:
    rt = get_runtime()
    user = user or rt.current_user()
    if tenancy.is_admin(rt, user):
        return ""
    organizations = tenancy.member_organizations(rt, user)
    if not organizations:
        return "1=0"
    quoted = ", ".join(frappe.db.escape(org) for org in organizations)  # escaped, as Frappe's own hooks do
    return f"`{table}`.`{column}` in ({quoted})"


def background_job_query(user: str | None = None) -> str:
    return _organization_condition("tabBackground Job", user)


def job_execution_log_query(user: str | None = None) -> str:
    return _organization_condition("tabJob Execution Log", user)


def job_schedule_query(user: str | None = None) -> str:
    return _organization_condition("tabJob Schedule", user)


def job_schedule_run_query(user: str | None = None) -> str:
    return _organization_condition("tabJob Schedule Run", user)


def organization_query(user: str | None = None) -> str:
    """Job Users read the Organization list (Desk filters, Link fields), but only their own."""
    return _organization_condition("tabOrganization", user, column="name")


def has_organization_record_permission(doc, ptype: str | None = None, user: str | None = None) -> bool:
    """An Organization document: administrators, or its active members."""
    rt = get_runtime()
    return tenancy.can_access(rt, user or rt.current_user(), doc.name)


def job_type_query(user: str | None = None) -> str:
    """Non-administrators see only enabled Job Types."""
    rt = get_runtime()
    return "" if tenancy.is_admin(rt, user or rt.current_user()) else "`tabJob Type`.`is_enabled` = 1"


def has_organization_permission(doc, ptype: str | None = None, user: str | None = None) -> bool:
    """Background Job, Job Execution Log, Job Schedule and its runs: only rows of the user's
    organizations (a new Job Schedule too: members create schedules for their own only)."""
    rt = get_runtime()
    return tenancy.can_access(rt, user or rt.current_user(), doc.organization)


def has_job_type_permission(doc, ptype: str | None = None, user: str | None = None) -> bool:
    rt = get_runtime()
    user = user or rt.current_user()
    return tenancy.is_admin(rt, user) or (
        ptype in (None, "read", "select", "report") and bool(doc.is_enabled)
    )
