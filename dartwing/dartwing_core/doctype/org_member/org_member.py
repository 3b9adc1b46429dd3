"""Org Member controller: one membership per person and organization."""

import frappe
from frappe import _
from frappe.model.document import Document

from dartwing.dartwing_core.doctype._indexes import add_composite_indexes


class OrgMember(Document):
    def validate(self):
        duplicate = frappe.db.exists(
            "Org Member",
            {"person": self.person, "organization": self.organization, "name": ("!=", self.name)},
        )
        if duplicate:
            frappe.throw(
                _("{0} is already a member of {1} ({2})").format(self.person, self.organization, duplicate)
            )


def on_doctype_update():
    add_composite_indexes("Org Member")
