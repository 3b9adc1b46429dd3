"""The standalone runtime's MariaDB connections: no ping per transaction, yet a dead one is replaced.

The pool neither pings a connection when a transaction takes it nor rolls it back when the
transaction gives it back (database.py says why). These tests kill the runtime's connection from
another session, as a server restart or a DBA's KILL would, and check what callers then see.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from conftest import ORG_A, ORG_B, wait_for

from dartwing.dartwing_core.background_jobs import JobNotFoundError, get_job_status, schema, submit_job
from dartwing.dartwing_core.background_jobs.records import fetch_job
from dartwing.dartwing_core.standalone.runtime import StandaloneRuntime

pytestmark = [pytest.mark.mariadb, pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)]


def connection_id(rt) -> int:
    return int(rt.execute(sa.text("SELECT CONNECTION_ID()")).scalar())


def kill(rt, connection: int) -> None:
    killer = sa.create_engine(rt.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with killer.connect() as conn:
            conn.execute(sa.text("KILL :id"), {"id": connection})
    finally:
        killer.dispose()


def test_a_connection_killed_between_transactions_is_replaced_unnoticed(rt):
    before = connection_id(rt)
    rt.commit()
    kill(rt, before)

    job = submit_job("echo", ORG_A, {"after": "kill"})  # its first statement meets the dead connection
    rt.commit()

    assert get_job_status(job.name).status == "Queued"
    assert connection_id(rt) != before
    rt.rollback()


def test_execute_all_replaces_a_connection_killed_between_transactions(rt):
    """Its first statement runs as `execute` runs one (the rest are pipelined on that connection)."""
    before = connection_id(rt)
    rt.commit()
    kill(rt, before)

    bj = schema.background_job
    rt.execute_all([(sa.select(bj.c.name).where(bj.c.name == sa.bindparam("name")), {"name": "x"})] * 2)
    assert connection_id(rt) != before
    rt.rollback()


def test_a_connection_killed_inside_a_transaction_fails_that_transaction_only(rt):
    job = submit_job("echo", ORG_A, {"inside": "kill"})
    kill(rt, connection_id(rt))

    with pytest.raises(sa.exc.DBAPIError):
        rt.commit()  # the insert went with the connection: it must not look committed
    rt.rollback()

    with pytest.raises(JobNotFoundError):
        get_job_status(job.name)
    assert not rt.redis.keys("rq:job:*")  # nor was its message sent


def waits_for_a_lock(rt, connection: int) -> bool:
    probe = sa.create_engine(rt.engine.url)
    try:
        with probe.connect() as conn:
            query = "SELECT trx_state FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = :id"
            state = conn.execute(sa.text(query), {"id": connection}).scalar()
    finally:
        probe.dispose()
    return state == "LOCK WAIT"


def test_a_deadlock_inside_a_savepoint_raises_the_deadlock_not_the_lost_savepoint(rt):
    """A deadlock rolls its victim's whole transaction back, savepoints and all: the block's caller
    sees the deadlock (1213, which it may retry), not the ROLLBACK TO SAVEPOINT that then fails (1305)."""
    org = schema.organization
    errors: list[sa.exc.DBAPIError] = []
    other_connection: list[int] = []

    def touch(runtime, name: str) -> None:
        try:
            with runtime.savepoint():
                runtime.execute(sa.update(org).where(org.c.name == name).values(modified=runtime.now()))
        except sa.exc.DBAPIError as exc:
            errors.append(exc)

    def other_transaction() -> None:
        other = StandaloneRuntime(rt.config)
        try:
            touch(other, ORG_B)
            other_connection.append(connection_id(other))
            touch(other, ORG_A)  # waits for rt's lock
        finally:
            other.rollback()
            other.engine.dispose()

    touch(rt, ORG_A)
    thread = threading.Thread(target=other_transaction)
    thread.start()
    try:
        wait_for(
            lambda: not thread.is_alive() or (other_connection and waits_for_a_lock(rt, other_connection[0])),
            message="the other transaction's lock wait",
        )
        touch(rt, ORG_B)  # closes the cycle: one of the two is the victim
    finally:
        rt.rollback()
        thread.join(60)
    assert [exc.orig.args[0] for exc in errors] == [1213], errors


def test_prebuilt_statements_run_as_compiled_sql_beside_sqlalchemy(rt):
    """Submit's statements all have parameters, so none goes through SQLAlchemy's execution layer
    (compiled.py says why); a statement built per call still does, in the same transaction."""
    through_sqlalchemy = []

    def record(connection, cursor, statement, *args):
        through_sqlalchemy.append(statement)

    sa.event.listen(rt.engine, "before_cursor_execute", record)
    try:
        job = submit_job("echo", ORG_A, {"compiled": True})
        bj = schema.background_job
        seen = rt.execute(sa.select(bj.c.status).where(bj.c.name == job.name)).scalar()
        rt.commit()
    finally:
        sa.event.remove(rt.engine, "before_cursor_execute", record)
    assert seen == "Queued"  # the per-call read saw the compiled inserts of its own transaction
    # Left out: the dedup slot's SAVEPOINT, and a reservation of series numbers (it runs in a
    # transaction of its own, once per block: standalone/naming.py).
    statements = [text for text in through_sqlalchemy if "SAVEPOINT" not in text and "tabSeries" not in text]
    assert len(statements) == 1 and statements[0].startswith("SELECT `tabBackground Job`.status")


def test_decimal_columns_read_as_float_on_both_paths(rt):
    job = submit_job("echo", ORG_A, {"progress": "decimal"})
    bj = schema.background_job
    rt.execute(sa.update(bj).where(bj.c.name == job.name).values(progress=12.5))
    rt.commit()

    compiled = fetch_job(rt, job.name)["progress"]  # a prebuilt statement: the driver's own types
    via_sqlalchemy = rt.execute(sa.select(bj.c.progress).where(bj.c.name == job.name)).scalar()
    rt.rollback()
    assert type(compiled) is float and compiled == 12.5
    assert type(via_sqlalchemy) is float and via_sqlalchemy == 12.5


# --- a read sent ahead (StandaloneRuntime.prefetch: a non-forking worker's claim read) ------------


def _claim_read(rt, job_name: str):
    from dartwing.dartwing_core.background_jobs.execution import _CLAIM_READ

    return rt.execute(_CLAIM_READ, {"job_name": job_name}).rows


def test_a_prefetched_read_answers_the_same_execute_without_a_query_of_its_own(rt, monkeypatch):
    from dartwing.dartwing_core.background_jobs.execution import prefetch_claim
    from dartwing.dartwing_core.background_jobs.queueing import rq_job_id
    from dartwing.dartwing_core.standalone import compiled

    job = submit_job("echo", ORG_A, {"prefetch": 1})
    rt.commit()
    expected = _claim_read(rt, job.name)  # also opens the transaction a prefetch needs
    prefetch_claim(rt, rq_job_id(job.name, 0))
    sent = rt._state.prefetched
    assert sent is not None
    monkeypatch.setattr(compiled, "execute", lambda *a: pytest.fail("a query of its own was sent"))
    assert _claim_read(rt, job.name) == expected
    assert rt._state.prefetched is None
    rt.rollback()


def test_anything_else_run_first_reads_and_drops_the_prefetched_reply(rt):
    from dartwing.dartwing_core.background_jobs.execution import prefetch_claim
    from dartwing.dartwing_core.background_jobs.queueing import rq_job_id

    jobs = [submit_job("echo", ORG_A, {"prefetch": i}) for i in range(2)]
    rt.commit()
    expected = _claim_read(rt, jobs[1].name)
    prefetch_claim(rt, rq_job_id(jobs[0].name, 0))
    assert _claim_read(rt, jobs[1].name) == expected  # another job's read: run on its own
    for end in (rt.commit, rt.rollback, lambda: fetch_job(rt, jobs[1].name)):
        _claim_read(rt, jobs[0].name)
        prefetch_claim(rt, rq_job_id(jobs[0].name, 0))
        end()  # the connection is usable afterwards: the reply was read off it
        assert rt._state.prefetched is None
        assert get_job_status(jobs[1].name).status == "Queued"
    rt.rollback()


def test_no_prefetch_without_an_open_transaction(rt):
    from dartwing.dartwing_core.background_jobs.execution import prefetch_claim

    rt.commit()
    prefetch_claim(rt, "JOB-X-0")
    assert rt._state.prefetched is None and rt._state.connection is None


def test_a_prefetch_on_a_killed_connection_fails_as_a_lost_connection(rt):
    from dartwing.dartwing_core.background_jobs.execution import prefetch_claim
    from dartwing.dartwing_core.background_jobs.queueing import rq_job_id

    job = submit_job("echo", ORG_A, {"prefetch": "kill"})
    rt.commit()
    kill(rt, connection_id(rt))  # the transaction is open, its connection gone
    with pytest.raises(sa.exc.DBAPIError) as raised:
        prefetch_claim(rt, rq_job_id(job.name, 0))
        _claim_read(rt, job.name)
    assert raised.value.connection_invalidated
    rt.rollback()
    assert get_job_status(job.name).status == "Queued"  # a new connection serves the next one
