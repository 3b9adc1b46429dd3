"""Contract host: `frappe/model/document.py` (and `delete_doc.py`) of v15: the document life cycle
the app's controllers hook into.

insert: permission (create) → before_insert → naming → validate → before_save → INSERT → after_insert
→ on_update. save: permission (write) → the row before the save (`get_doc_before_save`) → validate →
before_save → UPDATE → on_update. delete: permission (delete) → on_trash → links check
(LinkExistsError when another row links to it) → DELETE → after_delete.
"""

from __future__ import annotations

import importlib
from typing import Any

import frappe
from frappe.model import default_fields, no_value_fields
from frappe.model.naming import make_autoname
from frappe.utils import now_datetime


class Document:
    """v15 `frappe.model.document.Document`: fields as attributes, and the life-cycle methods."""

    def __init__(self, *args, **kwargs):
        data = args[0] if args and isinstance(args[0], dict) else kwargs
        object.__setattr__(self, "flags", frappe._dict())
        object.__setattr__(self, "_doc_before_save", None)
        for key, value in dict(data).items():
            setattr(self, key, value)
        self.meta = frappe.get_meta(self.doctype)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return None  # v15 BaseDocument: an unset field reads as None

    def get(self, key: str, default: Any = None) -> Any:
        return self.__dict__.get(key, default)

    def set(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def update(self, values: dict[str, Any]) -> Document:
        for key, value in values.items():
            setattr(self, key, value)
        return self

    def as_dict(self) -> frappe._dict:
        columns = self.meta.get_valid_columns()
        return frappe._dict({k: self.get(k) for k in ("doctype", *columns) if k in self.__dict__})

    def is_new(self) -> bool:
        return bool(self.get("__islocal")) or not self.get("name")

    def get_doc_before_save(self):
        return self._doc_before_save

    def run_method(self, method: str, *args, **kwargs) -> Any:
        fn = getattr(type(self), method, None)
        return fn(self, *args, **kwargs) if callable(fn) else None

    def check_permission(self, ptype: str) -> None:
        if self.flags.ignore_permissions:
            return
        if not frappe.has_permission(self.doctype, ptype, doc=self if ptype != "create" else None):
            raise frappe.PermissionError(f"No permission to {ptype} {self.doctype} {self.name or ''}".strip())

    # --- insert ----------------------------------------------------------------------------------
    def insert(self, ignore_permissions: bool | None = None, ignore_mandatory: bool | None = None, **kwargs):
        if ignore_permissions is not None:
            self.flags.ignore_permissions = ignore_permissions
        self.__dict__["__islocal"] = True
        self.check_permission("create")
        self._set_defaults()
        self.run_method("before_insert")
        self._set_new_name()
        self.run_method("validate")
        self.run_method("before_save")
        if not ignore_mandatory:
            self._validate_mandatory()
        self._db_insert()
        self.__dict__.pop("__islocal", None)
        self.run_method("after_insert")
        self.run_method("on_update")
        return self

    def _set_defaults(self) -> None:
        for df in self.meta.fields:
            if self.get(df.fieldname) is None and df.get("default") not in (None, ""):
                default = df.default
                if df.fieldtype in ("Int", "Check"):
                    default = int(default)
                elif str(default).startswith(("__", ":")) or default in ("Today", "now", "Now"):
                    continue
                setattr(self, df.fieldname, default)

    def _set_new_name(self) -> None:
        if self.name:
            return
        autoname = self.meta.get("autoname") or "hash"
        if autoname.startswith("field:"):
            self.name = self.get(autoname[len("field:") :])
        elif autoname == "autoincrement":
            self.name = frappe.db.get_next_sequence_val(self.doctype)
        else:
            self.name = make_autoname(autoname, self.doctype, self)
        if not self.name:
            raise frappe.ValidationError(f"{self.doctype}: a name is required")

    def _validate_mandatory(self) -> None:
        missing = [
            df.fieldname
            for df in self.meta.fields
            if df.get("reqd") and df.fieldtype not in no_value_fields and self.get(df.fieldname) in (None, "")
        ]
        if missing:
            raise frappe.MandatoryError(f"[{self.doctype}, {self.name}]: {', '.join(missing)}")

    def _row(self) -> dict[str, Any]:
        columns = [c for c in self.meta.get_valid_columns() if c not in ("name",) + default_fields]
        return {c: self.get(c) for c in columns if c in self.__dict__}

    def _db_insert(self) -> None:
        now = now_datetime()
        user = frappe.session.user
        self.creation = self.creation or now
        self.modified = self.modified or now
        self.owner = self.owner or user
        self.modified_by = user
        row = {
            "name": self.name,
            "creation": self.creation,
            "modified": self.modified,
            "owner": self.owner,
            "modified_by": self.modified_by,
            "docstatus": self.docstatus or 0,
            "idx": self.idx or 0,
            **self._row(),
        }
        names = ", ".join(f"`{k}`" for k in row)
        try:
            frappe.db.sql(
                f"insert into `tab{self.doctype}` ({names}) values ({', '.join(['%s'] * len(row))})",
                list(row.values()),
            )
        except Exception as exc:
            if frappe.db.is_duplicate_entry(exc):
                raise frappe.DuplicateEntryError(self.doctype, self.name, exc) from exc
            raise

    # --- save ------------------------------------------------------------------------------------
    def save(self, ignore_permissions: bool | None = None, **kwargs):
        if ignore_permissions is not None:
            self.flags.ignore_permissions = ignore_permissions
        if self.is_new():
            return self.insert()
        self.check_permission("write")
        object.__setattr__(self, "_doc_before_save", get_doc(self.doctype, self.name))
        self.run_method("validate")
        self.run_method("before_save")
        self._validate_mandatory()
        self.modified = now_datetime()
        self.modified_by = frappe.session.user
        row = {"modified": self.modified, "modified_by": self.modified_by, **self._row()}
        assignments = ", ".join(f"`{k}`=%s" for k in row)
        frappe.db.sql(
            f"update `tab{self.doctype}` set {assignments} where `name`=%s", [*row.values(), self.name]
        )
        self.run_method("on_update")
        return self

    def db_set(self, fieldname: str, value: Any) -> None:
        setattr(self, fieldname, value)
        frappe.db.sql(f"update `tab{self.doctype}` set `{fieldname}`=%s where `name`=%s", (value, self.name))

    def reload(self) -> Document:
        fresh = get_doc(self.doctype, self.name)
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in ("flags", "_doc_before_save")})
        return self

    def delete(self, ignore_permissions: bool = False, **kwargs) -> None:
        delete_doc(self.doctype, self.name, ignore_permissions=ignore_permissions)


