"""Job handlers the contract tests register as Job Types (importable by the site's workers)."""

import frappe

from dartwing.dartwing_core.background_jobs import PermanentError
from dartwing.dartwing_core.background_jobs.runtime import get_runtime

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


def cancel_self_at_checkpoint(context):
    """Requests its own cancel (as an operator would, committed on a connection of its own), then
    reaches a checkpoint."""
    with get_runtime().own_transaction():
        frappe.db.sql("update `tabBackground Job` set cancel_requested=1 where name=%s", (context.job_name,))
    context.check_cancel()


# Set by a test before two threads run jobs whose handler is `meet`.
BARRIER = None


def meet(context):
    """Waits for the other thread's job, so that both finish at the same moment."""
    BARRIER.wait(timeout=30)
    return {"met": True}


def report_outcomes(context):
    """A batch callback: what it was told about the batch."""
    return {"outcomes": [(o["job_id"], o["status"]) for o in context.dependencies]}
