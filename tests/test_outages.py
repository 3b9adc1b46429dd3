"""Outages against long-running processes: the run's own redis-server is stopped and started again,
a private mariadbd is killed -9 and restarted (by PID), and a Redis that never answers is met with
a timeout, while the scheduler, the workers and the HTTP server keep working."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis
import sqlalchemy as sa
from conftest import ALICE, BASE, IN_CI, ORG_A, Workers, seeded_runtime, start_server, wait_for
from faults import OwnMariaDB
from rq import SimpleWorker, Worker

from dartwing.dartwing_core.background_jobs import schema, submit_job
from dartwing.dartwing_core.background_jobs.runtime import set_runtime
from dartwing.dartwing_core.standalone.http.auth import issue_credentials
from dartwing.dartwing_core.standalone.runtime import redis_client
from dartwing.dartwing_core.standalone.scheduler import run_scheduler
from dartwing.dartwing_core.standalone.worker import new_worker


def _status(rt, name: str) -> str:
    value = rt.execute(sa.select(schema.background_job.c.status).where(schema.background_job.c.name == name)).scalar()
    rt.rollback()
    return value


def _rq_job_id(rt, name: str) -> str:
    bj = schema.background_job
    value = rt.execute(sa.select(bj.c.rq_job_id).where(bj.c.name == name)).scalar()
    rt.rollback()
    return value


def test_scheduler_waits_out_a_redis_outage_and_then_runs_the_tick(rt, redis_server, monkeypatch, caplog):
    monkeypatch.setenv("DARTWING_OUTBOX_GRACE_SECONDS", "0")
    job = submit_job("noop", ORG_A, {"n": 1})
    rt.commit()
    clock = [1_800_000_000.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds
        if len(sleeps) == 3:  # the tick's wait, then two retries while Redis is down
            redis_server.start()  # empty, as after a restart: the job's RQ message is gone

    redis_server.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="dartwing.scheduler"):
            ran = run_scheduler(rt, ticks=1, clock=lambda: clock[0], sleep=sleep)
    finally:
        if redis_server.process.poll() is not None:
            redis_server.start()
    assert ran == 1
    assert sleeps[1:] == [1.0, 2.0]  # backoff between the retries
    outage_lines = [r.getMessage() for r in caplog.records if "Redis" in r.getMessage()]
    assert len(outage_lines) == 2, outage_lines  # one when the outage began, one when it ended
    assert rt.messages_pending([_rq_job_id(rt, job.name)])  # the tick's outbox sweep re-sent the message


def test_scheduler_skips_stale_ticks_after_a_long_stall(rt):
    clock = [1_800_000_000.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds + 180  # every wait overruns by three minutes

    ran = run_scheduler(rt, ticks=3, clock=lambda: clock[0], sleep=sleep)
    assert ran == 0  # each due tick already had a later one due: none is run stale


def test_http_submits_stand_while_redis_is_down(api, rt, redis_server):
    redis_server.stop()
    try:
        answers = [
            api.call(
                "POST", "submit_job", json={"job_type": "noop", "organization": ORG_A, "parameters": {"i": i}}
            )
            for i in range(5)
        ]
    finally:
        redis_server.start()
    assert [a.status_code for a in answers] == [200] * 5, answers[0].text
    names = [a.json()["message"]["job_id"] for a in answers]
    bj = schema.background_job
    statuses = [row["status"] for row in rt.execute(sa.select(bj.c.status).where(bj.c.name.in_(names)))]
    rt.rollback()
    assert statuses == ["Queued"] * 5  # committed; the minute sweep sends their lost messages


def test_a_redis_that_never_answers_fails_a_command_instead_of_hanging_it(monkeypatch):
    """A partitioned or hung Redis: the runtime's commands fail after the socket timeout."""
    monkeypatch.setenv("DARTWING_REDIS_SOCKET_TIMEOUT_SECONDS", "0.5")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections (the kernel does), never answers
    outcome: list[BaseException] = []

    def ping() -> None:
        try:
            redis_client(f"redis://127.0.0.1:{silent.getsockname()[1]}/0").ping()
        except BaseException as exc:  # noqa: BLE001 - kept for the assertion
            outcome.append(exc)

    caller = threading.Thread(target=ping, daemon=True)
    caller.start()
    caller.join(30)
    silent.close()
    assert not caller.is_alive() and isinstance(outcome[0], redis.exceptions.TimeoutError), outcome


