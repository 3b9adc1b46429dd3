"""Contract host: `frappe/model/db_query.py` of v15 (`frappe.get_list`): filters become bound values;
for a user without ignore_permissions, the role's read permission is required and every app's
`permission_query_conditions` hook adds its SQL condition."""

from __future__ import annotations

from typing import Any

import frappe
from frappe.permissions import has_role_permission

_OPERATORS = {"=", "!=", "<", ">", "<=", ">=", "like", "not like", "in", "not in", "is"}


def where_clause(filters: dict | list) -> tuple[str, list[Any]]:
    """`{"field": value | (op, value)}` or `[[field, op, value], ...]` → (SQL, values)."""
    if isinstance(filters, dict):
        items = [(k, *(v if isinstance(v, list | tuple) else ("=", v))) for k, v in filters.items()]
    else:
        items = [tuple(f[-3:]) for f in filters]
    parts, values = [], []
    for field, op, value in items:
        op = op.lower()
        if op not in _OPERATORS or not field.replace("_", "").isalnum():
            raise frappe.ValidationError(f"Invalid filter {field} {op}")
        if op in ("in", "not in"):
            value = list(value) if not isinstance(value, str) else [v.strip() for v in value.split(",")]
            if not value:
                parts.append("1=0" if op == "in" else "1=1")
                continue
            parts.append(f"`{field}` {op} ({', '.join(['%s'] * len(value))})")
            values.extend(value)
        elif op == "is":
            parts.append(f"`{field}` is {'not null' if value == 'set' else 'null'}")
        else:
            parts.append(f"`{field}` {op} %s")
            values.append(value)
    return " and ".join(parts), values


def get_list(
    doctype: str,
    fields: list[str] | None = None,
    filters: dict | list | None = None,
    order_by: str | None = "creation desc",
    limit_start: int = 0,
    limit_page_length: int | None = 20,
    pluck: str | None = None,
    ignore_permissions: bool = False,
    user: str | None = None,
    **kwargs,
) -> list:
    user = user or frappe.session.user
    if pluck:
        fields = [pluck]
    fields = fields or ["name"]
    for field in fields:
        if not field.replace("_", "").isalnum():
            raise frappe.ValidationError(f"Invalid field {field}")
    where, values = where_clause(filters or {})
    conditions = [where] if where else []
    if not ignore_permissions:
        if not has_role_permission(doctype, "read", user) and not has_role_permission(doctype, "select", user):
            raise frappe.PermissionError(f"No permission for {doctype}")
        for hook in frappe.get_hooks("permission_query_conditions").get(doctype, []):
            condition = frappe.call(hook, user=user)
            if condition:
                conditions.append(f"({condition})")
    sql = f"select {', '.join(f'`{f}`' for f in fields)} from `tab{doctype}`"
    if conditions:
        sql += " where " + " and ".join(conditions)
    if order_by:
        column, _sep, direction = order_by.partition(" ")
        if not column.replace("_", "").isalnum() or direction.lower() not in ("", "asc", "desc"):
            raise frappe.ValidationError(f"Invalid order_by {order_by}")
        sql += f" order by `{column}` {direction}"
    if limit_page_length:
        sql += f" limit {int(limit_start)}, {int(limit_page_length)}"
    rows = frappe.db.sql(sql, values, as_dict=True)
    return [row[pluck] for row in rows] if pluck else rows
