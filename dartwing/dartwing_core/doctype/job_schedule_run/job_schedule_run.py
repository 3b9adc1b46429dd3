"""Job Schedule Run controller: one row per consumed occurrence, written by the schedule tick
(its name is the (schedule, occurrence) unique key); rows are never created or edited in Desk."""

import frappe
from frappe import _
from frappe.model.document import Document

from dartwing.dartwing_core.doctype._indexes import add_composite_indexes


class JobScheduleRun(Document):
    def before_insert(self):
        frappe.throw(_("Job Schedule Runs are written by the schedule tick"), frappe.PermissionError)

    def validate(self):
        if not self.is_new():
            frappe.throw(_("Job Schedule Run rows cannot be edited"))


def on_doctype_update():
    add_composite_indexes("Job Schedule Run")
