"""The transaction contract under Frappe v15's rules (issue 19, defects 1, 2, 6 and 7).

Writers join the caller's transaction and never end it; what they send leaves after the caller's
commit; readers never end it; nothing commits or rolls back inside an after-commit callback; progress
and cancel checkpoints write on a connection of their own.
"""

from __future__ import annotations

from contextlib import contextmanager

import frappe
import pytest
import sqlalchemy as sa
from frappe.utils import CallbackManager

from dartwing.dartwing_core.background_jobs import get_job_status, schema, submit_job
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics
from dartwing.dartwing_core.background_jobs.operations import cancel_job, delete_job, retry_job
from dartwing.dartwing_core.frappe_runtime import FrappeRuntime

from .conftest import ORG_A, add_job_type, rq_messages


def _status(name: str) -> str | None:
    rows = frappe.db.sql("select status from `tabBackground Job` where name=%s", (name,))
    return rows[0][0] if rows else None


def _max_concurrent(org: str = ORG_A) -> int:
    return frappe.db.sql("select max_concurrent_jobs from `tabOrganization` where name=%s", (org,))[0][0]


@contextmanager
def no_transaction_ends_inside_callbacks():
    """Fail if anything commits or rolls back the site's connection while its after-commit callbacks run."""
    db = frappe.db
    offences: list[str] = []
    running: list[bool] = []

    class Watched(CallbackManager):
        __slots__ = ()

        def run(self):
            running.append(True)
            try:
                super().run()
            finally:
                running.pop()

    def guard(kind, original):
        def call(*args, **kwargs):
            if running and not kwargs.get("save_point"):
                offences.append(kind)
            return original(*args, **kwargs)

        return call

    watched = Watched()
    original_manager = db.after_commit
    db.after_commit = watched
    db.commit, db.rollback = guard("commit", db.commit), guard("rollback", db.rollback)
    try:
        yield offences
    finally:
        del db.commit, db.rollback
        db.after_commit = original_manager


# --- defect 1: no transaction inside after-commit callbacks ---------------------------------------


def test_a_held_child_and_an_independent_job_submitted_together_both_reach_rq(site, redis_server):
    parent = submit_job("echo", ORG_A, {"n": 1})
    frappe.db.commit()
    child = submit_job("echo", ORG_A, {"n": 2}, depends_on=parent.name)
    independent = submit_job("echo", ORG_A, {"n": 3})
    frappe.db.commit()
    messages = rq_messages(redis_server)
    assert f"{site.site}::{independent.name}-0" in messages
    assert _status(child.name) == "Pending"  # held by its parent, which has not completed


def test_two_submits_in_a_capped_organization_both_reach_rq(site, redis_server):
    frappe.db.sql("update `tabOrganization` set max_concurrent_jobs=5 where name=%s", (ORG_A,))
    frappe.db.commit()
    first = submit_job("echo", ORG_A, {"n": 1})
    second = submit_job("echo", ORG_A, {"n": 2})
    frappe.db.commit()
    messages = rq_messages(redis_server)
    assert {f"{site.site}::{first.name}-0", f"{site.site}::{second.name}-0"} <= set(messages)
    assert _status(first.name) == _status(second.name) == "Queued"


def test_the_callers_own_after_commit_work_survives_a_submit(site):
    ran = []
    parent = submit_job("echo", ORG_A, {"n": 1})
    frappe.db.commit()
    submit_job("echo", ORG_A, {"n": 2}, depends_on=parent.name)
    frappe.db.after_commit.add(lambda: ran.append("host app"))
    frappe.db.commit()
    assert ran == ["host app"]


def test_nothing_ends_a_transaction_inside_an_after_commit_callback(site):
    frappe.db.sql("update `tabOrganization` set max_concurrent_jobs=1 where name=%s", (ORG_A,))
    frappe.db.commit()
    with no_transaction_ends_inside_callbacks() as offences:
        parent = submit_job("echo", ORG_A, {"n": 1})
        submit_job("echo", ORG_A, {"n": 2}, depends_on=parent.name)
        submit_job("echo", ORG_A, {"n": 3})
        frappe.db.commit()
        cancel_job(parent.name)
        frappe.db.commit()
    assert offences == []


# --- defect 2: the Python API never ends the caller's transaction ----------------------------------


def test_get_job_metrics_keeps_the_callers_transaction(site):
    job = submit_job("echo", ORG_A, {"n": 1})
    get_job_metrics()
    frappe.db.commit()
    assert _status(job.name) == "Queued"


def test_get_job_status_keeps_the_callers_transaction(site):
    job = submit_job("echo", ORG_A, {"n": 1})
    get_job_status(job.name)
    frappe.db.commit()
    assert _status(job.name) == "Queued"