def test_rqs_blocking_dequeue_waits_longer_than_the_runtime_socket_timeout(rt, workers, monkeypatch):
    """The worker's own connection outwaits RQ's dequeue, so an idle worker never times out; the
    runtime's client keeps the short timeout."""
    monkeypatch.setenv("DARTWING_REDIS_SOCKET_TIMEOUT_SECONDS", "0.5")
    worker = new_worker(rt, SimpleWorker)
    timeout = worker.connection.connection_pool.connection_kwargs["socket_timeout"]
    assert timeout > worker.dequeue_timeout
    assert redis_client(rt.redis_url).connection_pool.connection_kwargs["socket_timeout"] == 0.5
    proc = workers.start(extra_env={"DARTWING_REDIS_SOCKET_TIMEOUT_SECONDS": "0.5"})
    wait_for(lambda: len(Worker.all(connection=rt.redis)) == 1)
    time.sleep(2)  # idle in its blocking dequeue for four socket timeouts of the runtime's client
    job = submit_job("noop", ORG_A, {"n": 2})
    rt.commit()
    wait_for(lambda: _status(rt, job.name) == "Completed")
    assert proc.poll() is None and len(Worker.all(connection=rt.redis)) == 1  # the same worker, never restarted


@pytest.fixture
def crashable_rt(redis_server, tmp_path):
    """A runtime on a private mariadbd (its own port and data directory), which a test may kill -9."""
    if reason := OwnMariaDB.unavailable():
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    (tmp_path / "mariadb").mkdir()
    server = OwnMariaDB(tmp_path / "mariadb").start()
    engine = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE crash CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    engine.dispose()
    redis.Redis.from_url(redis_server.url).flushdb()  # our own redis-server
    runtime = seeded_runtime(tmp_path / "home", server.url(database="crash"), redis_server.url)
    yield runtime, server
    runtime.rollback()
    set_runtime(None)
    runtime.engine.dispose()
    server.stop()


def test_server_worker_and_scheduler_outlive_a_mariadbd_crash(crashable_rt):
    """kill -9 of the database server: the API answers 503 (not 500) and logs the outage once; the
    worker and the scheduler keep running; once the server is back, everything works again."""
    rt, server = crashable_rt
    key, secret = issue_credentials(rt, ALICE)
    rt.commit()
    fast = {"DARTWING_ORPHAN_CHECK_SECONDS": "0.5"}
    workers = Workers(rt, {**os.environ, **rt.config.environ()})
    api_proc, client = start_server(rt)
    workers.start(extra_env=fast)
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "dartwing.dartwing_core.standalone.cli", "scheduler"],
        env={**workers.env, **fast},
        stderr=subprocess.DEVNULL,
    )
    workers.processes += [scheduler, api_proc]  # all stopped by PID at teardown
    headers = {"Authorization": f"token {key}:{secret}"}
    body = {"job_type": "noop", "organization": ORG_A}
    try:
        assert client.post(BASE + "submit_job", json=body, headers=headers).status_code == 200
        wait_for(lambda: rt.redis.exists("dartwing:turn:orphan_check"), message="the scheduler's orphan checks")
        server.kill9()
        answers = [client.post(BASE + "submit_job", json=body, headers=headers) for _ in range(3)]
        scheduler_log = rt.config.home / "logs" / "scheduler.log"
        wait_for(lambda: "unreachable" in scheduler_log.read_text(), message="the scheduler to meet the outage")
        time.sleep(1)  # more failed checks, which must not be logged again
        server.start()
        after = client.post(BASE + "submit_job", json=body, headers=headers)
        assert after.status_code == 200, after.text
        job_id = after.json()["message"]["job_id"]
        wait_for(lambda: _status(rt, job_id) == "Completed")
        wait_for(lambda: "answers again" in scheduler_log.read_text(), message="the scheduler to log the end")
        alive = [proc.poll() is None for proc in workers.processes]
    finally:
        client.close()
        workers.stop_all()
    assert alive == [True] * 3  # none of them exited
    assert [a.status_code for a in answers] == [503] * 3, answers[0].text
    assert answers[0].headers["retry-after"] == "5" and answers[0].json()["exc_type"] == "ServiceUnavailableError"
    logs = rt.config.home / "logs"
    server_log = (logs / "server.log").read_text()
    assert server_log.count("unreachable") == 1 and server_log.count("answers again") == 1, server_log[-2000:]
    assert "Traceback" not in server_log
    assert (logs / "scheduler.log").read_text().count("unreachable") == 1
    assert (logs / "scheduler.log").read_text().count("answers again") == 1


