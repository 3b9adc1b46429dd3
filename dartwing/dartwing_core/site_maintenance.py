"""The seed-004 maintenance job types as a bench runs them, through the site's own services.

The default Job Types (background_jobs/handlers/catalogue.py) name these handlers for a bench
(`cleanup` runs the engine's own handler in both runtimes); the standalone runtime has its own
handlers for the same type names. Each does the real thing through Frappe's APIs and returns a
result dict.
"""

from __future__ import annotations

import time
from logging.handlers import RotatingFileHandler

import frappe

from dartwing.dartwing_core.background_jobs import JobContext, PermanentError
from dartwing.dartwing_core.background_jobs.handlers.maintenance import elapsed_ms, optimize_requested
from dartwing.dartwing_core.background_jobs.schema import JOB_DOCTYPES, table_name

APP_LOGGER = "dartwing"


def cache_flush(context: JobContext) -> dict:
    """Clear Frappe's cache for the site (`frappe.clear_cache`)."""
    started = time.monotonic()
    frappe.clear_cache()
    return {"status": "success", "action": "full", "duration_ms": elapsed_ms(started)}


def db_optimize(context: JobContext) -> dict:
    """ANALYZE the job tables (and OPTIMIZE them with `{"optimize": true}`); names are constants."""
    started = time.monotonic()
    optimize = optimize_requested(context)
    for doctype in JOB_DOCTYPES:
        frappe.db.sql(f"ANALYZE TABLE `{table_name(doctype)}`")
        if optimize:
            frappe.db.sql(f"OPTIMIZE TABLE `{table_name(doctype)}`")
    return {
        "status": "success",
        "tables_analyzed": len(JOB_DOCTYPES),
        "tables_optimized": len(JOB_DOCTYPES) if optimize else 0,
        "duration_ms": elapsed_ms(started),
    }


def log_rotate(context: JobContext) -> dict:
    """Roll over the app's log files (bench and site) through their RotatingFileHandlers."""
    started = time.monotonic()
    rotated = []
    for handler in frappe.logger(APP_LOGGER, allow_site=True).handlers:
        if isinstance(handler, RotatingFileHandler):
            handler.doRollover()
            rotated.append(handler.baseFilename)
    return {"status": "success", "logs_rotated": rotated, "duration_ms": elapsed_ms(started)}


def email_send(context: JobContext) -> dict:
    """Send an email with `frappe.sendmail` (the site's outgoing Email Account)."""
    params = context.parameters
    if not params.get("to") or not params.get("subject"):
        raise PermanentError("email_send needs 'to' and 'subject'")
    frappe.sendmail(
        recipients=[params["to"]],
        subject=params["subject"],
        message=params.get("message") or params.get("body") or "",
        now=True,
    )
    return {"status": "sent", "to": params["to"], "subject": params["subject"]}
