"""Contract host: `frappe/model/meta.py` of v15: a DocType's definition, read from its JSON.

Host-only detail: the app's DocTypes come from `<app>/<module>/doctype/<name>/<name>.json` of the
installed apps; the few core DocTypes the app touches (User, Role, Has Role, Error Log) are defined in
`contract_site.CORE_DOCTYPES` and registered here by the site's installer.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import import_module
from pathlib import Path

import frappe
from frappe.model import no_value_fields

CORE_DOCTYPES: dict[str, dict] = {}


class Meta(frappe._dict):
    def get_field(self, fieldname: str):
        return next((df for df in self.fields if df.fieldname == fieldname), None)

    def get_label(self, fieldname: str) -> str:
        df = self.get_field(fieldname)
        return df.label if df and df.label else fieldname.replace("_", " ").title()

    def get_valid_columns(self) -> list[str]:
        columns = [df.fieldname for df in self.fields if df.fieldtype not in no_value_fields]
        optional = () if self.istable else frappe.local.db.OPTIONAL_COLUMNS
        return [*frappe.local.db.DEFAULT_COLUMNS, *columns, *optional]

    def get_link_fields(self) -> list:
        return [df for df in self.fields if df.fieldtype == "Link"]


def _app_doctype_paths() -> dict[str, Path]:
    from frappe.contract_hooks import installed_apps

    found: dict[str, Path] = {}
    for app in installed_apps():
        root = Path(import_module(app).__file__).parent
        for module in (root / "modules.txt").read_text().splitlines():
            folder = root / frappe.scrub(module) / "doctype"
            for path in folder.glob("*/*.json"):
                if path.parent.name == path.stem:
                    found[json.loads(path.read_text())["name"]] = path
    return found


@cache
def _load(doctype: str) -> Meta:
    if doctype in CORE_DOCTYPES:
        data = CORE_DOCTYPES[doctype]
    else:
        paths = _app_doctype_paths()
        if doctype not in paths:
            raise frappe.DoesNotExistError(f"DocType {doctype} not found")
        data = json.loads(paths[doctype].read_text())
    meta = Meta(data)
    meta.fields = [frappe._dict(df) for df in data.get("fields", [])]
    meta.permissions = [frappe._dict(p) for p in data.get("permissions", [])]
    return meta


def get_meta(doctype: str) -> Meta:
    return _load(doctype)


def all_doctypes() -> list[str]:
    return [*CORE_DOCTYPES, *_app_doctype_paths()]
