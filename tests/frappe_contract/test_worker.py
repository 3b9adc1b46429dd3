"""Jobs run by real RQ workers through the host's `execute_job`, as a stock `bench worker` runs them:
a forked work horse inits the site, runs `run_job` under the Frappe runtime and commits."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import frappe
import redis
from contract_site import SYSTEM_TIME_ZONE

from dartwing.dartwing_core.background_jobs import get_job_history, submit_job

from .conftest import ALICE, ORG_A


def _status(name: str) -> str:
    frappe.db.rollback()  # a fresh snapshot: the worker committed in its own process
    return frappe.db.sql("select status from `tabBackground Job` where name=%s", (name,))[0][0]


def test_a_stock_worker_runs_jobs_and_publishes_in_frappes_envelope(site, redis_server):
    events: list[dict] = []
    pubsub = redis.Redis.from_url(redis_server.url).pubsub()
    pubsub.subscribe("events")
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                events.append(json.loads(message["data"]))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    job = submit_job("progress_demo", ORG_A, {"steps": 3, "delay": 0})
    frappe.db.commit()
    site.run_burst_worker()
    stop.set()
    listener.join(5)
    assert _status(job.name) == "Completed"
    assert [(h["from_status"], h["to_status"]) for h in get_job_history(job.name)][-2:] == [
        ("Queued", "Running"),
        ("Running", "Completed"),
    ]
    mine = [e for e in events if e["room"] == f"org:{ORG_A}"]
    assert {e["event"] for e in mine} >= {"job_status_changed", "job_progress"}
    assert all(e["namespace"] == site.site for e in mine)
    assert any(e["event"] == "job_progress" and e["message"]["progress"] == 100 for e in mine) or any(
        e["event"] == "job_status_changed" and e["message"]["to_status"] == "Completed" for e in mine
    )


def test_a_child_runs_after_its_parent_across_processes(site):
    parent = submit_job("echo", ORG_A, {"step": "parent"})
    child = submit_job("echo", ORG_A, {"step": "child"}, depends_on=parent.name)
    frappe.db.commit()
    assert _status(child.name) == "Pending"
    site.run_burst_worker()  # runs the parent; its finish releases the child onto the queue
    site.run_burst_worker()
    assert _status(parent.name) == _status(child.name) == "Completed"
    started = {
        name: frappe.db.sql("select started_at from `tabBackground Job` where name=%s", (name,))[0][0]
        for name in (parent.name, child.name)
    }
    assert started[parent.name] < started[child.name]


def test_answers_and_events_name_the_instant_in_the_sites_time_zone(site, redis_server):
    """Finding 9: Frappe stores wall time in the system zone (America/New_York here); every API
    answer and event gives it as ISO 8601 with that zone's offset (-05:00 or -04:00), at the right instant."""
    from frappe.app import handle

    pubsub = redis.Redis.from_url(redis_server.url).pubsub()
    pubsub.subscribe("events")
    before = datetime.now(timezone.utc)
    job = submit_job("progress_demo", ORG_A, {"steps": 2, "delay": 0})
    frappe.db.commit()
    site.run_burst_worker()
    after = datetime.now(timezone.utc)
    api = "dartwing.dartwing_core.api.jobs."
    view = handle("GET", api + "get_job_status", {"job_id": job.name}, user=ALICE)[1]["message"]
    listed = handle("GET", api + "list_jobs", {}, user=ALICE)[1]["message"][0]
    history = handle("GET", api + "get_job_history", {"job_id": job.name}, user=ALICE)[1]["message"]
    events = []
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        data = json.loads(message["data"]) if message["type"] == "message" else {}
        if data.get("event") in ("job_status_changed", "job_progress"):
            events.append(data["message"])
    stamps = [view[f] for f in ("creation", "modified", "queued_at", "started_at", "completed_at")]
    stamps += [listed["creation"]] + [step["timestamp"] for step in history]
    stamps += [event["updated_at"] for event in events]
    assert len(events) >= 3 and len(stamps) >= 12
    expected_offset = datetime.now(ZoneInfo(SYSTEM_TIME_ZONE)).utcoffset()
    assert expected_offset in (timedelta(hours=-5), timedelta(hours=-4))
    for text in stamps:
        stamp = datetime.fromisoformat(text)
        assert "T" in text and stamp.utcoffset() == expected_offset, text
        assert before - timedelta(seconds=1) <= stamp <= after + timedelta(seconds=1), text