@pytest.mark.parametrize("forking", [False, True], ids=["non-forking", "forking"])
def test_a_worker_holds_its_messages_through_a_mariadbd_crash(crashable_rt, forking):
    """A claim that meets a dead database waits with backoff instead of failing the job: no traceback
    per job, one line when the outage begins and one when it ends, and the queued jobs run as soon as
    the server is back (no scheduler runs here, so no sweep could have sent them again)."""
    rt, server = crashable_rt
    names = [submit_job("noop", ORG_A, {"n": n}).name for n in range(4)]
    rt.commit()
    server.kill9()
    workers = Workers(rt, {**os.environ, **rt.config.environ()})
    workers.start(forking=forking)
    try:
        worker_log = rt.config.home / "logs" / "worker.log"
        wait_for(lambda: worker_log.exists() and "unreachable" in worker_log.read_text(),
                 message="the worker to meet the outage")
        time.sleep(1.5)  # more failed claims, which must not be logged again
        server.start()
        wait_for(lambda: all(_status(rt, name) == "Completed" for name in names), timeout=30)
        alive = workers.processes[0].poll() is None
    finally:
        workers.stop_all()
    text = worker_log.read_text()
    assert alive
    assert "Traceback" not in text, text[-3000:]
    assert text.count("unreachable") == 1 and text.count("answers again") == 1, text[-3000:]


def test_a_claim_gives_up_on_a_database_that_stays_down(rt, monkeypatch, caplog):
    """Past claim_outage_wait_seconds the message is dropped (logged on one line, no traceback) and the
    row stays Queued, for the outbox sweep to send again."""
    from dartwing.dartwing_core.background_jobs import execution
    from dartwing.dartwing_core.standalone import database

    job = submit_job("noop", ORG_A, {"n": "stays down"})
    rt.commit()
    monkeypatch.setenv("DARTWING_CLAIM_OUTAGE_WAIT_SECONDS", "1")
    with socket.socket() as closed:  # a port nothing listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    working, rt.engine = rt.engine, database.create_engine(f"mysql+mysqldb://root@127.0.0.1:{port}/absent")
    caplog.set_level(logging.WARNING, logger=execution.log.name)
    started = time.monotonic()
    try:
        outcome = execution.run_job(job.name, 0)
    finally:
        rt.engine.dispose()
        rt.engine = working
        rt.rollback()
    assert outcome == "not claimed" and 1 <= time.monotonic() - started < 10
    messages = [record.getMessage() for record in caplog.records]
    assert sum("unreachable (" in m for m in messages) == 1 and sum("not claimed" in m for m in messages) == 1
    assert not any(record.exc_info for record in caplog.records)
    assert _status(rt, job.name) == "Queued"
    execution.DATABASE.ended(time.monotonic())
