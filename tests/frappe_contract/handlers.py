"""Job handlers the contract tests register as Job Types (importable by the site's workers)."""

import frappe

from dartwing.dartwing_core.background_jobs import PermanentError

MARKER_ORGANIZATION = "Org A"


def write_progress_then_fail(context):
    """A handler's own write, a progress checkpoint, then a permanent failure."""
    frappe.db.sql("update `tabOrganization` set max_concurrent_jobs=42 where name=%s", (MARKER_ORGANIZATION,))
    context.update_progress(50, "half way")
    context.check_cancel()
    raise PermanentError("failed after writing")


def write_progress_then_succeed(context):
    frappe.db.sql("update `tabOrganization` set max_concurrent_jobs=43 where name=%s", (MARKER_ORGANIZATION,))
    context.update_progress(50, "half way")
    return {"ok": True}
