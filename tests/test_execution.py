"""End to end with real RQ worker processes: claim, progress, result, events, failures."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa
from conftest import ALICE, ORG_A, wait_for
from sqlalchemy.engine.interfaces import CacheStats

from dartwing.dartwing_core.background_jobs import get_job_history, get_job_status, schema, sql, submit_job
from dartwing.dartwing_core.background_jobs.execution import prepare_statements, run_job
from dartwing.dartwing_core.background_jobs.overdue import claim_minute_sweep
from dartwing.dartwing_core.background_jobs.sweeps import requeue_due_retries
from dartwing.dartwing_core.standalone import StandaloneConfig, StandaloneRuntime
from dartwing.dartwing_core.standalone.runtime import EVENTS_CHANNEL
from dartwing.dartwing_core.standalone.worker import _prepare_work_horses


class EventRecorder:
    """Subscribes to the Redis `events` channel before jobs are submitted and keeps every envelope."""

    def __init__(self, rt):
        self.pubsub = rt.redis.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(EVENTS_CHANNEL)
        self.events: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.1)
            if message and message["type"] == "message":
                self.events.append(json.loads(message["data"]))

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.pubsub.close()

    def for_job(self, name: str, event: str | None = None, room: str = "org:") -> list[dict]:
        """The job's events in rooms starting with `room` (each event also goes to the job's doc room)."""
        return [
            e
            for e in self.events
            if e["message"]["job_id"] == name
            and (event is None or e["event"] == event)
            and e["room"].startswith(room)
        ]


@pytest.fixture
def events(rt):
    recorder = EventRecorder(rt)
    yield recorder
    recorder.close()


def status_of(rt, name):
    value = get_job_status(name).status
    rt.rollback()
    return value


def test_job_runs_to_completed_with_progress_result_and_events(rt, workers, events):
    workers.start()
    rt.set_user(ALICE)
    job = submit_job("progress_demo", ORG_A, {"steps": 4, "delay": 0.3})
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Completed", message="Completed")
    view = get_job_status(job.name)
    assert view.progress == 100 and view.progress_message == "Step 4 of 4"
    assert view.result == {"output_reference": "steps:4", "steps": 4} and view.output_reference == "steps:4"
    assert view.attempt == 1 and view.started_at and view.completed_at >= view.started_at
    assert [(h["from_status"], h["to_status"]) for h in get_job_history(job.name)] == [
        (None, "Pending"),
        ("Pending", "Queued"),
        ("Queued", "Running"),
        ("Running", "Completed"),
    ]

    wait_for(
        lambda: events.for_job(job.name, "job_status_changed")[-1:]
        and events.for_job(job.name, "job_status_changed")[-1]["message"]["to_status"] == "Completed"
    )
    changes = [e["message"]["to_status"] for e in events.for_job(job.name, "job_status_changed")]
    assert changes == ["Queued", "Running", "Completed"]
    assert all(e["room"] == f"org:{ORG_A}" for e in events.for_job(job.name))
    in_doc_room = events.for_job(job.name, room="doc:")
    assert {e["room"] for e in in_doc_room} == {f"doc:Background Job/{job.name}"}
    # All but the submit's own event, which left before anyone could know the job to join its room.
    assert [(e["event"], e["message"]) for e in in_doc_room] == [
        (e["event"], e["message"]) for e in events.for_job(job.name)
    ][1:]
    progress = [e["message"]["progress"] for e in events.for_job(job.name, "job_progress")]
    assert progress == [0, 25, 50, 75, 100]
    completed = events.for_job(job.name, "job_status_changed")[-1]["message"]
    assert completed["output_reference"] == "steps:4" and completed["from_status"] == "Running"
    assert set(completed) == {
        "job_id",
        "from_status",
        "to_status",
        "output_reference",
        "error_message",
        "updated_at",
    }
    assert set(events.for_job(job.name, "job_progress")[0]["message"]) == {
        "job_id",
        "status",
        "progress",
        "progress_message",
        "updated_at",
    }
    stamps = [e["message"]["updated_at"] for e in events.for_job(job.name)]
    assert all(s.endswith("+00:00") and "T" in s for s in stamps), stamps  # an instant, in UTC


def test_progress_events_are_throttled_but_0_and_100_always_go_out(rt, workers, events):
    workers.start()
    job = submit_job("progress_demo", ORG_A, {"steps": 50, "delay": 0.01})
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Completed")
    wait_for(lambda: any(e["message"].get("to_status") == "Completed" for e in events.for_job(job.name)))
    progress = events.for_job(job.name, "job_progress")
    values = [e["message"]["progress"] for e in progress]
    assert values[0] == 0 and values[-1] == 100
    assert len(values) < 10  # 50 updates over ~0.5 s, at most one per 250 ms plus the ends


def test_transient_failure_retries_then_completes(rt, workers):
    workers.start()
    job = submit_job("flaky", ORG_A, {"fail_times": 1})
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Failed", message="Failed")
    failed = get_job_status(job.name)
    assert failed.error_type == "Transient" and "simulated outage" in failed.error_message
    assert failed.retry_count == 1 and failed.next_retry_at is not None
    rt.rollback()

    def due_and_requeued():
        requeue_due_retries(runtime=rt)
        return status_of(rt, job.name) == "Completed"

    wait_for(due_and_requeued, message="retry to complete")
    done = get_job_status(job.name)
    assert done.attempt == 2 and done.result == {"succeeded_on_attempt": 2} and done.error_message is None


def test_permanent_failure_goes_to_dead_letter_without_retry(rt, workers):
    workers.start()
    job = submit_job("always_fails", ORG_A, {"record": "R1"})
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Dead Letter", message="Dead Letter")
    view = get_job_status(job.name)
    assert view.error_type == "Permanent" and view.retry_count == 0 and view.attempt == 1
    assert (
        "Traceback"
        in rt.execute(
            sa.select(schema.background_job.c.traceback).where(schema.background_job.c.name == job.name)
        ).scalar()
    )
    assert [(h["from_status"], h["to_status"]) for h in get_job_history(job.name)][-2:] == [
        ("Running", "Failed"),
        ("Failed", "Dead Letter"),
    ]


def test_duplicate_delivery_is_a_no_op(rt):
    job = submit_job("echo", ORG_A, {"once": True})
    rt.commit()
    assert run_job(job.name, 0) == "Completed"
    assert run_job(job.name, 0) == "not claimed"  # RQ delivered the same message twice
    history = get_job_history(job.name)
    assert sum(1 for h in history if h["to_status"] == "Completed") == 1


def test_forking_worker_runs_jobs_too(rt, workers):
    workers.start(forking=True)
    jobs = [submit_job("echo", ORG_A, {"i": i}) for i in range(5)]
    rt.commit()
    for job in jobs:
        wait_for(lambda job=job: status_of(rt, job.name) == "Completed", message=f"{job.name} Completed")


def _record_compiles(rt, monkeypatch, *, precompiled: bool = False) -> list[str]:
    """The SQL of every statement the runtime compiles from now on, starting from empty caches: on
    MariaDB the engine's own compile cache (sql.to_mariadb), elsewhere SQLAlchemy's (a new engine per
    test), read from each execution's cache miss."""
    compiled: list[str] = []
    if rt._runs_compiled:
        if not precompiled:
            monkeypatch.setattr(sql, "STATEMENTS", {})  # no precompiled text: every statement compiles
        monkeypatch.setattr(sql, "_COMPILED", {})
        compile_once = sql._compile

        def recording(statement, column_keys):
            result = compile_once(statement, column_keys)
            compiled.append(str(result))
            return result

        monkeypatch.setattr(sql, "_compile", recording)
    else:

        def on_execute(conn, cursor, statement, parameters, context, executemany):
            if context is not None and context.cache_hit is CacheStats.CACHE_MISS:
                compiled.append(statement)

        sa.event.listen(rt.engine, "before_cursor_execute", on_execute)
    return compiled


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "not-prepared"])
def test_prepared_statements_are_not_compiled_again_by_a_run(rt, monkeypatch, prepared):
    """What a forking worker compiles before it forks (prepare_statements), its work horses inherit:
    a run then compiles neither its claim read nor its claim and finish UPDATEs."""
    compiled = _record_compiles(rt, monkeypatch)
    if prepared:
        prepare_statements(rt)
    job = submit_job("echo", ORG_A, {"i": 1})
    rt.commit()
    compiled.clear()
    assert run_job(job.name, 0) == "Completed"
    updates = [text for text in compiled if text.startswith("UPDATE") and "Background Job" in text]
    claim_reads = [text for text in compiled if "handler_method" in text]
    if prepared:
        assert (updates, claim_reads) == ([], [])
    else:  # the control: the same run on empty caches compiles all three
        assert (len(updates), len(claim_reads)) == (2, 1)


