"""The seed-004 maintenance job types, run by real standalone workers through the seed-004 surface:
a real SMTP sink (aiosmtpd) for email, the run's own Redis for cache_flush, the store's database for
db_optimize and cleanup, and the worker's own log file for log_rotate."""

from __future__ import annotations

import gzip
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from conftest import ADMIN, ALICE, ORG_A, free_port, wait_for
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from dartwing.dartwing_core.background_jobs import schema
from dartwing.dartwing_core.background_jobs.sweeps import requeue_due_retries
from dartwing.dartwing_core.standalone.logs import log_dir, rotate_logs
from dartwing.dartwing_core.standalone.runtime import queue_name

PATH = "/api/system/background-jobs"


class Sink:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_sink():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, sink
    controller.stop()


def bearer(api, user):
    return {"Authorization": "Bearer " + api.tokens[user].split(" ", 1)[1]}


def run(api, job_type, payload, user=ADMIN, retries_of=None):
    """Submit through the seed-004 surface and wait until the job is Completed or Dead Letter
    (running the due-retry sweep on `retries_of`, a runtime, while waiting)."""
    created = api.client.post(
        PATH,
        headers=bearer(api, user),
        json={"job_type": job_type, "organization": ORG_A, "payload": payload},
    )
    assert created.status_code == 200, created.text
    job_id = created.json()["id"]

    def finished():
        if retries_of is not None:
            requeue_due_retries(runtime=retries_of)
        job = api.client.get(f"{PATH}/{job_id}", headers=bearer(api, user)).json()
        return job if job["engine_status"] in ("Completed", "Dead Letter") else None

    return wait_for(finished, timeout=60, interval=0.1, message=f"{job_type} to finish")


def test_the_five_maintenance_types_do_their_work(api, rt, workers, smtp_sink):
    controller, sink = smtp_sink
    workers.start(extra_env={"DARTWING_SMTP_HOST": "127.0.0.1", "DARTWING_SMTP_PORT": str(controller.port)})

    # email_send: delivered to the SMTP server, the body rendered from `data`.
    sent = run(
        api,
        "email_send",
        {"to": "ops@example.com", "subject": "Disk alert", "message": "Hi $name", "data": {"name": "Ada"}},
    )
    assert sent["status"] == "completed", sent
    assert sent["result"]["status"] == "sent" and sent["result"]["to"] == "ops@example.com"
    (envelope,) = sink.messages
    assert envelope.rcpt_tos == ["ops@example.com"]
    assert b"Subject: Disk alert" in envelope.content and b"Hi Ada" in envelope.content

    # cache_flush: RQ's records of failed jobs go; the database keeps the truth.
    queue = Queue(queue_name("Normal"), connection=rt.redis)
    stale = Job.create("builtins.print", id="stale-rq-record", connection=rt.redis, origin=queue.name)
    stale.save()
    gone = Job.create("builtins.print", id="gone-rq-record", connection=rt.redis, origin=queue.name)
    for job in (stale, gone):
        FailedJobRegistry(queue=queue).add(job, ttl=3600)
    rt.redis.delete(gone.key)  # an entry whose record has expired
    flushed = run(api, "cache_flush", {"action": "full"})
    assert flushed["status"] == "completed" and flushed["result"]["items_cleared"] >= 2, flushed
    assert FailedJobRegistry(queue=queue).get_job_ids() == [] and not rt.redis.exists(
        "rq:job:stale-rq-record"
    )

    # db_optimize: every job table analyzed and optimized (VACUUM / OPTIMIZE TABLE).
    optimized = run(api, "db_optimize", {"optimize": True})
    assert (
        optimized["result"]["tables_analyzed"]
        == len(schema.JOB_DOCTYPES)
        == optimized["result"]["tables_optimized"]
    ), optimized

    # log_rotate: the worker's log file (opened by the running worker) is archived; the worker goes
    # on running jobs (it reopens a fresh file on its next record).
    worker_log = log_dir(rt.config.home) / "worker.log"
    assert worker_log.exists()
    with worker_log.open("a") as log:
        log.write("a line written before the rotation\n")
    rotated = run(api, "log_rotate", {"keep": 3})
    assert rotated["result"]["logs_archived"] >= 1, rotated
    (archive,) = log_dir(rt.config.home).glob("worker.log.*.gz")
    assert b"a line written before the rotation" in gzip.decompress(archive.read_bytes())

    # cleanup: a job finished 40 days ago is deleted with its log rows; recent ones stay.
    old = sent["id"]
    rt.execute(
        sa.update(schema.background_job)
        .where(schema.background_job.c.name == old)
        .values(modified=rt.now() - timedelta(days=40))
    )
    rt.commit()
    cleaned = run(api, "cleanup", {"retention_days": 30})
    assert cleaned["result"]["records_deleted"] >= 1, cleaned
    assert api.client.get(f"{PATH}/{old}", headers=bearer(api, ADMIN)).status_code == 404
    assert api.client.get(f"{PATH}/{flushed['id']}", headers=bearer(api, ADMIN)).status_code == 200


def test_email_failures_are_classified(api, rt, workers):
    workers.start(extra_env={"DARTWING_SMTP_HOST": "127.0.0.1", "DARTWING_SMTP_PORT": str(free_port())})
    # Nobody listens on that port: a transient failure, retried until the retries run out.
    unreachable = run(api, "email_send", {"to": "ops@example.com", "subject": "Hello"}, retries_of=rt)
    assert unreachable["engine_status"] == "Dead Letter" and unreachable["retry_count"] == 3, unreachable
    # A malformed request is permanent: no retry.
    malformed = run(api, "email_send", {"to": "ops@example.com", "subject": "two\nlines"})
    assert malformed["engine_status"] == "Dead Letter" and malformed["retry_count"] == 0
    assert "single line" in malformed["error_message"]


def test_maintenance_types_need_the_job_administrator_role(api):
    refused = api.client.post(
        PATH, headers=bearer(api, ALICE), json={"job_type": "cache_flush", "organization": ORG_A}
    )
    assert refused.status_code == 403 and "Job Administrator" in refused.text


def test_rotate_logs_keeps_the_newest_archives(tmp_path):
    directory = log_dir(tmp_path)
    directory.mkdir()
    for round_ in range(4):
        (directory / "worker.log").write_text(f"round {round_}\n")
        (directory / "empty.log").write_text("")
        assert rotate_logs(tmp_path, keep=2)["logs_archived"] == 1
    archives = sorted(directory.glob("worker.log.*.gz"))
    assert [gzip.decompress(a.read_bytes()) for a in archives] == [b"round 2\n", b"round 3\n"]
    assert (directory / "empty.log").exists() and not (directory / "worker.log").exists()
