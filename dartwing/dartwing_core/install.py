"""What `bench install-app dartwing` and every `bench migrate` do beyond Frappe's own sync (hooks.py
`after_install`, `after_migrate`), idempotently.

- The default Job Types (background_jobs/handlers/catalogue.py) that are missing are inserted; one that
  exists is never touched, so an operator's edits survive every migrate. (Frappe imports an app's
  `fixtures/*.json` with overwrite on every migrate, which is why Job Types are not fixtures.)
- The composite indexes (schema.INDEXES) are ensured on every migrate: Frappe runs a DocType's
  `on_doctype_update` only when its JSON changed, so a new index would otherwise never reach an
  existing site. `frappe.db.add_index` skips an index whose name exists, and commits before its DDL.
"""

from __future__ import annotations

import frappe

from dartwing.dartwing_core.background_jobs.handlers.catalogue import default_job_types
from dartwing.dartwing_core.background_jobs.schema import INDEXES
from dartwing.dartwing_core.doctype._indexes import add_composite_indexes


def after_install() -> None:
    ensure_default_job_types()
    ensure_indexes()


def after_migrate() -> None:
    ensure_default_job_types()
    ensure_indexes()


def ensure_default_job_types() -> list[str]:
    """Insert the catalogue's Job Types this site lacks; returns their names."""
    added = []
    for fields in default_job_types("frappe"):
        if frappe.db.exists("Job Type", fields["type_name"]):
            continue
        frappe.get_doc({"doctype": "Job Type", **fields}).insert(ignore_permissions=True)
        added.append(fields["type_name"])
    return added


def ensure_indexes() -> None:
    """Every composite index of schema.INDEXES, on every DocType that has some."""
    for doctype in INDEXES:
        add_composite_indexes(doctype)
