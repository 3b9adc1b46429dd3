"""Job Execution Log controller: an audit trail, written by the engine; rows are never edited."""

import frappe
from frappe import _
from frappe.model.document import Document

from dartwing.dartwing_core.doctype._indexes import add_composite_indexes


class JobExecutionLog(Document):
    def validate(self):
        if not self.is_new():
            frappe.throw(_("Job Execution Log rows cannot be edited"))


def on_doctype_update():
    add_composite_indexes("Job Execution Log")
