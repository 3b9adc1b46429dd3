"""Job Types made by the old Job Type fixture name `dartwing.dartwing_core.bench_handlers.*`, a module
now called `site_maintenance`; the install hook never overwrites an existing Job Type, so rewrite the
dotted paths here (post_model_sync: the Job Type table is current)."""

import frappe

OLD, NEW = "dartwing.dartwing_core.bench_handlers.", "dartwing.dartwing_core.site_maintenance."


def execute():
    frappe.db.sql(
        "update `tabJob Type` set handler_method = concat(%s, substring(handler_method, %s))"
        " where handler_method like %s",
        (NEW, len(OLD) + 1, OLD.replace("_", "\\_") + "%"),
    )
