"""What `dartwing-jobs init` puts in a fresh store: example Job Types, an administrator, a demo
organization and a demo member, so the demo, the README's examples and a first submit work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import admin
from .runtime import StandaloneRuntime

ADMIN_USER = "Administrator"
DEMO_ORGANIZATION = "Demo Org"
DEMO_USER = "demo@example.com"

_EXAMPLES = "dartwing.dartwing_core.background_jobs.handlers.examples"

# (type_name, handler, options) — the same catalogue the Frappe fixtures ship.
EXAMPLE_JOB_TYPES: tuple[tuple[str, str, dict], ...] = (
    ("echo", f"{_EXAMPLES}.echo", {"description": "Returns its parameters."}),
    ("noop", f"{_EXAMPLES}.noop", {"deduplication_window": 0, "description": "Does nothing (benchmarks)."}),
    (
        "progress_demo",
        f"{_EXAMPLES}.progress_steps",
        {"deduplication_window": 0, "description": "Reports progress in steps."},
    ),
    (
        "flaky",
        f"{_EXAMPLES}.flaky",
        {"deduplication_window": 0, "max_retries": 3, "description": "Fails transiently, then succeeds."},
    ),
    (
        "always_fails",
        f"{_EXAMPLES}.always_fails",
        {"deduplication_window": 0, "max_retries": 3, "description": "Fails permanently."},
    ),
    ("sleep", f"{_EXAMPLES}.sleep", {"deduplication_window": 0, "description": "Sleeps, honouring cancel."}),
)

# The seed-004 maintenance types run standalone handlers; their settings (role, priority, timeout,
# dedup window, retries) are the ones the Frappe fixtures ship, read from the same file.
_MAINTENANCE = "dartwing.dartwing_core.standalone.maintenance"
MAINTENANCE_HANDLERS: dict[str, str] = {
    "cache_flush": f"{_MAINTENANCE}.cache_flush",
    "db_optimize": f"{_MAINTENANCE}.db_optimize",
    "log_rotate": f"{_MAINTENANCE}.log_rotate",
    "email_send": f"{_MAINTENANCE}.email_send",
    "cleanup": "dartwing.dartwing_core.background_jobs.handlers.maintenance.cleanup",
}
JOB_TYPE_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "job_type.json"
_NOT_OPTIONS = {"doctype", "name", "type_name", "handler_method"}


def maintenance_job_types() -> list[tuple[str, str, dict[str, Any]]]:
    """(type_name, standalone handler, options from the fixtures) for each seed-004 maintenance type."""
    fixtures = {doc["name"]: doc for doc in json.loads(JOB_TYPE_FIXTURES.read_text())}
    return [
        (name, handler, {k: v for k, v in fixtures[name].items() if k not in _NOT_OPTIONS})
        for name, handler in MAINTENANCE_HANDLERS.items()
    ]


def seed(rt: StandaloneRuntime) -> None:
    """Idempotent; commits."""
    admin.add_user(rt, ADMIN_USER, ("System Manager", "Job Administrator"))
    for type_name, handler, options in (*EXAMPLE_JOB_TYPES, *maintenance_job_types()):
        admin.upsert_job_type(rt, type_name, handler, **options)
    admin.add_organization(rt, DEMO_ORGANIZATION)
    admin.add_user(rt, DEMO_USER, ("Job User",))
    admin.add_member(rt, DEMO_USER, DEMO_ORGANIZATION)
    rt.commit()
