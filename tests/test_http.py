"""The standalone HTTP server as a client sees it: a real server process, real HTTP, real stores."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import ADMIN, ALICE, BASE, BOB, ORG_A, ORG_B, table_counts, wait_for

from dartwing.dartwing_core.standalone.http.auth import issue_credentials


def submit(api, user=ALICE, **params):
    body = {"job_type": "echo", "organization": ORG_A, "parameters": {"n": time.time_ns()}, **params}
    return api.call("POST", "submit_job", user, json=body)


def test_every_endpoint_happy_path(api, rt):
    created = submit(api, priority="High")
    assert created.status_code == 200, created.text
    job_id = created.json()["message"]["job_id"]
    assert created.json()["message"]["message"] == "Job submitted successfully"
    status = api.call("GET", "get_job_status", params={"job_id": job_id}).json()["message"]
    assert status["status"] == "Queued" and status["priority"] == "High" and status["organization"] == ORG_A
    listed = api.call("GET", "list_jobs", params={"organization": ORG_A, "limit": 10}).json()["message"]
    assert [j["job_id"] for j in listed] == [job_id]
    assert api.call("POST", "list_jobs", data={"status": "Queued"}).json()["message"][0]["job_id"] == job_id
    history = api.call("GET", "get_job_history", params={"job_id": job_id}).json()["message"]
    assert [h["to_status"] for h in history] == ["Pending", "Queued"]
    metrics = api.call("GET", "get_job_metrics").json()["message"]
    assert metrics["job_count_by_status"] == {"Queued": 1}
    room = api.call("GET", "check_realtime_room", params={"room": f"org:{ORG_A}"}).json()["message"]
    assert room == {"user": ALICE, "room": f"org:{ORG_A}", "allowed": True, "reason": None}
    canceled = api.call("POST", "cancel_job", json={"job_id": job_id}).json()["message"]
    assert canceled == {"job_id": job_id, "status": "Canceled", "cancel_requested": False}
    retried = api.call("POST", "retry_job", ADMIN, data={"job_id": job_id})
    assert retried.status_code == 200 and retried.json()["message"]["status"] == "Queued"


def test_delete_is_for_administrators_and_finished_jobs(api, rt):
    job_id = submit(api).json()["message"]["job_id"]
    assert api.call("POST", "delete_job", ADMIN, json={"job_id": job_id}).status_code == 409  # still Queued
    api.call("POST", "cancel_job", json={"job_id": job_id})
    assert api.call("POST", "delete_job", ALICE, json={"job_id": job_id}).status_code == 403
    assert api.call("POST", "delete_job", BOB, json={"job_id": job_id}).status_code == 404
    deleted = api.call("POST", "delete_job", ADMIN, json={"job_id": job_id})
    assert deleted.json()["message"] == {"job_id": job_id, "deleted": True}
    assert table_counts(rt) == (0, 0)  # the job and its history are gone
    assert api.call("GET", "get_job_status", ADMIN, params={"job_id": job_id}).status_code == 404


def test_form_bodies_and_json_text_parameters_work_like_frappe(api):
    response = api.call(
        "POST",
        "submit_job",
        data={"job_type": "echo", "organization": ORG_A, "parameters": json.dumps({"form": True})},
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["message"]["job_id"]
    view = api.call("POST", "get_job_status", json={"job_id": job_id}).json()["message"]
    assert view["job_id"] == job_id


def test_every_timestamp_is_iso_8601_with_its_offset(api):
    """Finding 9: answers name an instant (standalone stores UTC), on both API surfaces."""
    before = datetime.now(timezone.utc)
    job_id = submit(api).json()["message"]["job_id"]
    api.call("POST", "cancel_job", json={"job_id": job_id})
    after = datetime.now(timezone.utc)
    view = api.call("GET", "get_job_status", params={"job_id": job_id}).json()["message"]
    listed = api.call("GET", "list_jobs").json()["message"][0]
    history = api.call("GET", "get_job_history", params={"job_id": job_id}).json()["message"]
    seed = api.client.get(
        f"/api/system/background-jobs/{job_id}", headers={"Authorization": api.tokens[ALICE].replace("token", "Bearer")}
    ).json()
    stamps = [view[f] for f in ("creation", "modified", "queued_at", "completed_at")]
    stamps += [listed["creation"], seed["created_at"], seed["completed_at"]]
    stamps += [step["timestamp"] for step in history]
    for text in stamps:
        assert "T" in text and text.endswith("+00:00"), text
        assert before - timedelta(seconds=1) <= datetime.fromisoformat(text) <= after + timedelta(seconds=1)


BAD_REQUESTS = [
    pytest.param(
        "POST",
        "submit_job",
        {"json": {"job_type": "nope", "organization": ORG_A}},
        400,
        "Unknown job type",
        id="unknown-type",
    ),
    pytest.param(
        "POST",
        "submit_job",
        {"json": {"job_type": "echo", "organization": ORG_A, "priority": "Urgent"}},
        400,
        "priority",
        id="bad-priority",
    ),
    pytest.param(
        "POST",
        "submit_job",
        {"json": {"job_type": "echo", "organization": ORG_A, "parameters": [1]}},
        400,
        "JSON object",
        id="params-list",
    ),
    pytest.param(
        "POST",
        "submit_job",
        {"json": {"job_type": "echo", "organization": ORG_A, "parameters": {"x": "y" * 70000}}},
        400,
        "limit",
        id="params-too-large",
    ),
    pytest.param(
        "POST",
        "submit_job",
        {"json": {"job_type": "echo", "organization": ORG_A, "colour": "red"}},
        400,
        "unknown parameter",
        id="unknown-param",
    ),
    pytest.param(
        "POST",
        "submit_job",
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        400,
        "not valid JSON",
        id="bad-json",
    ),
    pytest.param(
        "POST",
        "submit_job",
        {"content": b"<xml/>", "headers": {"Content-Type": "application/xml"}},
        415,
        "Content-Type",
        id="xml",
    ),
    pytest.param(
        "POST",
        "submit_job",
        {"content": b"x" * (1024 * 1024 + 1), "headers": {"Content-Type": "application/json"}},
        413,
        "body",
        id="too-large",
    ),
    pytest.param(
        "GET", "get_job_status", {"params": {"job_id": "JOB-1' OR '1'='1"}}, 400, "job_id", id="bad-job-id"
    ),
    pytest.param(
        "GET", "get_job_status", {"params": {"job_id": "JOB-2026-99999"}}, 404, "not found", id="unknown-job"
    ),
    pytest.param("GET", "list_jobs", {"params": {"limit": 101}}, 400, "limit", id="limit-101"),
    pytest.param("GET", "list_jobs", {"params": {"status": "Done"}}, 400, "status", id="bad-status"),
    pytest.param("GET", "list_jobs", {"params": {"start": -1}}, 400, "start", id="negative-start"),
    pytest.param(
        "GET", "submit_job", {"params": {"job_type": "echo"}}, 403, "accepts POST", id="get-on-post-only"
    ),
    pytest.param(
        "POST",
        "submit_job",
        {"json": {"job_type": "echo", "organization": ORG_B}},
        403,
        "not an active member",
        id="other-tenant",
    ),
    pytest.param(
        "POST", "retry_job", {"json": {"job_id": "JOB-2026-99999"}}, 404, "not found", id="retry-unknown"
    ),
]


@pytest.mark.parametrize(("method", "name", "kwargs", "status", "text"), BAD_REQUESTS)
def test_bad_requests_get_clear_4xx_and_change_nothing(api, rt, method, name, kwargs, status, text):
    before = table_counts(rt)
    response = api.call(method, name, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert text in body["exception"] and body["exc_type"] and "_server_messages" in body
    assert table_counts(rt) == before


def test_unknown_method_is_404(api):
    response = api.client.get(
        "/api/method/dartwing.dartwing_core.api.jobs.drop_everything",
        headers={"Authorization": api.tokens[ALICE]},
    )
    assert response.status_code == 404
    assert api.client.get("/api/method/frappe.client.get_list").status_code == 404


@pytest.mark.parametrize("header", [None, "token nope:nope", "Bearer x", "token onlykey", "token a:b:c"])
def test_missing_or_wrong_tokens_are_401(api, rt, header):
    headers = {"Authorization": header} if header else {}
    response = api.client.post(
        BASE + "submit_job", headers=headers, json={"job_type": "echo", "organization": ORG_A}
    )
    assert response.status_code == 401 and response.json()["exc_type"] == "AuthenticationError"
    assert table_counts(rt) == (0, 0)


def test_a_rotated_secret_stops_working(api, rt):
    old = api.tokens[ALICE]
    issue_credentials(rt, ALICE)
    rt.commit()
    assert api.client.get(BASE + "get_job_metrics", headers={"Authorization": old}).status_code == 401


def test_duplicates_answer_409_naming_the_existing_job(api):
    first = submit(api, parameters={"same": 1}).json()["message"]["job_id"]
    again = submit(api, parameters={"same": 1})
    assert again.status_code == 409 and first in again.json()["exception"]


def test_cross_tenant_attempts_leak_nothing(api, rt):
    job_id = submit(api).json()["message"]["job_id"]
    for method, name, kwargs in [
        ("GET", "get_job_status", {"params": {"job_id": job_id}}),
        ("GET", "get_job_history", {"params": {"job_id": job_id}}),
        ("POST", "cancel_job", {"json": {"job_id": job_id}}),
    ]:
        response = api.call(method, name, BOB, **kwargs)
        assert response.status_code == 404, (name, response.text)
        assert ORG_A not in response.text
    assert api.call("POST", "retry_job", BOB, json={"job_id": job_id}).status_code in (403, 404)
    assert api.call("GET", "list_jobs", BOB).json()["message"] == []
    assert api.call("GET", "list_jobs", BOB, params={"organization": ORG_A}).json()["message"] == []
    assert api.call("GET", "get_job_metrics", BOB, params={"organization": ORG_A}).status_code == 403
    assert api.call("GET", "get_job_metrics", BOB).json()["message"]["job_count_by_status"] == {}
    assert (
        api.call("GET", "check_realtime_room", BOB, params={"room": f"org:{ORG_A}"}).json()["message"][
            "allowed"
        ]
        is False
    )
    assert (
        api.call("GET", "get_job_status", params={"job_id": job_id}).json()["message"]["status"] == "Queued"
    )


INJECTIONS = ["' OR '1'='1", "x'; DROP TABLE `tabBackground Job`; --", '" OR ""="', "Org A\\' --", "%' --"]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_strings_change_nothing(api, rt, payload):
    submit(api)
    before = table_counts(rt)
    responses = [
        api.call("POST", "submit_job", json={"job_type": payload, "organization": ORG_A}),
        api.call("POST", "submit_job", json={"job_type": "echo", "organization": payload}),
        api.call("POST", "submit_job", json={"job_type": "echo", "organization": ORG_A, "priority": payload}),
        api.call(
            "POST", "submit_job", json={"job_type": "echo", "organization": ORG_A, "depends_on": payload}
        ),
        api.call("GET", "get_job_status", params={"job_id": payload}),
        api.call("GET", "get_job_history", params={"job_id": payload}),
        api.call("POST", "cancel_job", json={"job_id": payload}),
        api.call("GET", "list_jobs", params={"organization": payload}),
        api.call("GET", "list_jobs", params={"job_type": payload}),
        api.call("GET", "list_jobs", params={"status": payload}),
        api.call("GET", "get_job_metrics", params={"organization": payload}),
        api.call("GET", "check_realtime_room", params={"room": payload}),
    ]
    for response in responses:
        assert response.status_code < 500, response.text
        if response.status_code == 200:
            message = response.json()["message"]
            assert message in (
                [],
                {
                    "user": ALICE,
                    "room": payload,
                    "allowed": False,
                    "reason": "only rooms named org:<organization> can be joined",
                },
            ), message
    assert table_counts(rt) == before


def test_submit_rate_limit_triggers_at_the_101st_request_in_a_minute(api, rt):
    statuses = [
        api.call(
            "POST", "submit_job", json={"job_type": "noop", "organization": ORG_A, "parameters": {"i": i}}
        ).status_code
        for i in range(101)
    ]
    assert statuses[:100] == [200] * 100
    limited = api.call("POST", "submit_job", json={"job_type": "noop", "organization": ORG_A})
    assert statuses[100] == 429 and limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert table_counts(rt)[0] == 100
    assert (
        api.call("POST", "submit_job", BOB, json={"job_type": "noop", "organization": ORG_B}).status_code
        == 200
    )


def test_openapi_document_describes_every_endpoint(api):
    doc = api.client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        BASE + name
        for name in (
            "submit_job",
            "submit_jobs",
            "get_job_status",
            "list_jobs",
            "cancel_job",
            "retry_job",
            "get_job_metrics",
            "get_job_history",
            "explain_job",
            "retry_matching",
            "check_realtime_room",
            "delete_job",
            "create_schedule",
            "update_schedule",
            "enable_schedule",
            "disable_schedule",
            "delete_schedule",
            "get_schedule",
            "list_schedules",
        )
    }
    assert set(doc["paths"][BASE + "submit_job"]) == {"post"}
    assert doc["paths"][BASE + "submit_job"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "required"
    ] == ["job_type", "organization"]


def test_prometheus_metrics(api, rt, workers):
    workers.start()
    job_id = submit(api, job_type="progress_demo", parameters={"steps": 2, "delay": 0.05}).json()["message"][
        "job_id"
    ]
    wait_for(
        lambda: api.call("GET", "get_job_status", params={"job_id": job_id}).json()["message"]["status"]
        == "Completed"
    )
    text = api.client.get("/metrics").text
    assert 'dartwing_jobs{status="Completed"} 1.0' in text
    assert 'dartwing_queue_depth{priority="Normal"} 0.0' in text
    assert "dartwing_dead_letter_jobs 0.0" in text
    assert "dartwing_processing_seconds_count 1.0" in text
    wait_for(lambda: "dartwing_worker_last_heartbeat_timestamp_seconds{" in api.client.get("/metrics").text)


# submit_job's (and each submit_jobs item's) job_type, organization and depends_on must name rows that
# exist, which no schema can state: a schema-valid submit naming none is a 400 ("Unknown job type"),
# and the check that valid data is accepted is told so for those two operations, and for the schedule
# writes (a schedule names a job type and an organization; an update names a schedule). retry_matching's
# filters may also arrive as the object's JSON text (a Frappe form sends objects so), which the
# document cannot state beside the object: a string that holds a valid filter is accepted.
SCHEMATHESIS_CONFIG = """
[[operations]]
include-operation-id = "submit_job_post"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

