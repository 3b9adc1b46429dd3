"""What `dartwing-jobs init` puts in a fresh store: example Job Types, an administrator, a demo
organization and a demo member, so the demo, the README's examples and a first submit work."""

from __future__ import annotations

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


def seed(rt: StandaloneRuntime) -> None:
    """Idempotent; commits."""
    admin.add_user(rt, ADMIN_USER, ("System Manager", "Job Administrator"))
    for type_name, handler, options in EXAMPLE_JOB_TYPES:
        admin.upsert_job_type(rt, type_name, handler, **options)
    admin.add_organization(rt, DEMO_ORGANIZATION)
    admin.add_user(rt, DEMO_USER, ("Job User",))
    admin.add_member(rt, DEMO_USER, DEMO_ORGANIZATION)
    rt.commit()
