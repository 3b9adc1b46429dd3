"""The Job Types every new site and every new store starts with: the examples and the seed-004
maintenance types, defined once for both runtimes.

A bench inserts the missing ones at install and at every migrate and never overwrites one that
exists, so an operator's edits (enabled, caps, retries) survive upgrades (`dartwing_core/install.py`);
`dartwing-jobs init` does the same standalone (`standalone/seed.py`). A maintenance type that needs the
host's own services names one handler per runtime.
"""

from __future__ import annotations

from typing import Any, Literal

Host = Literal["frappe", "standalone"]

_EXAMPLES = "dartwing.dartwing_core.background_jobs.handlers.examples"
_SITE = "dartwing.dartwing_core.site_maintenance"
_STANDALONE = "dartwing.dartwing_core.standalone.maintenance"
_CLEANUP = "dartwing.dartwing_core.background_jobs.handlers.maintenance.cleanup"
_OPERATORS = "Job Administrator"


def _per_host(name: str) -> dict[Host, str]:
    return {"frappe": f"{_SITE}.{name}", "standalone": f"{_STANDALONE}.{name}"}


# type_name → its fields; `handler_method` is one dotted path, or one per host.
DEFAULT_JOB_TYPES: dict[str, dict[str, Any]] = {
    "echo": {"handler_method": f"{_EXAMPLES}.echo", "description": "Returns its parameters."},
    "noop": {
        "handler_method": f"{_EXAMPLES}.noop",
        "deduplication_window": 0,
        "description": "Does nothing (benchmarks).",
    },
    "progress_demo": {
        "handler_method": f"{_EXAMPLES}.progress_steps",
        "deduplication_window": 0,
        "description": "Reports progress in steps.",
    },
    "flaky": {
        "handler_method": f"{_EXAMPLES}.flaky",
        "deduplication_window": 0,
        "max_retries": 3,
        "description": "Fails transiently, then succeeds.",
    },
    "always_fails": {
        "handler_method": f"{_EXAMPLES}.always_fails",
        "deduplication_window": 0,
        "max_retries": 3,
        "description": "Fails permanently.",
    },
    "sleep": {
        "handler_method": f"{_EXAMPLES}.sleep",
        "deduplication_window": 0,
        "description": "Sleeps, honouring cancel.",
    },
    "snooze_demo": {
        "handler_method": f"{_EXAMPLES}.snooze_demo",
        "deduplication_window": 0,
        "description": "Snoozes a few times (RetryLater), then succeeds.",
    },
    "cache_flush": {
        "handler_method": _per_host("cache_flush"),
        "max_retries": 3,
        "requires_role": _OPERATORS,
        "description": "Clears the application cache (a bench: Frappe's cache; standalone: RQ's finished-job records).",
    },
    "db_optimize": {
        "handler_method": _per_host("db_optimize"),
        "default_priority": "Low",
        "default_timeout": 1800,
        "max_retries": 3,
        "requires_role": _OPERATORS,
        "description": "ANALYZE of the job tables (with optimize=true also OPTIMIZE TABLE, or VACUUM on SQLite).",
    },
    "log_rotate": {
        "handler_method": _per_host("log_rotate"),
        "default_priority": "Low",
        "max_retries": 3,
        "requires_role": _OPERATORS,
        "description": "Rolls over the app's log files (a bench: the dartwing logger's files; standalone: <home>/logs).",
    },
    "email_send": {
        "handler_method": _per_host("email_send"),
        "deduplication_window": 60,
        "max_retries": 3,
        "requires_role": _OPERATORS,
        "description": "Sends an email (a bench: frappe.sendmail; standalone: the DARTWING_SMTP_* server).",
    },
    "cleanup": {
        "handler_method": _CLEANUP,
        "default_priority": "Low",
        "default_timeout": 1800,
        "max_retries": 3,
        "requires_role": _OPERATORS,
        "description": "Deletes finished jobs older than retention_days (30).",
    },
}

# What a Job Type has when the catalogue does not say (the DocType's own defaults).
_FIELD_DEFAULTS: dict[str, Any] = {
    "default_priority": "Normal",
    "default_timeout": 300,
    "max_retries": 5,
    "deduplication_window": 300,
    "max_concurrent_per_org": 0,
    "requires_role": None,
    "queue": None,
    "is_enabled": 1,
}


def default_job_types(host: Host) -> list[dict[str, Any]]:
    """The catalogue as Job Type field values for `host`, in catalogue order."""
    types = []
    for type_name, fields in DEFAULT_JOB_TYPES.items():
        handler = fields["handler_method"]
        types.append(
            {
                **_FIELD_DEFAULTS,
                **fields,
                "type_name": type_name,
                "display_name": type_name.replace("_", " ").title(),
                "handler_method": handler[host] if isinstance(handler, dict) else handler,
            }
        )
    return types