[[operations]]
include-operation-id = "submit_jobs_post"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

[[operations]]
include-operation-id = "create_schedule_post"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

[[operations]]
include-operation-id = "update_schedule_post"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

[[operations]]
include-operation-id = "retry_matching_post"
checks.negative_data_rejection.enabled = false
"""


@pytest.mark.parametrize("db_url", [pytest.param("mariadb", marks=pytest.mark.mariadb)], indirect=True)
def test_schemathesis_all_checks_pass(api, tmp_path):
    """Finding 4: property-based fuzzing of every operation with every check (no 5xx, the document's
    limits enforced, valid input accepted, answers as documented), over at least 2,000 cases. On
    MariaDB only: the HTTP layer is the same on both stores, and MariaDB is where a value the document
    admits could still break a column (strict mode, lengths)."""
    url = f"{api.client.base_url}/api/openapi.json"
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            url,
            "--checks",
            "all",
            "--max-examples",
            "150",
            "--header",
            f"Authorization: {api.tokens[ALICE]}",
            "--generation-deterministic",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    summary = result.stdout
    document = api.client.get("/api/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert f"Tested: {operations}" in summary, summary[-2000:]  # every operation of the document
    generated = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert generated and generated.group(1) == generated.group(2) and int(generated.group(1)) >= 2000, summary[
        -2000:
    ]
