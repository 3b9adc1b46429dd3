"""Hostile input against a real server process: every answer is a 4xx in Frappe's error shape, and
nothing changes. (The fuzz of issue 18: deep nesting, non-finite numbers, over-long URLs, OPTIONS.)"""

from __future__ import annotations

import json
import socket

import pytest
from conftest import ALICE, BASE, ORG_A, table_counts

from dartwing.dartwing_core.api import service

ENDPOINTS = sorted(service.ENDPOINTS)
DEEP = "[" * 5000 + "]" * 5000


def assert_frappe_error(response, status: int, text: str) -> None:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) == {"exc_type", "exception", "_server_messages"}
    assert text in body["exception"], body["exception"]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_json_nested_5000_deep_is_400_on_every_endpoint(api, rt, name):
    before = table_counts(rt)
    response = api.call(
        "POST", name, content='{"job_id": ' + DEEP + "}", headers={"Content-Type": "application/json"}
    )
    assert_frappe_error(response, 400, "nests deeper than")
    assert table_counts(rt) == before


@pytest.mark.parametrize("field", ["timeout", "max_retries"])
@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_non_finite_numbers_in_submit_are_400(api, rt, field, number):
    before = table_counts(rt)
    body = f'{{"job_type": "noop", "organization": "{ORG_A}", "{field}": {number}}}'
    response = api.call("POST", "submit_job", content=body, headers={"Content-Type": "application/json"})
    assert_frappe_error(response, 400, "finite" if number[-1] != "0" else "out of range")
    assert table_counts(rt) == before


@pytest.mark.parametrize("field", ["limit", "start"])
def test_non_finite_numbers_in_list_jobs_are_400(api, field):
    response = api.call(
        "POST", "list_jobs", content=f'{{"{field}": Infinity}}', headers={"Content-Type": "application/json"}
    )
    assert_frappe_error(response, 400, "finite")


def test_parameters_sent_as_json_text_follow_the_same_rules(api, rt):
    before = table_counts(rt)
    for text, message in ((DEEP, "nests deeper than"), ('{"x": NaN}', "finite")):
        response = api.call(
            "POST", "submit_job", data={"job_type": "noop", "organization": ORG_A, "parameters": text}
        )
        assert_frappe_error(response, 400, message)
    assert table_counts(rt) == before
    nested = json.dumps({"a": {"b": {"c": [1, 2.5, {"d": None}]}}})
    ok = api.call(
        "POST", "submit_job", data={"job_type": "noop", "organization": ORG_A, "parameters": nested}
    )
    assert ok.status_code == 200, ok.text


def test_seed_004_create_with_infinite_max_retries_is_400_in_the_same_shape(api, rt):
    before = table_counts(rt)
    response = api.client.post(
        "/api/system/background-jobs",
        content=f'{{"job_type": "noop", "organization": "{ORG_A}", "max_retries": Infinity}}',
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer " + api.tokens[ALICE].split(" ", 1)[1],
        },
    )
    assert_frappe_error(response, 400, "finite")
    assert table_counts(rt) == before


def _raw_get(api, target: bytes) -> bytes:
    """One GET over a plain socket (httpx refuses URLs this long); the server's answer head."""
    host, port = api.client.base_url.host, api.client.base_url.port
    with socket.create_connection((host, port), timeout=30) as conn:
        conn.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_a_2mb_query_string_is_414(api):
    target = (BASE + "get_job_status?job_id=").encode() + b"J" * 2_000_000
    head, _, body = _raw_get(api, target).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414"), head[:200]
    assert json.loads(body)["exc_type"] == "UriTooLongError"


def test_options_lists_the_methods_and_head_answers_like_get(api):
    options = api.client.options(BASE + "get_job_status")
    assert options.status_code == 204
    assert set(options.headers["allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    post_only = api.client.options(BASE + "submit_job")  # the endpoint's own methods, not the route's
    assert post_only.status_code == 204 and set(post_only.headers["allow"].split(", ")) == {"POST", "OPTIONS"}
    head = api.call("HEAD", "list_jobs")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/json"


def test_unknown_routes_and_methods_answer_in_the_error_shape(api):
    assert_frappe_error(api.client.get("/nothing/here"), 404, "Not Found")
    refused = api.client.delete(BASE + "get_job_status")
    assert_frappe_error(refused, 405, "Method Not Allowed")
    assert "GET" in refused.headers["allow"]


def test_the_document_states_the_start_bound_the_server_enforces(api):
    doc = api.client.get("/api/openapi.json").json()
    params = {p["name"]: p["schema"] for p in doc["paths"][BASE + "list_jobs"]["get"]["parameters"]}
    bound = params["start"]["maximum"]
    assert api.call("GET", "list_jobs", params={"start": bound}).status_code == 200
    assert_frappe_error(api.call("GET", "list_jobs", params={"start": bound + 1}), 400, "start")


@pytest.mark.parametrize(
    ("http_method", "name", "arguments", "text"),
    [
        ("GET", "list_jobs", {"params": {"organization": ""}}, "organization is empty"),
        ("GET", "list_jobs", {"params": {"status": ""}}, "status is empty"),
        ("GET", "list_jobs", {"params": {"limit": ""}}, "limit is empty"),
        ("POST", "list_jobs", {"json": {"limit": 2.5}}, "limit must be an integer"),
        ("POST", "list_jobs", {"json": {"status": ["Queued"]}}, "status must be one status name"),
        ("GET", "get_job_metrics", {"params": {"organization": ""}}, "organization is empty"),
        ("POST", "submit_job", {"json": {"job_type": "echo", "organization": ""}}, "organization is empty"),
        ("POST", "submit_job", {"json": {"job_type": "echo", "organization": ORG_A, "depends_on": ""}}, "depends_on"),
        ("GET", "check_realtime_room", {"params": {"room": "org:" + "x" * 141}}, "at most 144"),
        ("POST", "check_realtime_room", {"content": b"\t", "headers": {"content-type": "application/json"}}, "JSON"),
    ],
)
def test_what_the_document_forbids_is_400(api, rt, http_method, name, arguments, text):
    """Finding 4: the server refuses every value its OpenAPI document rules out."""
    assert_frappe_error(api.call(http_method, name, **arguments), 400, text)
    assert table_counts(rt) == (0, 0)


def test_null_is_the_default_as_the_document_states(api):
    doc = api.client.get("/api/openapi.json").json()
    schema = doc["paths"][BASE + "list_jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"type": "null"} in schema["properties"]["start"]["anyOf"]
    listed = api.call("POST", "list_jobs", json={"start": None, "limit": None, "organization": None})
    assert listed.status_code == 200 and listed.json()["message"] == []
    room = api.call("GET", "check_realtime_room", params={"room": "org:" + "x" * 140})
    assert room.status_code == 200 and room.json()["message"]["allowed"] is False
