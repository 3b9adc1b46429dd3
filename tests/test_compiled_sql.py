"""The engine through the Frappe runtime's SQL path, on MariaDB: every statement compiled by
`to_mariadb` (cached per statement and parameter names) and run as text through PyMySQL, Frappe's
driver, exactly as `FrappeRuntime.execute` hands it to `frappe.db.sql`. CI has no bench, so this is
where the statements the engine runs with parameters are proven on that path."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import ADMIN, ALICE, ORG_A

from dartwing.dartwing_core.background_jobs import (
    DuplicateJobError,
    get_job_history,
    get_job_status,
    submit_job,
)
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.background_jobs.operations import cancel_job, retry_job
from dartwing.dartwing_core.background_jobs.runtime import set_runtime
from dartwing.dartwing_core.background_jobs.sql import execute_compiled
from dartwing.dartwing_core.standalone import tables
from dartwing.dartwing_core.standalone.config import StandaloneConfig
from dartwing.dartwing_core.standalone.runtime import StandaloneRuntime

pytestmark = [pytest.mark.mariadb, pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)]


class CompiledSqlRuntime(StandaloneRuntime):
    """Runs each statement as SQL text with pyformat values, the way the Frappe runtime does."""

    def execute(self, statement, params=None):
        if getattr(statement, "table", None) is tables.series:
            # A bench names jobs with Frappe's own make_autoname; this runtime keeps its upsert.
            return super().execute(statement, params)

        def run(sql, values):
            result = self._connection().exec_driver_sql(sql, values)
            rows = [dict(row) for row in result.mappings()] if result.returns_rows else []
            return rows, result.rowcount

        return execute_compiled(statement, params, run)


@pytest.fixture
def crt(rt, db_url, redis_server, tmp_path):
    url = sa.make_url(db_url).set(drivername="mysql+pymysql")
    config = StandaloneConfig.resolve(
        tmp_path / "compiled", url.render_as_string(False), redis_server.url, ALICE
    )
    compiled = CompiledSqlRuntime(config)
    set_runtime(compiled)
    yield compiled
    compiled.rollback()
    set_runtime(rt)
    compiled.engine.dispose()


def statuses(job_name):
    return [(h["from_status"], h["to_status"]) for h in get_job_history(job_name)]


def test_submit_claim_and_finish(crt):
    job = submit_job("progress_demo", ORG_A, {"steps": 2, "delay": 0})
    crt.commit()
    assert job.status == "Queued"
    assert run_job(job.name, 0) == "Completed"
    view = get_job_status(job.name)
    assert view.progress == 100 and view.result == {"output_reference": "steps:2", "steps": 2}
    assert statuses(job.name) == [
        (None, "Pending"),
        ("Pending", "Queued"),
        ("Queued", "Running"),
        ("Running", "Completed"),
    ]
    assert run_job(job.name, 0) == "not claimed"  # a second delivery is a no-op


def test_dedup_dependencies_retry_and_cancel(crt):
    first = submit_job("echo", ORG_A, {"invoice": 1})
    crt.commit()
    with pytest.raises(DuplicateJobError):
        submit_job("echo", ORG_A, {"invoice": 1})
    crt.rollback()

    parent = submit_job("always_fails", ORG_A, {"record": "r"})
    child = submit_job("echo", ORG_A, {"after": parent.name}, depends_on=parent.name)
    crt.commit()
    assert get_job_status(child.name).status == "Pending"
    assert run_job(parent.name, 0) == "Dead Letter"
    assert get_job_status(child.name).status == "Canceled"
    crt.rollback()

    crt.set_user(ADMIN)  # retrying from the dead letter queue is an operator's move
    retried = retry_job(parent.name)
    crt.commit()
    assert retried.status == "Queued" and retried.attempt == 1
    requeue = [h for h in get_job_history(parent.name) if h["from_status"] == "Dead Letter"]
    assert [h["worker"] for h in requeue] == [None]  # the operator's move, not the last worker's
    assert run_job(parent.name, 1) == "Dead Letter"

    canceled = cancel_job(first.name)
    crt.commit()
    assert canceled.status == "Canceled"
    assert run_job(first.name, 0) == "not claimed"
