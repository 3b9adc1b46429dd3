"""Job Start controller: the rate limit's window (background_jobs/rate_limits.py), written by the engine."""

import frappe
from frappe import _
from frappe.model.document import Document

from dartwing.dartwing_core.doctype._indexes import add_composite_indexes


class JobStart(Document):
    def validate(self):
        frappe.throw(_("Job Start rows are written by the job engine only"))


def on_doctype_update():
    add_composite_indexes("Job Start")
