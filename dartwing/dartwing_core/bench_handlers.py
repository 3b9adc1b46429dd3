"""The seed-004 maintenance job types as they run inside a bench (Frappe context).

The Frappe fixtures point these Job Types here; the standalone runtime has its own handlers for the
same type names. Each does the real thing through Frappe's APIs and returns a result dict.
"""

from __future__ import annotations

import time
from logging.handlers import RotatingFileHandler

import frappe

from dartwing.dartwing_core.background_jobs import JobContext, PermanentError
from dartwing.dartwing_core.background_jobs.cleanup import RETENTION_DAYS, cleanup_old_jobs
from dartwing.dartwing_core.background_jobs.schema import JOB_DOCTYPES, table_name

APP_LOGGER = "dartwing"


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def cache_flush(context: JobContext) -> dict:
    """Clear Frappe's cache for the site (`frappe.clear_cache`)."""
    started = time.monotonic()
    frappe.clear_cache()
    return {"status": "success", "action": "full", "duration_ms": _elapsed_ms(started)}


def db_optimize(context: JobContext) -> dict:
    """ANALYZE the job tables (and OPTIMIZE them with `{"optimize": true}`); names are constants."""
    started = time.monotonic()
    optimize = bool(context.parameters.get("optimize"))
    for doctype in JOB_DOCTYPES:
        frappe.db.sql(f"ANALYZE TABLE `{table_name(doctype)}`")
        if optimize:
            frappe.db.sql(f"OPTIMIZE TABLE `{table_name(doctype)}`")
    return {
        "status": "success",
        "tables_analyzed": len(JOB_DOCTYPES),
        "tables_optimized": len(JOB_DOCTYPES) if optimize else 0,
        "duration_ms": _elapsed_ms(started),
    }


def log_rotate(context: JobContext) -> dict:
    """Roll over the app's log files (bench and site) through their RotatingFileHandlers."""
    started = time.monotonic()
    rotated = []
    for handler in frappe.logger(APP_LOGGER, allow_site=True).handlers:
        if isinstance(handler, RotatingFileHandler):
            handler.doRollover()
            rotated.append(handler.baseFilename)
    return {"status": "success", "logs_rotated": rotated, "duration_ms": _elapsed_ms(started)}


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


def cleanup(context: JobContext) -> dict:
    """Delete finished jobs (and their logs) older than `retention_days` (default 30)."""
    started = time.monotonic()
    days = int(context.parameters.get("retention_days", RETENTION_DAYS))
    if days < 1:
        raise PermanentError("retention_days must be at least 1")
    deleted = cleanup_old_jobs(retention_days=days)
    return {"status": "success", "records_deleted": deleted, "duration_ms": _elapsed_ms(started)}
