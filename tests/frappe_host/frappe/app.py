"""Contract host: one `/api/method/<cmd>` request as v15's `frappe.app.application` serves it.

init_request (request, form_dict with `cmd`) → `frappe.handler.execute_cmd`: the method must be
whitelisted (else PermissionError) for this HTTP method (else PermissionError "Not permitted"), and is
called with the form's keys it accepts → `{"message": result}`. Then `sync_database`: COMMIT for
POST/PUT/DELETE/PATCH, ROLLBACK for a GET. An exception answers its `http_status_code` (500 when it
has none) with `exc_type` and `_server_messages` beside what the method put in `frappe.local.response`,
and an unsafe method is rolled back.
Authentication is Frappe's business, not the app's: the caller names the session user.
"""

from __future__ import annotations

import json
from typing import Any

import frappe

UNSAFE_HTTP_METHODS = ("POST", "PUT", "DELETE", "PATCH")


class Request(frappe._dict):
    pass


def handle(http_method: str, cmd: str, form: dict[str, Any] | None = None, user: str = "Guest",
           ip: str = "127.0.0.1") -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of one request, in the current site context."""
    from frappe.utils import CallbackManager

    frappe.set_user(user)
    frappe.local.request = Request(method=http_method, after_response=CallbackManager())
    frappe.local.request_ip = ip
    frappe.local.form_dict = frappe._dict(form or {}, cmd=cmd)
    frappe.local.message_log = []
    frappe.local.response = frappe._dict(docs=[])
    rollback = True
    try:
        message = _execute_cmd(cmd)
        body: dict[str, Any] = {"message": message}
        status = 200
    except Exception as exc:
        status = getattr(exc, "http_status_code", 500)
        # v15 `report_error` answers with `frappe.local.response`, so keys the method set stay in it.
        body = {key: value for key, value in frappe.local.response.items() if key != "docs"}
        body.update(exc_type=type(exc).__name__, exception=f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
        if frappe.local.message_log:
            body["_server_messages"] = json.dumps([json.dumps(m) for m in frappe.local.message_log])
    else:
        rollback = _sync_database(http_method)
    finally:
        if rollback and http_method in UNSAFE_HTTP_METHODS and frappe.db:
            frappe.db.rollback()
        frappe.local.request = None
    return status, json.loads(frappe.as_json(body, indent=None))


def _execute_cmd(cmd: str) -> Any:
    """v15 `frappe.handler.execute_cmd` with `is_whitelisted` and `is_valid_http_method`."""
    try:
        method = frappe.get_attr(cmd)
    except Exception as exc:
        frappe.throw(f"Failed to get method for command {cmd} with {exc}")
    if method not in frappe.whitelisted:
        frappe.throw("Not permitted", frappe.PermissionError)
    if frappe.session.user == "Guest" and method not in frappe.guest_methods:
        frappe.throw("Not permitted", frappe.PermissionError)
    if frappe.local.request.method not in frappe.allowed_http_methods_for_whitelisted_func[method]:
        frappe.throw("Not permitted", frappe.PermissionError)
    return frappe.call(method, **frappe.form_dict)


def _sync_database(http_method: str) -> bool:
    """v15 `sync_database`: commit state-changing requests, roll back the others."""
    if frappe.db and (frappe.local.flags.commit or http_method in UNSAFE_HTTP_METHODS):
        frappe.db.commit()
    elif frappe.db:
        frappe.db.rollback()
    return False
