"""Job Metrics Snapshot controller: the figures the 5-minute sweep takes (background_jobs/snapshots.py),
written by the engine only; rows are never created or edited in Desk."""

import frappe
from frappe import _
from frappe.model.document import Document

from dartwing.dartwing_core.doctype._indexes import add_composite_indexes


class JobMetricsSnapshot(Document):
    def before_insert(self):
        frappe.throw(_("Job Metrics Snapshots are written by the metrics sweep"), frappe.PermissionError)

    def validate(self):
        if not self.is_new():
            frappe.throw(_("Job Metrics Snapshot rows cannot be edited"))


def on_doctype_update():
    add_composite_indexes("Job Metrics Snapshot")
