"""The Desk files Frappe v15 imports as they are: the Dead Letter Queue report, the Background Jobs
workspace and the number cards in fixtures. Checked without Frappe (CI has no bench).

The field lists are Frappe v15's own (version-15 branch): the data fields of
frappe/core/doctype/report/report.json, frappe/desk/doctype/number_card/number_card.json,
frappe/desk/doctype/workspace/workspace.json and the child DocTypes those tables use (layout
breaks left out, since a document never has them), plus the standard columns of every document
(frappe/model/__init__.py: default_fields, child_table_fields, optional_fields). A key outside
them is silently dropped on import, so whatever it was meant to do is not done.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "dartwing"
MODULE = APP / "dartwing_core"
REPORT_DIR = MODULE / "report" / "dead_letter_queue"
REPORT_JSON = REPORT_DIR / "dead_letter_queue.json"
WORKSPACE_JSON = MODULE / "workspace" / "background_jobs" / "background_jobs.json"
NUMBER_CARDS_JSON = APP / "fixtures" / "number_card.json"
HOOKS = APP / "hooks.py"

STANDARD_FIELDS = {
    # default_fields
    "doctype",
    "name",
    "owner",
    "creation",
    "modified",
    "modified_by",
    "docstatus",
    "idx",
    # child_table_fields
    "parent",
    "parentfield",
    "parenttype",
    # optional_fields
    "_user_tags",
    "_comments",
    "_assign",
    "_liked_by",
    "_seen",
}

V15_REPORT_FIELDS = {
    "add_total_row",
    "columns",
    "disabled",
    "filters",
    "is_standard",
    "javascript",
    "json",
    "letter_head",
    "module",
    "prepared_report",
    "query",
    "ref_doctype",
    "reference_report",
    "report_name",
    "report_script",
    "report_type",
    "roles",
    "timeout",
}
V15_REPORT_TYPES = {"Report Builder", "Query Report", "Script Report", "Custom Report"}

V15_NUMBER_CARD_FIELDS = {
    "aggregate_function_based_on",
    "color",
    "document_type",
    "dynamic_filters_json",
    "filters_config",
    "filters_json",
    "function",
    "is_public",
    "is_standard",
    "label",
    "method",
    "module",
    "parent_document_type",
    "report_field",
    "report_function",
    "report_name",
    "show_percentage_stats",
    "stats_time_interval",
    "type",
}
V15_NUMBER_CARD_TYPES = {"Document Type", "Report", "Custom"}
V15_NUMBER_CARD_FUNCTIONS = {"Count", "Sum", "Average", "Minimum", "Maximum"}
V15_STATS_TIME_INTERVALS = {"Daily", "Weekly", "Monthly", "Yearly"}

V15_WORKSPACE_FIELDS = {
    "charts",
    "content",
    "custom_blocks",
    "for_user",
    "hide_custom",
    "icon",
    "indicator_color",
    "is_hidden",
    "label",
    "links",
    "module",
    "number_cards",
    "parent_page",
    "public",
    "quick_lists",
    "restrict_to_domain",
    "roles",
    "sequence_id",
    "shortcuts",
    "title",
}
V15_WORKSPACE_NUMBER_CARD_FIELDS = {"label", "number_card_name"}
V15_WORKSPACE_SHORTCUT_FIELDS = {
    "color",
    "doc_view",
    "format",
    "icon",
    "kanban_board",
    "label",
    "link_to",
    "restrict_to_domain",
    "stats_filter",
    "type",
    "url",
}
V15_WORKSPACE_LINK_FIELDS = {
    "dependencies",
    "description",
    "hidden",
    "icon",
    "is_query_report",
    "label",
    "link_count",
    "link_to",
    "link_type",
    "onboard",
    "only_for",
    "report_ref_doctype",
    "type",
}
V15_HAS_ROLE_FIELDS = {"role"}


def load(path: Path):
    return json.loads(path.read_text())


def unknown_keys(doc: dict, fields: set[str]) -> set[str]:
    return set(doc) - fields - STANDARD_FIELDS


def app_doctype(name: str) -> dict | None:
    folder = name.lower().replace(" ", "_")
    path = MODULE / "doctype" / folder / f"{folder}.json"
    return load(path) if path.exists() else None


@pytest.fixture(scope="module")
def report():
    return load(REPORT_JSON)


@pytest.fixture(scope="module")
def cards():
    return load(NUMBER_CARDS_JSON)


@pytest.fixture(scope="module")
def workspace():
    return load(WORKSPACE_JSON)


@pytest.fixture(scope="module")
def content(workspace):
    blocks = json.loads(workspace["content"])
    assert isinstance(blocks, list)
    return blocks


# --- the report --------------------------------------------------------------------------------


def test_report_json_has_only_v15_report_fields(report):
    assert not unknown_keys(report, V15_REPORT_FIELDS)
    for row in report.get("roles", []):
        assert not unknown_keys(row, V15_HAS_ROLE_FIELDS), row


def test_report_is_a_script_report_that_is_never_prepared(report):
    assert "disable_prepared_report" not in report  # not a v15 field: dropped on import
    assert report["prepared_report"] == 0  # v15's "run in the background as a Prepared Report"
    assert report["report_type"] in V15_REPORT_TYPES
    assert report["report_type"] == "Script Report"
    assert report["is_standard"] == "Yes"
    assert report["name"] == report["report_name"] == "Dead Letter Queue"
    assert report["module"] == "Dartwing Core"
    assert app_doctype(report["ref_doctype"]) is not None
    assert (REPORT_DIR / "dead_letter_queue.py").exists()
    assert (REPORT_DIR / "dead_letter_queue.js").exists()


# --- the number cards --------------------------------------------------------------------------


def whitelisted_functions(module_path: Path) -> set[str]:
    tree = ast.parse(module_path.read_text())
    names = set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if (isinstance(target, ast.Attribute) and target.attr == "whitelist") or (
                isinstance(target, ast.Name) and target.id == "whitelist"
            ):
                names.add(node.name)
    return names


def test_there_are_three_number_cards_with_distinct_names_and_labels(cards):
    assert isinstance(cards, list)
    assert len(cards) == 3
    assert len({c["name"] for c in cards}) == 3
    assert len({c["label"] for c in cards}) == 3
    assert all(c["doctype"] == "Number Card" for c in cards)


def test_number_cards_have_only_v15_number_card_fields(cards):
    for card in cards:
        assert not unknown_keys(card, V15_NUMBER_CARD_FIELDS), card["name"]


def test_number_cards_are_exported_by_the_fixture_filter_in_hooks(cards):
    # hooks.py is read, not imported: it is Frappe's to import
    tree = ast.parse(HOOKS.read_text())
    fixtures = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "fixtures" for t in node.targets)
    )
    entry = next(f for f in fixtures if isinstance(f, dict) and f.get("dt") == "Number Card")
    assert entry["filters"] == [["module", "=", "Dartwing Core"]]
    assert all(card["module"] == "Dartwing Core" for card in cards)


@pytest.mark.parametrize("index", range(3))
def test_number_card_is_valid_for_v15(cards, index):
    card = cards[index]
    assert card["label"], "label is mandatory"
    assert card["type"] in V15_NUMBER_CARD_TYPES
    assert card["type"] != "Report", "no card here reads a report"
    if card.get("show_percentage_stats"):
        assert card["stats_time_interval"] in V15_STATS_TIME_INTERVALS
    # Frappe v15 lets a user who is not a System Manager see a non-report card only when they
    # can read its document_type, so the Custom card names the DocType too.
    assert card.get("document_type"), f"{card['name']} has no document_type"
    meta = app_doctype(card["document_type"])
    assert meta is not None, card["document_type"]

    if card["type"] == "Document Type":
        assert card["function"] in V15_NUMBER_CARD_FUNCTIONS
        if card["function"] != "Count":
            assert card.get("aggregate_function_based_on")
        fields = {f["fieldname"]: f for f in meta["fields"]}
        for condition in json.loads(card.get("filters_json") or "[]"):
            doctype, fieldname, operator, value = condition[:4]
            assert doctype == card["document_type"]
            assert fieldname in fields or fieldname in STANDARD_FIELDS, fieldname
            assert operator in {"=", "!=", "in", "not in", ">", "<", ">=", "<=", "like", "is"}
            field = fields.get(fieldname)
            if field and field["fieldtype"] == "Select" and operator == "=":
                assert value in field["options"].split("\n"), value
    else:
        module_path, _, function = card["method"].rpartition(".")
        path = REPO / (module_path.replace(".", "/") + ".py")
        assert path.exists(), card["method"]
        assert function in whitelisted_functions(path), f"{card['method']} is not whitelisted"


# --- the workspace ------------------------------------------------------------------------------


def test_workspace_has_only_v15_workspace_fields(workspace):
    assert not unknown_keys(workspace, V15_WORKSPACE_FIELDS)
    tables = {
        "number_cards": V15_WORKSPACE_NUMBER_CARD_FIELDS,
        "shortcuts": V15_WORKSPACE_SHORTCUT_FIELDS,
        "links": V15_WORKSPACE_LINK_FIELDS,
        "roles": V15_HAS_ROLE_FIELDS,
    }
    for table, fields in tables.items():
        for row in workspace.get(table, []):
            assert not unknown_keys(row, fields), (table, row)


def test_workspace_number_cards_are_exactly_the_fixture_cards(workspace, cards):
    rows = workspace["number_cards"]
    referenced = [row["number_card_name"] for row in rows]
    assert len(referenced) == len(set(referenced))
    assert set(referenced) == {card["name"] for card in cards}
    labels = {card["name"]: card["label"] for card in cards}
    for row in rows:
        assert row["label"] == labels[row["number_card_name"]]


def test_workspace_content_shows_each_number_card_once(workspace, content):
    # Frappe v15's number_card block finds its widget by the label of the number_cards row
    # (the card's name when the row has no label)
    row_labels = [row.get("label") or row["number_card_name"] for row in workspace["number_cards"]]
    shown = [block["data"]["number_card_name"] for block in content if block["type"] == "number_card"]
    assert sorted(shown) == sorted(row_labels)
    assert len(shown) == 3


def test_workspace_content_blocks_reference_rows_that_exist(workspace, content):
    ids = [block["id"] for block in content]
    assert len(ids) == len(set(ids))
    shortcuts = {row["label"] for row in workspace["shortcuts"]}
    card_breaks = {row["label"] for row in workspace["links"] if row["type"] == "Card Break"}
    for block in content:
        if block["type"] == "shortcut":
            assert block["data"]["shortcut_name"] in shortcuts
        elif block["type"] == "card":
            assert block["data"]["card_name"] in card_breaks


# --- the dashboard charts -------------------------------------------------------------------------
# frappe/desk/doctype/dashboard_chart/dashboard_chart.json (version-15), data fields
V15_DASHBOARD_CHART_FIELDS = {
    "aggregate_function_based_on",
    "based_on",
    "chart_name",
    "chart_type",
    "color",
    "custom_options",
    "document_type",
    "dynamic_filters_json",
    "filters_json",
    "from_date",
    "group_by_based_on",
    "group_by_type",
    "heatmap_year",
    "is_public",
    "is_standard",
    "last_synced_on",
    "module",
    "number_of_groups",
    "parent_document_type",
    "report_name",
    "roles",
    "source",
    "time_interval",
    "timeseries",
    "timespan",
    "to_date",
    "type",
    "use_report_chart",
    "value_based_on",
    "x_field",
    "y_axis",
}
V15_CHART_TYPES = {"Count", "Sum", "Average", "Group By", "Custom", "Report"}
V15_CHART_RENDER_TYPES = {"Line", "Bar", "Percentage", "Pie", "Donut", "Heatmap"}
V15_DASHBOARD_CHART_SOURCE_FIELDS = {"source_name", "module", "timeseries"}
V15_WORKSPACE_CHART_FIELDS = {"chart_name", "label"}
CHARTS_JSON = APP / "fixtures" / "dashboard_chart.json"
CHART_SOURCE_DIR = MODULE / "dashboard_chart_source"


@pytest.fixture(scope="module")
def charts():
    return load(CHARTS_JSON)


def test_dashboard_charts_are_valid_v15_charts_exported_by_hooks(charts):
    tree = ast.parse(HOOKS.read_text())
    fixtures = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "fixtures" for t in node.targets)
    )
    entry = next(f for f in fixtures if isinstance(f, dict) and f.get("dt") == "Dashboard Chart")
    assert entry["filters"] == [["module", "=", "Dartwing Core"]]
    assert {c["name"] for c in charts} == {"Jobs by Status over Time", "Job Failures", "Jobs by Status"}
    for chart in charts:
        assert not unknown_keys(chart, V15_DASHBOARD_CHART_FIELDS), chart["name"]
        assert chart["doctype"] == "Dashboard Chart" and chart["module"] == "Dartwing Core"
        assert chart["name"] == chart["chart_name"]  # v15 names a chart by its chart_name
        assert chart["chart_type"] in V15_CHART_TYPES and chart["type"] in V15_CHART_RENDER_TYPES
        assert chart["is_standard"] == 0  # a fixture; standard charts live in module folders
        json.loads(chart["filters_json"])  # mandatory, and JSON
        if chart.get("custom_options"):
            json.loads(chart["custom_options"])
        if chart["chart_type"] == "Group By":  # DashboardChart.check_required_field
            fields = {f["fieldname"] for f in app_doctype(chart["document_type"])["fields"]}
            assert chart["group_by_based_on"] in fields and chart["group_by_type"] == "Count"
        else:
            assert chart["chart_type"] == "Custom" and chart["source"]


def test_the_custom_charts_source_is_synced_from_the_module_and_whitelisted(charts):
    for source in {c["source"] for c in charts if c["chart_type"] == "Custom"}:
        folder = CHART_SOURCE_DIR / source.lower().replace(" ", "_")
        doc = load(folder / f"{folder.name}.json")
        assert not unknown_keys(doc, V15_DASHBOARD_CHART_SOURCE_FIELDS)
        assert doc["doctype"] == "Dashboard Chart Source" and doc["name"] == doc["source_name"] == source
        assert doc["module"] == "Dartwing Core"
        script = (folder / f"{folder.name}.js").read_text()  # get_config reads this file
        assert f'frappe.dashboards.chart_sources["{source}"]' in script
        method = script.split('method: "', 1)[1].split('"', 1)[0]
        module_path, _, function = method.rpartition(".")
        assert function in whitelisted_functions(REPO / (module_path.replace(".", "/") + ".py")), method
    assert (CHART_SOURCE_DIR / "__init__.py").exists()


def test_workspace_shows_each_chart_once(workspace, content, charts):
    rows = workspace["charts"]
    for row in rows:
        assert not unknown_keys(row, V15_WORKSPACE_CHART_FIELDS), row
    assert {row["chart_name"] for row in rows} == {c["name"] for c in charts}
    labels = {row.get("label") or row["chart_name"] for row in rows}
    shown = [block["data"]["chart_name"] for block in content if block["type"] == "chart"]
    assert sorted(shown) == sorted(labels)
