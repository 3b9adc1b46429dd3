"""The Frappe runtime's job and submit paths run precompiled MariaDB text (background_jobs/
mariadb_statements.py), so a stock `bench worker` horse that never imported the app runs its job
without importing SQLAlchemy.

`test_the_job_and_submit_paths_run_only_precompiled_statements` records every named statement (and
parameter names) that the Frappe runtime runs over a fixed set of submits and job runs, and fails if
that set differs from the file's, in either direction. With DARTWING_WRITE_PRECOMPILED=1 it rewrites
the file from what it recorded instead (tests/test_precompiled_sql.py checks, without a database,
that every entry is what sql.to_mariadb compiles today).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import frappe
import pytest
from precompiled_statements import render_module

from dartwing.dartwing_core.background_jobs import (
    DuplicateJobError,
    execution,
    mariadb_statements,
    submit_job,
)
from dartwing.dartwing_core.background_jobs.overdue import claim_minute_sweep
from dartwing.dartwing_core.background_jobs.queueing import RUN_JOB
from dartwing.dartwing_core.background_jobs.statements import Statement
from dartwing.dartwing_core.frappe_runtime import FrappeRuntime

from .conftest import ALICE, ORG_A, ORG_B, add_job_type

WRITE = os.environ.get("DARTWING_WRITE_PRECOMPILED") == "1"


@pytest.fixture
def recorded(monkeypatch) -> set[tuple[str, tuple[str, ...]]]:
    """(statement key, sorted parameter names) of each named statement the Frappe runtime runs."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    execute = FrappeRuntime.execute

    def recording(self, statement, params=None):
        if isinstance(statement, Statement) and params is not None:
            for one in params if isinstance(params, list) else [params]:
                seen.add((statement.key, tuple(sorted(one))))
        return execute(self, statement, params)

    monkeypatch.setattr(FrappeRuntime, "execute", recording)
    # The overdue minute sweep runs when this process wins its turn in Redis: not a fixed path, and
    # a horse runs it at most once a minute, so its statements are left to compile on demand.
    monkeypatch.setattr(execution, "run_minute_sweep_if_overdue", lambda rt, before=None: False)
    monkeypatch.setenv("DARTWING_HEARTBEAT_SECONDS", "0.05")
    return seen


def _run(name: str) -> str:
    """Run the job's RQ message in this process, as a work horse's execute_job would, then commit."""
    frappe.db.commit()
    attempt = frappe.db.sql("select attempt from `tabBackground Job` where name=%s", (name,))[0][0]
    status = execution.run_job(name, attempt)
    frappe.db.commit()
    return status


def _submit_as(user: str, *args, **kwargs):
    frappe.set_user(user)
    try:
        return submit_job(*args, **kwargs)
    finally:
        frappe.set_user("Administrator")


