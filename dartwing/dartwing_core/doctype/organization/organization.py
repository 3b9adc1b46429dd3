"""Organization controller: the tenant. Inactive and Dissolved organizations accept no jobs."""

import frappe
from frappe import _
from frappe.model.document import Document


class Organization(Document):
    def validate(self):
        if (self.max_concurrent_jobs or 0) < 0:
            frappe.throw(_("Max Concurrent Jobs cannot be negative"))
