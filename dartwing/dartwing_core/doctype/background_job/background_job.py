"""Background Job controller: rows come from submit_job; Desk may only move them along the engine's
transition table (Retry/Cancel buttons call the API), and may delete only finished jobs."""

import frappe
from frappe import _
from frappe.model.document import Document

from dartwing.dartwing_core.background_jobs.status import TERMINAL, JobStatus, can_transition
from dartwing.dartwing_core.doctype._indexes import add_composite_indexes

# Fields only the engine writes (through SQL, never through this controller).
ENGINE_FIELDS = (
    "job_type",
    "organization",
    "parameters",
    "parameters_hash",
    "job_hash",
    "depends_on",
    "attempt",
    "rq_job_id",
    "worker",
    "started_at",
    "completed_at",
    "heartbeat_at",
    "result",
    "output_reference",
    "retry_count",
    "traceback",
)


class BackgroundJob(Document):
    def before_insert(self):
        frappe.throw(
            _("Background Jobs are created with submit_job, not inserted directly"), frappe.PermissionError
        )

    def validate(self):
        before = self.get_doc_before_save()
        if before is None:
            return
        for field in ENGINE_FIELDS:
            if self.get(field) != before.get(field):
                frappe.throw(
                    _("{0} is managed by the job engine and cannot be edited").format(
                        self.meta.get_label(field)
                    )
                )
        if self.status != before.status and not can_transition(before.status, self.status):
            frappe.throw(_("A job cannot go from {0} to {1}").format(before.status, self.status))

    def on_trash(self):
        if JobStatus(self.status) not in TERMINAL:
            frappe.throw(_("Only finished jobs (Completed, Canceled, Dead Letter) can be deleted"))
        frappe.db.delete("Job Execution Log", {"background_job": self.name})


def on_doctype_update():
    add_composite_indexes("Background Job")
