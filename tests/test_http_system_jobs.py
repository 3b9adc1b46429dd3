"""The seed-004 surface (/api/system/background-jobs) over the same engine, with Bearer tokens."""

from __future__ import annotations

import pytest
from conftest import ALICE, BOB, ORG_A, table_counts, wait_for

from dartwing.dartwing_core.standalone import admin

PATH = "/api/system/background-jobs"


def bearer(api, user):
    return {"Authorization": "Bearer " + api.tokens[user].split(" ", 1)[1]}


def test_create_get_list_and_cancel(api, rt):
    created = api.client.post(
        PATH,
        headers=bearer(api, ALICE),
        json={"job_type": "sleep", "priority": "high", "payload": {"seconds": 30}, "max_retries": 2},
    )
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["status"] == "queued" and job["priority"] == "high" and job["max_retries"] == 2
    assert job["organization"] == ORG_A  # Alice's only organization
    one = api.client.get(f"{PATH}/{job['id']}", headers=bearer(api, ALICE)).json()
    assert one["id"] == job["id"] and one["engine_status"] == "Queued"
    queued = api.client.get(PATH, params={"status": "queued"}, headers=bearer(api, ALICE)).json()
    assert [j["id"] for j in queued] == [job["id"]]
    assert api.client.get(PATH, params={"status": "completed"}, headers=bearer(api, ALICE)).json() == []
    canceled = api.client.post(f"{PATH}/{job['id']}/cancel", headers=bearer(api, ALICE)).json()
    assert canceled["status"] == "cancelled" and canceled["engine_status"] == "Canceled"


def test_statuses_map_onto_the_engine(api, rt, workers):
    workers.start()
    done = api.client.post(
        PATH, headers=bearer(api, ALICE), json={"job_type": "echo", "payload": {"x": 1}}
    ).json()
    failed = api.client.post(
        PATH, headers=bearer(api, ALICE), json={"job_type": "always_fails", "payload": {}}
    ).json()
    wait_for(
        lambda: api.client.get(f"{PATH}/{done['id']}", headers=bearer(api, ALICE)).json()["status"]
        == "completed"
    )
    wait_for(
        lambda: api.client.get(f"{PATH}/{failed['id']}", headers=bearer(api, ALICE)).json()["status"]
        == "failed"
    )
    assert (
        api.client.get(f"{PATH}/{failed['id']}", headers=bearer(api, ALICE)).json()["engine_status"]
        == "Dead Letter"
    )
    assert [
        j["id"] for j in api.client.get(PATH, params={"status": "failed"}, headers=bearer(api, ALICE)).json()
    ] == [failed["id"]]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"job_type": "nope"}, 400),
        ({"job_type": "echo", "priority": "urgent"}, 400),
        ({"job_type": "echo", "payload": [1]}, 400),
        ({"job_type": "echo", "colour": "red"}, 400),
    ],
)
def test_bad_creates_are_400_and_change_nothing(api, rt, body, status):
    before = table_counts(rt)
    assert api.client.post(PATH, headers=bearer(api, ALICE), json=body).status_code == status
    assert table_counts(rt) == before


def test_auth_and_tenancy(api, rt):
    assert api.client.get(PATH).status_code == 401
    assert (
        api.client.get(PATH, headers={"Authorization": api.tokens[ALICE]}).status_code == 401
    )  # 'token', not Bearer
    job = api.client.post(
        PATH, headers=bearer(api, ALICE), json={"job_type": "echo", "payload": {"t": 1}}
    ).json()
    assert api.client.get(f"{PATH}/{job['id']}", headers=bearer(api, BOB)).status_code == 404
    assert api.client.post(f"{PATH}/{job['id']}/cancel", headers=bearer(api, BOB)).status_code == 404
    assert api.client.get(PATH, headers=bearer(api, BOB)).json() == []
    assert api.client.get(PATH, params={"status": "done"}, headers=bearer(api, BOB)).status_code == 400


def test_organization_is_required_when_ambiguous(api, rt):
    admin.add_member(rt, ALICE, "Org B")
    rt.commit()
    response = api.client.post(PATH, headers=bearer(api, ALICE), json={"job_type": "echo"})
    assert response.status_code == 400 and "organization is required" in response.text
    explicit = api.client.post(
        PATH, headers=bearer(api, ALICE), json={"job_type": "echo", "organization": "Org B"}
    )
    assert explicit.status_code == 200 and explicit.json()["organization"] == "Org B"
