"""Every DocType JSON as Frappe v15 would accept it, checked without Frappe (CI has no bench).

The rule lists below were read from Frappe v15.44.2: fieldtypes from docfield.json's `fieldtype`
options, reserved names from frappe/model/__init__.py (default_fields, child_table_fields,
optional_fields) and BaseDocument._reserved_keywords, naming rules from doctype.py.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

DOCTYPE_DIR = Path(__file__).resolve().parent.parent / "dartwing" / "dartwing_core" / "doctype"
FILES = sorted(DOCTYPE_DIR.glob("*/*.json"))

V15_FIELDTYPES = frozenset(
    [
        "Autocomplete",
        "Attach",
        "Attach Image",
        "Barcode",
        "Button",
        "Check",
        "Code",
        "Color",
        "Column Break",
        "Currency",
        "Data",
        "Date",
        "Datetime",
        "Duration",
        "Dynamic Link",
        "Float",
        "Fold",
        "Geolocation",
        "Heading",
        "HTML",
        "HTML Editor",
        "Icon",
        "Image",
        "Int",
        "JSON",
        "Link",
        "Long Text",
        "Markdown Editor",
        "Password",
        "Percent",
        "Phone",
        "Read Only",
        "Rating",
        "Section Break",
        "Select",
        "Signature",
        "Small Text",
        "Tab Break",
        "Table",
        "Table MultiSelect",
        "Text",
        "Text Editor",
        "Time",
    ]
)
RESERVED = frozenset(
    {
        "doctype",
        "name",
        "owner",
        "creation",
        "modified",
        "modified_by",
        "docstatus",
        "idx",
        "parent",
        "parentfield",
        "parenttype",
        "_user_tags",
        "_comments",
        "_assign",
        "_liked_by",
        "_seen",
        "meta",
        "flags",
        "parent_doc",
        "permitted_fieldnames",
        "dont_update_if_missing",
    }
)
NAMING_RULES = {
    "",
    "Set by user",
    "Autoincrement",
    "By fieldname",
    'By "Naming Series" field',
    "Expression",
    "Expression (old style)",
    "Random",
    "By script",
}
FRAPPE_CORE_DOCTYPES = {"User", "Role", "DocType", "Module Def", "Report", "File", "Contact", "Address"}
APP_DOCTYPES = {json.loads(p.read_text())["name"] for p in FILES}
LAYOUT = {"Section Break", "Column Break", "Tab Break", "HTML", "Button", "Heading", "Fold", "Image"}


def scrub(name: str) -> str:
    return name.lower().replace(" ", "_")


def test_all_eleven_doctypes_exist():
    assert {
        "Background Job",
        "Job Dependency",
        "Job Start",
        "Job Type",
        "Job Execution Log",
        "Organization",
        "Person",
        "Org Member",
        "Job Schedule",
        "Job Schedule Run",
        "Job Metrics Snapshot",
    } == APP_DOCTYPES


@pytest.fixture(params=FILES, ids=lambda p: p.parent.name)
def meta(request) -> dict:
    return json.loads(request.param.read_text()) | {"_path": request.param}


def test_header(meta):
    path = meta["_path"]
    assert meta["doctype"] == "DocType" and meta["module"] == "Dartwing Core", path
    assert scrub(meta["name"]) == path.parent.name == path.stem
    assert (path.parent / "__init__.py").exists()
    controller = ast.parse((path.parent / f"{path.stem}.py").read_text())
    assert meta["name"].replace(" ", "") in [n.name for n in controller.body if isinstance(n, ast.ClassDef)]


def test_fields(meta):
    names = [f["fieldname"] for f in meta["fields"]]
    assert meta["field_order"] == names, f"{meta['name']}: field_order differs from fields"
    assert len(names) == len(set(names)), f"{meta['name']}: duplicate fieldnames"
    for field in meta["fields"]:
        where = f"{meta['name']}.{field['fieldname']}"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", field["fieldname"]), f"{where}: not a lowercase snake name"
        assert field["fieldname"] not in RESERVED, f"{where}: reserved fieldname"
        assert field["fieldtype"] in V15_FIELDTYPES, f"{where}: {field['fieldtype']!r} is not a v15 fieldtype"
        if field["fieldtype"] not in LAYOUT:
            assert field.get("label"), f"{where}: no label"
        if field["fieldtype"] == "Select":
            assert field.get("options"), f"{where}: Select without options"
            if field.get("default"):
                assert field["default"] in field["options"].split("\n"), f"{where}: default not an option"
        if field["fieldtype"] in ("Link", "Table", "Table MultiSelect"):
            target = field.get("options")
            assert target in APP_DOCTYPES | FRAPPE_CORE_DOCTYPES, (
                f"{where}: links to unknown DocType {target!r}"
            )
        if field["fieldtype"] in ("Int", "Check") and "default" in field:
            assert re.fullmatch(r"-?\d+", field["default"]), (
                f"{where}: default {field['default']!r} is not an integer"
            )
        if field["fieldtype"] == "Check" and "default" in field:
            assert field["default"] in ("0", "1")


def test_naming(meta):
    autoname, rule = meta.get("autoname", ""), meta.get("naming_rule", "")
    assert rule in NAMING_RULES
    fields = {f["fieldname"]: f for f in meta["fields"]}
    if autoname.startswith("field:"):
        assert rule == "By fieldname" and autoname.split(":", 1)[1] in fields
        assert fields[autoname.split(":", 1)[1]].get("unique") == 1
    elif autoname == "autoincrement":
        assert rule == "Autoincrement"
    elif autoname == "hash":
        assert rule == "Random"
    elif autoname == "Prompt":  # Job Schedule Run: the engine names each row by its unique key
        assert rule == "Set by user" and meta.get("in_create") == 1
    else:
        assert rule == "Expression (old style)" and re.fullmatch(r"[A-Z]+-(\.(YYYY|YY)\.-)?\.#+", autoname), (
            autoname
        )


def test_permissions(meta):
    if meta.get("istable"):  # a child table's rows are read and written through their parent
        assert meta["permissions"] == [], meta["name"]
        return
    assert meta["permissions"], f"{meta['name']}: no permission rows"
    roles = [p["role"] for p in meta["permissions"]]
    assert len(roles) == len(set(roles)) and "System Manager" in roles
    for perm in meta["permissions"]:
        assert all(
            perm.get(k, 0) in (0, 1) for k in ("read", "write", "create", "delete", "report", "export")
        )


def test_the_rules_catch_mistakes():
    broken = {"doctype": "DocType", "fields": [{"fieldname": "owner", "fieldtype": "Text Area"}]}
    assert broken["fields"][0]["fieldname"] in RESERVED
    assert broken["fields"][0]["fieldtype"] not in V15_FIELDTYPES
    assert "Autocomplete" in V15_FIELDTYPES and "Attach" in V15_FIELDTYPES and len(V15_FIELDTYPES) == 43
