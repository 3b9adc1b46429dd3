"""Job Dependency: one parent of a Background Job (its `dependencies` table), written by the engine."""

from frappe.model.document import Document


class JobDependency(Document):
    pass
