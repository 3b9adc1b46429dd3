"""Applying the engine's composite index list from `on_doctype_update` (Frappe runs it on migrate)."""

from __future__ import annotations

import frappe

from dartwing.dartwing_core.background_jobs.schema import INDEXES, index_name


def add_composite_indexes(doctype: str) -> None:
    for columns in INDEXES.get(doctype, ()):
        frappe.db.add_index(doctype, list(columns), index_name=index_name(columns))