def test_the_job_and_submit_paths_run_only_precompiled_statements(site, recorded):
    add_job_type("cancels_itself", "frappe_contract.handlers.cancel_self_at_checkpoint")
    add_job_type("rate_limited", "dartwing.dartwing_core.background_jobs.handlers.examples.noop",
                 rate_limit_count=1, rate_limit_period=3600)
    add_job_type("rate_limited_per_org", "dartwing.dartwing_core.background_jobs.handlers.examples.noop",
                 rate_limit_count=1, rate_limit_period=3600, rate_limit_per_org=1)
    noop = submit_job("noop", ORG_A)
    echo = _submit_as(ALICE, "echo", ORG_A, {"n": 1})
    with pytest.raises(DuplicateJobError):
        _submit_as(ALICE, "echo", ORG_A, {"n": 1})
    progress = submit_job("progress_demo", ORG_A, {"steps": 2, "delay": 0})
    parent = submit_job("echo", ORG_A, {"step": "parent"})
    child = submit_job("echo", ORG_A, {"step": "child"}, depends_on=parent.name)
    fan_in = submit_job("echo", ORG_A, {"step": "fan-in"}, depends_on=[parent.name, echo.name])
    flaky = submit_job("flaky", ORG_A, {"fail_times": 1})
    failing = submit_job("always_fails", ORG_A, {"record": 7})
    orphaned = submit_job("echo", ORG_A, {"step": "canceled with its parent"}, depends_on=failing.name)
    slow = submit_job("sleep", ORG_A, {"seconds": 0.3, "check_every": 0.02})
    frappe.db.sql("update `tabOrganization` set max_concurrent_jobs=1 where name=%s", (ORG_B,))
    capped = [submit_job("noop", ORG_B, {"capped": n}) for n in range(2)]
    canceled = submit_job("cancels_itself", ORG_A)
    limited = [submit_job(job_type, ORG_A, {"n": n}) for job_type in ("rate_limited", "rate_limited_per_org")
               for n in range(2)]
    delayed = submit_job("echo", ORG_A, {"step": "delayed"}, delay=600)
    snoozer = submit_job("snooze_demo", ORG_A, {"times": 1, "seconds": 600})
    frappe.db.commit()

    assert [_run(job.name) for job in (noop, echo, progress, parent, child, fan_in)] == ["Completed"] * 6
    assert _run(flaky.name) == "Failed"
    assert _run(failing.name) == "Dead Letter"
    assert frappe.db.get_value("Background Job", orphaned.name, "status") == "Canceled"
    assert _run(slow.name) == "Completed"  # its heartbeat beat while it slept
    assert _run(capped[0].name) == "Completed"  # its finish releases the one waiting behind the cap
    assert _run(capped[1].name) == "Completed"
    assert _run(canceled.name) == "Canceled"
    for first, second in (limited[:2], limited[2:]):
        assert _run(first.name) == "Completed"
        frappe.db.sql("update `tabBackground Job` set status='Queued' where name=%s", (second.name,))
        assert _run(second.name) == "not claimed"  # the window is full: held Pending
        assert frappe.db.get_value("Background Job", second.name, "status") == "Pending"
    assert delayed.status == "Pending"
    assert _run(snoozer.name) == "Pending"

    if WRITE:
        Path(mariadb_statements.__file__).write_text(render_module(recorded))
        pytest.skip(f"wrote {len(recorded)} statements to {mariadb_statements.__file__}")
    listed = set(mariadb_statements.STATEMENTS)
    assert not recorded - listed, f"run but not precompiled (rewrite with DARTWING_WRITE_PRECOMPILED=1): {sorted(recorded - listed)}"
    assert not listed - recorded, f"precompiled but never run (rewrite with DARTWING_WRITE_PRECOMPILED=1): {sorted(listed - recorded)}"


def test_a_fresh_work_horse_runs_a_job_without_importing_sqlalchemy(site):
    """As a stock `bench worker` horse that never imported the app: a fresh interpreter with only
    Frappe loaded runs one job through execute_job, and SQLAlchemy is still not imported after it.
    (The minute sweep's turn is taken first: the horse that takes it imports the sweeps, which use
    SQLAlchemy, at most once a minute.)"""
    assert claim_minute_sweep(FrappeRuntime())
    job = submit_job("progress_demo", ORG_A, {"steps": 1, "delay": 0})
    frappe.db.commit()
    attempt = frappe.db.sql("select attempt from `tabBackground Job` where name=%s", (job.name,))[0][0]
    script = textwrap.dedent(f"""
        import sys
        from frappe.utils.background_jobs import execute_job
        execute_job({site.site!r}, {RUN_JOB!r}, None, "cold-start",
                    {{"background_job": {job.name!r}, "attempt": {attempt}}}, user="Administrator")
        print("sqlalchemy" in sys.modules, sorted(m for m in sys.modules if m.startswith("sqlalchemy"))[:3])
    """)
    env = {**os.environ, **site.environ()}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=site.sites_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "False", out.stdout + out.stderr
    frappe.db.rollback()
    assert frappe.db.sql("select status from `tabBackground Job` where name=%s", (job.name,))[0][0] == "Completed"
