"""Contract host: `frappe/permissions.py` of v15: role permissions from the DocType, then the apps'
`has_permission` hooks for a document (a hook answering False denies)."""

from __future__ import annotations

import frappe

_PTYPE_FLAGS = {"select": ("select", "read"), "report": ("report", "read")}


def has_role_permission(doctype: str, ptype: str, user: str) -> bool:
    if user == "Administrator":
        return True
    roles = set(frappe.get_roles(user))
    flags = _PTYPE_FLAGS.get(ptype, (ptype,))
    return any(
        perm.role in roles and any(perm.get(flag) for flag in flags)
        for perm in frappe.get_meta(doctype).permissions
        if not perm.get("permlevel")
    )


def has_permission(doctype: str, ptype: str = "read", doc=None, user: str | None = None) -> bool:
    user = user or frappe.session.user
    if user == "Administrator":
        return True
    if not has_role_permission(doctype, ptype, user):
        return False
    if doc is None:
        return True
    if isinstance(doc, str):
        doc = frappe.get_doc(doctype, doc)
    for hook in frappe.get_hooks("has_permission").get(doctype, []):
        if frappe.call(hook, doc=doc, ptype=ptype, user=user) is False:
            return False
    return True