def test_on_mariadb_a_run_takes_its_statements_precompiled(rt, monkeypatch):
    """The standalone runtime's MariaDB path runs the same precompiled text as the Frappe runtime
    (mariadb_statements.py): a run on empty caches compiles none of its claim and finish."""
    if not rt._runs_compiled:
        pytest.skip("the precompiled text is MariaDB's")
    compiled = _record_compiles(rt, monkeypatch, precompiled=True)
    job = submit_job("echo", ORG_A, {"i": 1})
    rt.commit()
    claim_minute_sweep(rt)  # the run's statements, not the minute sweep's (a worker may take its turn)
    compiled.clear()
    assert run_job(job.name, 0) == "Completed"
    assert [text for text in compiled if "Background Job" in text or "Job Execution Log" in text] == []


def test_a_forking_worker_starts_when_its_database_is_unreachable(redis_server, tmp_path, caplog):
    """Preparing the statements is only a saving: a worker that cannot reach the database yet still
    starts (its jobs wait in RQ until the database answers), and says what it skipped."""
    nothing_listens = "mysql+mysqldb://root@127.0.0.1:1/dartwing"
    unreachable = StandaloneRuntime(
        StandaloneConfig.resolve(tmp_path, nothing_listens, redis_server.url, None)
    )
    _prepare_work_horses(unreachable)
    assert "could not prepare the run's statements" in caplog.text


def test_priorities_are_drained_critical_first(rt, workers):
    low = submit_job("echo", ORG_A, {"p": "low"}, priority="Low")
    normal = submit_job("echo", ORG_A, {"p": "normal"}, priority="Normal")
    critical = submit_job("echo", ORG_A, {"p": "critical"}, priority="Critical")
    rt.commit()
    workers.start()
    for job in (low, normal, critical):
        wait_for(lambda job=job: status_of(rt, job.name) == "Completed")
    started = {j.name: get_job_status(j.name).started_at for j in (low, normal, critical)}
    assert started[critical.name] <= started[normal.name] <= started[low.name]
