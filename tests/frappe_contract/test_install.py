"""Install and migrate under Frappe v15's rules (issue 19, defects 3 and 4): default Job Types are
inserted when missing and never overwritten; composite indexes are ensured on every migrate."""

from __future__ import annotations

import frappe

from dartwing.dartwing_core.background_jobs.handlers.catalogue import DEFAULT_JOB_TYPES
from dartwing.dartwing_core.background_jobs.schema import INDEXES, index_name


def _job_type(name: str) -> dict:
    return frappe.db.sql("select * from `tabJob Type` where name=%s", (name,), as_dict=True)[0]


def _indexes(doctype: str) -> set[str]:
    return {row[2] for row in frappe.db.sql(f"show index from `tab{doctype}`")}


def test_install_inserted_every_default_job_type(site):
    names = set(frappe.get_all("Job Type", pluck="name", limit_page_length=0))
    assert set(DEFAULT_JOB_TYPES) <= names


def test_an_operators_edits_survive_two_migrates(site):
    frappe.db.sql(
        "update `tabJob Type` set is_enabled=0, max_concurrent_per_org=3, max_retries=1 where name='echo'"
    )
    frappe.db.commit()
    site.migrate()
    site.migrate()
    echo = _job_type("echo")
    assert (echo.is_enabled, echo.max_concurrent_per_org, echo.max_retries) == (0, 3, 1)


def test_a_deleted_default_job_type_comes_back_at_migrate(site):
    frappe.db.sql("delete from `tabJob Type` where name='noop'")
    frappe.db.commit()
    site.migrate()
    assert _job_type("noop").handler_method.endswith("examples.noop")


def test_the_app_ships_no_job_type_fixture():
    """v15 `sync_fixtures` imports every `fixtures/*.json` with overwrite on each migrate."""
    from pathlib import Path

    import dartwing

    fixtures = Path(dartwing.__file__).parent / "fixtures"
    import json

    doctypes = {doc["doctype"] for path in fixtures.glob("*.json") for doc in json.loads(path.read_text())}
    assert "Job Type" not in doctypes


def test_a_missing_composite_index_is_restored_by_migrate(site):
    frappe.db.commit()
    name = index_name(INDEXES["Background Job"][0])
    assert name in _indexes("Background Job")
    frappe.db.sql_ddl(f"alter table `tabBackground Job` drop index `{name}`")
    site.migrate()  # the DocType JSON is unchanged, so Frappe itself runs no on_doctype_update
    assert name in _indexes("Background Job")
    site.migrate()  # and again: idempotent
    for doctype, indexes in INDEXES.items():
        assert {index_name(columns) for columns in indexes} <= _indexes(doctype)


def test_migrate_repoints_job_types_at_the_renamed_site_maintenance_module(site):
    """Sites installed with the old Job Type fixture name `bench_handlers.*` (renamed)."""
    frappe.db.sql(
        "update `tabJob Type` set handler_method='dartwing.dartwing_core.bench_handlers.cache_flush'"
        " where name='cache_flush'"
    )
    frappe.db.sql("delete from `tabPatch Log` where patch like %s", ("%site_maintenance_handlers%",))
    frappe.db.commit()
    site.migrate()
    assert _job_type("cache_flush").handler_method == "dartwing.dartwing_core.site_maintenance.cache_flush"
    site.migrate()  # logged: it does not run twice
    assert frappe.db.sql("select count(*) from `tabPatch Log` where patch like %s", ("%site_maintenance%",))[0][0] == 1


def test_migrate_gives_a_job_waiting_on_a_parent_from_before_fan_in_its_dependency_row(site):
    """A child submitted before fan-in has `depends_on` only; after the patch its parent's completion
    releases it at once, as a new child's does."""
    from dartwing.dartwing_core.background_jobs import execution, submit_job

    parent = submit_job("echo", "Org A", {"step": "parent"})
    child = submit_job("echo", "Org A", {"step": "child"}, depends_on=parent.name)
    frappe.db.sql("delete from `tabJob Dependency` where parent=%s", (child.name,))  # as before fan-in
    frappe.db.sql("update `tabBackground Job` set open_parents=0 where name=%s", (child.name,))
    frappe.db.sql("delete from `tabPatch Log` where patch like %s", ("%job_dependency_rows%",))
    frappe.db.commit()
    site.migrate()
    assert frappe.db.sql("select depends_on from `tabJob Dependency` where parent=%s", (child.name,)) == (
        (parent.name,),
    )
    assert execution.run_job(parent.name, 0) == "Completed"
    frappe.db.commit()
    assert frappe.db.get_value("Background Job", child.name, "status") == "Queued"