def _controller(doctype: str) -> type[Document]:
    """v15 `get_controller`: `<app>.<module>.doctype.<name>.<name>.<ClassName>`, else Document."""
    from frappe.contract_hooks import installed_apps

    meta = frappe.get_meta(doctype)
    module = meta.get("module")
    if module:
        for app in installed_apps():
            path = f"{app}.{frappe.scrub(module)}.doctype.{frappe.scrub(doctype)}.{frappe.scrub(doctype)}"
            try:
                mod = importlib.import_module(path)
            except ModuleNotFoundError:
                continue
            return getattr(mod, doctype.replace(" ", "").replace("-", ""))
    return Document


def get_doc(*args, **kwargs) -> Document:
    """v15 `frappe.get_doc`: from a dict (a new document) or (doctype, name) read from the database."""
    if args and isinstance(args[0], dict):
        data = dict(args[0])
    elif kwargs.get("doctype") and len(args) < 2 and "name" not in kwargs:
        data = dict(kwargs)
    else:
        doctype, name = (args + (None, None))[:2] if args else (kwargs["doctype"], kwargs["name"])
        rows = frappe.db.sql(f"select * from `tab{doctype}` where `name`=%s", (name,), as_dict=True)
        if not rows:
            raise frappe.DoesNotExistError(f"{doctype} {name} not found")
        data = {"doctype": doctype, **rows[0]}
    return _controller(data["doctype"])(data)


def delete_doc(doctype: str, name: str, force: bool = False, ignore_permissions: bool = False) -> None:
    """v15 `frappe.delete_doc`: on_trash, then refuse if another row links here (LinkExistsError)."""
    doc = get_doc(doctype, name)
    doc.flags.ignore_permissions = ignore_permissions
    doc.check_permission("delete")
    doc.run_method("on_trash")
    if not force:
        _check_if_doc_is_linked(doc)
    frappe.db.sql(f"delete from `tab{doctype}` where `name`=%s", (name,))
    doc.run_method("after_delete")


def _check_if_doc_is_linked(doc: Document) -> None:
    """v15 `check_if_doc_is_linked`: any Link field of any DocType pointing at this document."""
    from frappe.model.meta import all_doctypes

    for other in all_doctypes():
        for df in frappe.get_meta(other).get_link_fields():
            if df.options != doc.doctype:
                continue
            linked = frappe.db.sql(
                f"select name from `tab{other}` where `{df.fieldname}`=%s and name != %s limit 1",
                (doc.name, doc.name if other == doc.doctype else ""),
            )
            if linked:
                raise frappe.LinkExistsError(
                    f"Cannot delete or cancel because {doc.doctype} {doc.name} is linked with {other} {linked[0][0]}"
                )
