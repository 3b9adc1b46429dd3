"""Standalone administration: users, roles, organizations, memberships and Job Types.

In a bench these are Desk records; standalone they are rows written here (by `init`, the CLI and the
tests). Every function writes in the caller's transaction and leaves the commit to the caller.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs import schema
from dartwing.dartwing_core.background_jobs.execution import resolve_handler
from dartwing.dartwing_core.background_jobs.status import Priority

from . import tables
from .runtime import StandaloneRuntime


def _standard(rt: StandaloneRuntime) -> dict[str, Any]:
    now, user = rt.now(), rt.current_user()
    return {"creation": now, "modified": now, "owner": user, "modified_by": user}


def _exists(rt: StandaloneRuntime, table: sa.Table, name: str) -> bool:
    return rt.execute(sa.select(table.c.name).where(table.c.name == name)).first() is not None


def add_user(rt: StandaloneRuntime, user: str, roles: tuple[str, ...] = ()) -> None:
    """Create `user` (idempotent) and grant `roles`."""
    if not _exists(rt, tables.user, user):
        now = rt.now()
        rt.execute(sa.insert(tables.user).values(name=user, enabled=1, creation=now, modified=now))
    hr = tables.has_role
    held = rt.user_roles(user)
    for role in roles:
        if role not in held:
            rt.execute(sa.insert(hr).values(name=rt.new_id(), parent=user, role=role))


def add_organization(
    rt: StandaloneRuntime, name: str, status: str = "Active", max_concurrent_jobs: int = 0
) -> str:
    org = schema.organization
    if _exists(rt, org, name):
        rt.execute(
            sa.update(org)
            .where(org.c.name == name)
            .values(status=status, max_concurrent_jobs=max_concurrent_jobs)
        )
    else:
        rt.execute(
            sa.insert(org).values(
                name=name,
                organization_name=name,
                status=status,
                max_concurrent_jobs=max_concurrent_jobs,
                **_standard(rt),
            )
        )
    return name


def set_organization_status(rt: StandaloneRuntime, name: str, status: str) -> None:
    """Change an existing organization's status (Inactive and Dissolved ones accept no jobs)."""
    org = schema.organization
    if (
        rt.execute(sa.update(org).where(org.c.name == name).values(status=status, modified=rt.now())).rowcount
        != 1
    ):
        raise LookupError(f"no organization {name!r}")


def list_organizations(rt: StandaloneRuntime) -> list[dict[str, Any]]:
    """Every organization with its status, cap and count of active members, by name."""
    org, om = schema.organization, schema.org_member
    members = (
        sa.select(sa.func.count())
        .where(om.c.organization == org.c.name, om.c.status == "Active")
        .scalar_subquery()
    )
    stmt = sa.select(org.c.name, org.c.status, org.c.max_concurrent_jobs, members.label("active_members"))
    return list(rt.execute(stmt.order_by(org.c.name)))


def add_person(rt: StandaloneRuntime, user: str, first_name: str | None = None) -> str:
    """The Person linked to `user`, created if missing."""
    person = schema.person
    existing = rt.execute(sa.select(person.c.name).where(person.c.frappe_user == user)).scalar()
    if existing:
        return existing
    name = f"PER-{rt.new_id()}"
    rt.execute(
        sa.insert(person).values(
            name=name,
            first_name=first_name or user.split("@")[0],
            full_name=first_name or user,
            frappe_user=user,
            email=user if "@" in user else None,
            **_standard(rt),
        )
    )
    return name


def add_member(rt: StandaloneRuntime, user: str, organization: str, status: str = "Active") -> str:
    """Make `user` a member of `organization` (or change the membership's status); LookupError
    when there is no such organization, rather than a membership nobody can use."""
    if not _exists(rt, schema.organization, organization):
        raise LookupError(f"no organization {organization!r}: create it first (dartwing-jobs org add)")
    person = add_person(rt, user)
    om = schema.org_member
    existing = rt.execute(
        sa.select(om.c.name).where(om.c.person == person, om.c.organization == organization)
    ).scalar()
    if existing:
        rt.execute(sa.update(om).where(om.c.name == existing).values(status=status, modified=rt.now()))
        return existing
    name = rt.new_id()
    rt.execute(
        sa.insert(om).values(
            name=name,
            person=person,
            organization=organization,
            status=status,
            member_role="Member",
            **_standard(rt),
        )
    )
    return name


def upsert_job_type(
    rt: StandaloneRuntime,
    type_name: str,
    handler_method: str,
    *,
    display_name: str | None = None,
    default_timeout: int = 300,
    default_priority: str = Priority.NORMAL.value,
    max_retries: int = 5,
    deduplication_window: int = 300,
    max_concurrent_per_org: int = 0,
    rate_limit_count: int = 0,
    rate_limit_period: int = 60,
    rate_limit_per_org: bool = False,
    requires_role: str | None = None,
    queue: str | None = None,
    is_enabled: bool = True,
    description: str | None = None,
) -> None:
    """Create or update a Job Type; the handler must import and be callable, as in Desk."""
    resolve_handler(handler_method)
    values = {
        "type_name": type_name,
        "display_name": display_name or type_name.replace("_", " ").title(),
        "handler_method": handler_method,
        "default_timeout": default_timeout,
        "default_priority": Priority(default_priority).value,
        "max_retries": max_retries,
        "deduplication_window": deduplication_window,
        "max_concurrent_per_org": max_concurrent_per_org,
        "rate_limit_count": rate_limit_count,
        "rate_limit_period": rate_limit_period,
        "rate_limit_per_org": 1 if rate_limit_per_org else 0,
        "requires_role": requires_role,
        "queue": queue,
        "is_enabled": 1 if is_enabled else 0,
        "description": description,
    }
    jt = schema.job_type
    if _exists(rt, jt, type_name):
        rt.execute(sa.update(jt).where(jt.c.name == type_name).values(modified=rt.now(), **values))
    else:
        rt.execute(sa.insert(jt).values(name=type_name, **values, **_standard(rt)))
