"""Static checks of the Frappe binding, run in CI where no bench exists: hooks, dotted paths,
fixtures, whitelisted endpoints and the fields the engine's SQL names."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from dartwing.dartwing_core.api.service import ENDPOINTS
from dartwing.dartwing_core.background_jobs import schema
from dartwing.dartwing_core.background_jobs.execution import resolve_handler
from dartwing.dartwing_core.background_jobs.handlers.catalogue import DEFAULT_JOB_TYPES, default_job_types
from dartwing.dartwing_core.background_jobs.scheduler import SCHEDULE
from dartwing.dartwing_core.standalone import tables as standalone_tables

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dartwing"
HOOKS = APP / "hooks.py"


def _hooks_tree() -> ast.Module:
    return ast.parse(HOOKS.read_text())


def _hooks() -> dict:
    namespace: dict = {}
    exec(compile(HOOKS.read_text(), str(HOOKS), "exec"), namespace)  # hooks.py is plain data
    return namespace


def test_hooks_dicts_have_no_duplicate_keys():
    for node in ast.walk(_hooks_tree()):
        if isinstance(node, ast.Dict):
            keys = [ast.literal_eval(k) for k in node.keys if k is not None]
            duplicates = [k for k, n in Counter(keys).items() if n > 1]
            assert not duplicates, f"hooks.py line {node.lineno}: duplicate keys {duplicates}"


def test_duplicate_key_check_can_fail():
    tree = ast.parse("d = {'Company': 'a', 'Company': 'b'}")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.Dict))
    keys = [ast.literal_eval(k) for k in node.keys]
    assert Counter(keys)["Company"] == 2


def _dotted_paths(value) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith("dartwing.") else []
    if isinstance(value, dict):
        return [p for v in value.values() for p in _dotted_paths(v)]
    if isinstance(value, list | tuple):
        return [p for v in value for p in _dotted_paths(v)]
    return []


def _defines(dotted: str) -> bool:
    """The module file exists and defines the name at top level (checked without importing Frappe)."""
    module, _, name = dotted.rpartition(".")
    spec = importlib.util.find_spec(module)
    assert spec and spec.origin, f"{dotted}: module {module} not found"
    tree = ast.parse(Path(spec.origin).read_text())
    return any(
        isinstance(node, ast.FunctionDef | ast.ClassDef)
        and node.name == name
        or isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == name for t in node.targets)
        for node in tree.body
    )


def test_every_dotted_path_in_hooks_resolves():
    hooks = _hooks()
    paths = [
        p
        for key in (
            "scheduler_events",
            "permission_query_conditions",
            "has_permission",
            "doc_events",
            "after_install",
            "after_migrate",
        )
        for p in _dotted_paths(hooks.get(key, {}))
    ]
    assert len(paths) >= 9
    for path in paths:
        assert _defines(path), f"hooks.py names {path}, which does not exist"


def test_scheduler_events_match_the_engine_schedule():
    cron = _hooks()["scheduler_events"]["cron"]
    assert {expr: paths[0] for expr, paths in cron.items()} == SCHEDULE


def test_permission_hooks_cover_the_job_doctypes_and_organization():
    hooks = _hooks()
    for key in ("permission_query_conditions", "has_permission"):
        assert set(hooks[key]) == {
            "Background Job", "Job Execution Log", "Job Type", "Organization", "Job Schedule", "Job Schedule Run"
        }


def test_fixtures_load_and_name_real_roles_and_cards():
    roles = json.loads((APP / "fixtures" / "role.json").read_text())
    assert {r["name"] for r in roles} == {"Job Administrator", "Job User"}
    permission_roles = {
        p["role"] for dt in schema.JOB_DOCTYPES for p in schema.load_doctype(dt)["permissions"]
    }
    assert {"Job Administrator", "Job User"} <= permission_roles
    # Frappe re-imports fixtures/*.json with overwrite on every migrate: Job Types must not be one.
    shipped = {doc["doctype"] for path in (APP / "fixtures").glob("*.json") for doc in json.loads(path.read_text())}
    assert shipped == {"Role", "Number Card", "Dashboard Chart"}
    assert {f["dt"] for f in _hooks()["fixtures"]} == shipped


def test_default_job_types_are_valid_in_both_runtimes():
    fields = {f["fieldname"] for f in schema.load_doctype("Job Type")["fields"]}
    frappe_types = {t["type_name"]: t for t in default_job_types("frappe")}
    standalone_types = {t["type_name"]: t for t in default_job_types("standalone")}
    assert set(frappe_types) == set(standalone_types) == set(DEFAULT_JOB_TYPES)
    assert {"echo", "progress_demo", "cache_flush", "db_optimize", "log_rotate", "email_send", "cleanup"} <= set(
        frappe_types
    )
    for name, job_type in frappe_types.items():
        assert set(job_type) <= fields, name
        handler = job_type["handler_method"]
        if handler.startswith("dartwing.dartwing_core.site_maintenance."):
            assert _defines(handler), handler  # needs Frappe to import
        else:
            assert callable(resolve_handler(handler))
        assert callable(resolve_handler(standalone_types[name]["handler_method"]))
        # one set of settings: only the handler of a maintenance type differs between the runtimes
        assert {k: v for k, v in job_type.items() if k != "handler_method"} == {
            k: v for k, v in standalone_types[name].items() if k != "handler_method"
        }
    assert frappe_types["cleanup"]["handler_method"] == standalone_types["cleanup"]["handler_method"]


def test_number_cards_name_real_methods_and_filters():
    for card in json.loads((APP / "fixtures" / "number_card.json").read_text()):
        assert card["doctype"] == "Number Card" and card["module"] == "Dartwing Core"
        if card["type"] == "Custom":
            assert _defines(card["method"]), card["method"]
        else:
            assert card["document_type"] == "Background Job" and json.loads(card["filters_json"])


def test_every_endpoint_is_whitelisted_with_its_methods():
    tree = ast.parse((APP / "dartwing_core" / "api" / "jobs.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and ast.unparse(deco.func) == "frappe.whitelist":
                    methods = next(ast.literal_eval(k.value) for k in deco.keywords if k.arg == "methods")
                    found[node.name] = tuple(methods)
    assert found == ENDPOINTS


def test_no_module_under_background_jobs_imports_frappe_at_module_level():
    for path in (APP / "dartwing_core" / "background_jobs").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "frappe" or n.startswith("frappe.") for n in names), f"{path} imports frappe"


COLUMN_REFERENCE = re.compile(r"\b(bj|jt|log|om|org|person|hr|s|schema\.\w+)\.c\.(\w+)")


@pytest.mark.parametrize("path", sorted((APP / "dartwing_core").rglob("*.py")), ids=lambda p: p.name)
def test_every_column_the_engine_names_exists(path):
    tables = list(schema.metadata.sorted_tables) + list(standalone_tables.metadata.sorted_tables)
    known = {column.name for table in tables for column in table.columns}
    for _, column in COLUMN_REFERENCE.findall(path.read_text()):
        assert column in known, f"{path.name} names column {column!r}, which no DocType JSON defines"


@pytest.mark.parametrize("doctype", schema.JOB_DOCTYPES)
def test_controllers_exist_with_frappe_class_names(doctype):
    folder = APP / "dartwing_core" / "doctype" / schema.scrub(doctype)
    tree = ast.parse((folder / f"{schema.scrub(doctype)}.py").read_text())
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert doctype.replace(" ", "") in classes