@pytest.mark.parametrize("action", ["cancel", "retry", "delete"])
def test_actions_join_the_callers_transaction(site, action):
    job = submit_job("echo", ORG_A, {"n": 1})
    frappe.db.commit()
    if action in ("retry", "delete"):
        cancel_job(job.name)
        frappe.db.commit()
    before = _status(job.name)
    frappe.db.sql("update `tabOrganization` set max_concurrent_jobs=9 where name=%s", (ORG_A,))
    {"cancel": cancel_job, "retry": retry_job, "delete": delete_job}[action](job.name)
    frappe.db.rollback()  # the caller changes its mind: its write and the action go together
    assert _max_concurrent() == 0
    assert _status(job.name) == before


def test_a_canceled_job_loses_its_rq_message_only_after_the_commit(site, redis_server):
    job = submit_job("echo", ORG_A, {"n": 1})
    frappe.db.commit()
    message = f"{site.site}::{job.name}-0"
    cancel_job(job.name)
    assert message in rq_messages(redis_server)
    frappe.db.commit()
    assert message not in rq_messages(redis_server)


def test_a_failing_handlers_writes_are_rolled_back_though_it_reported_progress(site):
    add_job_type("write_then_fail", "frappe_contract.handlers.write_progress_then_fail")
    job = submit_job("write_then_fail", ORG_A, {})
    frappe.db.commit()
    run_job(job.name, 0)  # as execute_job calls it in a worker
    frappe.db.commit()
    assert _status(job.name) == "Dead Letter"
    assert _max_concurrent() == 0  # the handler's own write went with its failure
    progress = frappe.db.sql("select progress from `tabBackground Job` where name=%s", (job.name,))[0][0]
    assert progress == 50  # the checkpoint itself was committed on its own connection


def test_a_succeeding_handlers_writes_commit_with_its_outcome(site):
    add_job_type("write_then_succeed", "frappe_contract.handlers.write_progress_then_succeed")
    job = submit_job("write_then_succeed", ORG_A, {})
    frappe.db.commit()
    run_job(job.name, 0)
    frappe.db.rollback()  # whatever execute_job does next, the outcome is already durable
    assert _status(job.name) == "Completed"
    assert _max_concurrent() == 43


# --- defect 6: which RQ messages are pending, on the installed rq -------------------------------------


def test_messages_pending_sees_the_queued_messages_in_one_round_trip(site):
    jobs = [submit_job("echo", ORG_A, {"n": n}) for n in range(3)]
    frappe.db.commit()
    asked = [f"{job.name}-0" for job in jobs] + [f"{jobs[0].name}-7"]
    assert FrappeRuntime().messages_pending(asked) == set(asked[:3])


# --- defect 7: rowcount means matched rows in both runtimes ------------------------------------------


def test_an_update_that_changes_nothing_still_counts_its_matched_row(site):
    job = submit_job("echo", ORG_A, {"n": 1})
    frappe.db.commit()
    bj = schema.background_job
    result = FrappeRuntime().execute(sa.update(bj).where(bj.c.name == job.name).values(status="Queued"))
    assert result.rowcount == 1


# --- the runtime's clock ---------------------------------------------------------------------------


def test_the_runtimes_clock_is_frappes_without_loading_system_settings(site):
    from datetime import timedelta

    from frappe.utils import now_datetime

    frappe.local.__dict__.pop("system_settings", None)
    ours = FrappeRuntime().now()
    assert not hasattr(frappe.local, "system_settings")  # no document loaded for the time zone
    assert abs(now_datetime() - ours) < timedelta(seconds=1)  # v15's answer: the site's zone, naive


def test_a_deadlock_inside_a_savepoint_raises_the_deadlock_not_the_lost_savepoint(site):
    """A deadlock rolls its victim's whole transaction back, savepoints and all: the block's caller
    sees QueryDeadlockError (which it may retry), not the `rollback to savepoint` that then fails."""
    import threading
    import time

    from .conftest import ORG_B

    errors: list[BaseException] = []
    other_connection: list[bool] = []

    def touch(name: str) -> None:
        try:
            with FrappeRuntime().savepoint():
                frappe.db.sql("update `tabOrganization` set modified=now(6) where name=%s", (name,))
        except Exception as exc:  # noqa: BLE001 - what the block's caller sees is the point
            errors.append(exc)

    def other_transaction() -> None:
        site.connect()
        try:
            touch(ORG_B)
            other_connection.append(True)
            touch(ORG_A)  # waits for the test's lock
        finally:
            frappe.db.rollback()
            frappe.destroy()

    frappe.db.commit()
    touch(ORG_A)
    thread = threading.Thread(target=other_transaction)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while thread.is_alive() and not other_connection:  # it holds Org B's lock
            assert time.monotonic() < deadline, "the other transaction never took its lock"
            time.sleep(0.02)
        touch(ORG_B)  # each holds one lock and asks for the other's: one of the two is the victim
    finally:
        frappe.db.rollback()
        thread.join(60)
    assert [type(exc) for exc in errors] == [frappe.QueryDeadlockError], errors
