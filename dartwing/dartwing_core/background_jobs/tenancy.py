"""Who may act on which organization's jobs (DESIGN.md §6), in one place for every read and write.

User → Person (frappe_user) → Org Member (person, organization, status Active). Administrators —
Frappe's Administrator, System Manager and Job Administrator — see every organization.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import NotPermittedError
from .runtime import Runtime
from .statements import statement

if TYPE_CHECKING:
    import sqlalchemy as sa

ADMIN_USER = "Administrator"
ADMIN_ROLES = frozenset({"System Manager", "Job Administrator"})
ACTIVE = "Active"


def is_admin(rt: Runtime, user: str) -> bool:
    return user == ADMIN_USER or bool(rt.user_roles(user) & ADMIN_ROLES)


def _memberships(user: str | sa.BindParameter) -> sa.Select:
    import sqlalchemy as sa

    from . import schema

    om, person = schema.org_member, schema.person
    return (
        sa.select(om.c.organization)
        .select_from(om.join(person, person.c.name == om.c.person))
        .where(person.c.frappe_user == user, om.c.status == ACTIVE)
    )


@statement
def _MEMBER_ORGANIZATIONS(sa, t):
    return _memberships(sa.bindparam("user")).distinct()


def member_organizations(rt: Runtime, user: str) -> list[str]:
    """Organizations where `user` is an active member (for admins too: membership, not visibility)."""
    return sorted({row["organization"] for row in rt.execute(_MEMBER_ORGANIZATIONS, {"user": user})})


def membership_of(user: str | sa.BindParameter, organization: Any) -> sa.Select:
    """The active membership row of `user` in `organization`, if any (a caller may embed it as
    `.exists()` in a read of its own and pass the answer to `require_access`)."""
    from . import schema

    return _memberships(user).where(schema.org_member.c.organization == organization)


@statement
def _IS_MEMBER(sa, t):
    return membership_of(sa.bindparam("user"), sa.bindparam("organization")).limit(1)


def is_member(rt: Runtime, user: str, organization: str) -> bool:
    return rt.execute(_IS_MEMBER, {"user": user, "organization": organization}).first() is not None


def visible_organizations(rt: Runtime, user: str) -> list[str] | None:
    """None means every organization (an administrator); otherwise the user's active memberships."""
    return None if is_admin(rt, user) else member_organizations(rt, user)


def can_access(rt: Runtime, user: str, organization: str, *, member: bool | None = None) -> bool:
    """`member`: whether `membership_of(user, organization)` exists, if the caller has read it already."""
    # Administrator needs no query; then membership, which settles most callers in one query.
    if member is None:
        member = user != ADMIN_USER and is_member(rt, user, organization)
    return user == ADMIN_USER or member or is_admin(rt, user)


def require_access(rt: Runtime, user: str, organization: str, *, member: bool | None = None) -> None:
    """Raise NotPermittedError unless `user` may act for `organization` (`member`: see can_access)."""
    if not can_access(rt, user, organization, member=member):
        raise NotPermittedError(f"User {user} is not an active member of organization {organization}")
