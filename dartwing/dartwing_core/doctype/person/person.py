"""Person controller: the human behind a Frappe user, through whom memberships are granted."""

from frappe.model.document import Document


class Person(Document):
    def validate(self):
        self.full_name = " ".join(part for part in (self.first_name, self.last_name) if part)
