"""Contract host: `frappe/realtime.py` of v15.

`publish_realtime(after_commit=True)` keeps `[event, message, room]` in `local._realtime_log` (once
each: an identical triple is not added twice) and flushes it from an after-commit callback added with
the first one; a rollback clears it. Each event is published on the Redis channel `events` of the
`redis_queue` server as `{"event", "message", "room", "namespace": site}`.

The Socket.IO server asks three whitelisted methods (guests allowed, so the answer, not the call, is
refused): `get_user_info` when a socket connects, `can_subscribe_doc` before it joins
`doc:<doctype>/<docname>` (`doc_subscribe`) and `can_subscribe_doctype` before `doctype:<doctype>`
(`doctype_subscribe`). The last two answer True or raise PermissionError (HTTP 403).
"""

from __future__ import annotations

from contextlib import suppress

import redis

import frappe


@frappe.whitelist(allow_guest=True)
def can_subscribe_doc(doctype: str, docname: str) -> bool:
    """Read permission on the document itself: role permissions, then the apps' has_permission hooks
    (an unknown document is DoesNotExistError, HTTP 404)."""
    if not frappe.has_permission(doctype, ptype="read", doc=docname):
        raise frappe.PermissionError
    return True


@frappe.whitelist(allow_guest=True)
def can_subscribe_doctype(doctype: str) -> bool:
    """Read permission on the DocType: role permissions only, no row is looked at."""
    if not frappe.has_permission(doctype, ptype="read"):
        raise frappe.PermissionError
    return True


@frappe.whitelist(allow_guest=True)
def get_user_info() -> dict:
    """The session's user and user type (v15 keeps the type in the session; the host, which has no
    sessions, reads the User: Administrator is a System User, Guest a Website User)."""
    user = frappe.session.user
    if user in ("Administrator", "Guest"):
        return {"user": user, "user_type": "System User" if user == "Administrator" else "Website User"}
    return {"user": user, "user_type": frappe.db.get_value("User", user, "user_type")}


def get_doctype_room(doctype: str) -> str:
    return f"doctype:{doctype}"


def get_site_room() -> str:
    return "all"


def get_user_room(user: str) -> str:
    return f"user:{user}"


def publish_realtime(event=None, message=None, room=None, user=None, doctype=None, docname=None,
                     task_id=None, after_commit=False):
    if message is None:
        message = {}
    if event == "list_update":
        doctype = doctype or message.get("doctype")
        room = get_doctype_room(doctype)
    if not room:
        room = get_user_room(user) if user else get_site_room()
    if after_commit:
        if not hasattr(frappe.local, "_realtime_log"):
            frappe.local._realtime_log = []
            frappe.db.after_commit.add(flush_realtime_log)
            frappe.db.after_rollback.add(clear_realtime_log)
        params = [event, message, room]
        if params not in frappe.local._realtime_log:
            frappe.local._realtime_log.append(params)
    else:
        emit_via_redis(event, message, room)


def flush_realtime_log() -> None:
    for args in frappe.local._realtime_log:
        emit_via_redis(*args)
    clear_realtime_log()


def clear_realtime_log() -> None:
    if hasattr(frappe.local, "_realtime_log"):
        del frappe.local._realtime_log


def emit_via_redis(event, message, room) -> None:
    """v15: publish on `events` through the redis_queue connection; a ConnectionError is swallowed."""
    from frappe.utils.background_jobs import get_redis_connection_without_auth

    with suppress(redis.exceptions.ConnectionError):
        get_redis_connection_without_auth().publish(
            "events",
            frappe.as_json({"event": event, "message": message, "room": room, "namespace": frappe.local.site}),
        )
