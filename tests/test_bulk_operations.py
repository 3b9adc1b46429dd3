"""retry_matching: the dead letter queue's "retry all matching", in batches, on both stores."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B

from dartwing.dartwing_core.background_jobs import (
    InvalidInputError,
    NotPermittedError,
    get_job_status,
    schema,
    submit_job,
)
from dartwing.dartwing_core.background_jobs.bulk_operations import retry_matching
from dartwing.dartwing_core.background_jobs.execution import run_job


def _dead(rt, organization: str, count: int, job_type: str = "always_fails") -> list[str]:
    names = [submit_job(job_type, organization, {"n": n}).name for n in range(count)]
    rt.commit()
    bj = schema.background_job
    rt.execute(sa.update(bj).where(bj.c.name.in_(names)).values(status="Dead Letter", error_type="Permanent"))
    rt.commit()
    return names


def test_retry_all_matching_goes_in_batches_until_none_remain(rt):
    a = _dead(rt, ORG_A, 7)
    b = _dead(rt, ORG_B, 3)
    first = retry_matching({"organization": ORG_A}, batch_size=5)
    assert (first["retried"], first["failed"], first["remaining"]) == (5, [], 2)
    second = retry_matching({"organization": ORG_A}, batch_size=5)
    rt.commit()
    assert (second["retried"], second["remaining"]) == (2, 0)
    assert {get_job_status(name)["status"] for name in a} == {"Queued"}
    assert {get_job_status(name)["status"] for name in b} == {"Dead Letter"}  # outside the filter
    assert get_job_status(a[0])["retry_count"] == 0


def test_the_filter_narrows_by_type_error_and_age_and_refuses_what_it_does_not_know(rt):
    _dead(rt, ORG_A, 2)
    echo = _dead(rt, ORG_A, 1, job_type="echo")
    assert retry_matching({"job_type": "echo", "older_than_hours": 1})["retried"] == 0  # too recent
    assert retry_matching({"job_type": "echo", "error_type": "Permanent"})["retried"] == 1
    assert get_job_status(echo[0])["status"] == "Queued"
    for bad in ({"status": "Completed"}, {"organization": 5}, {"older_than_hours": "-1"}, {"older_than_hours": True}):
        with pytest.raises(InvalidInputError):
            retry_matching(bad)
    with pytest.raises(InvalidInputError):
        retry_matching({}, batch_size=501)


def test_members_cannot_retry_in_bulk_and_a_rollback_undoes_the_batch(rt):
    names = _dead(rt, ORG_A, 2)
    for member in (ALICE, BOB):
        rt.set_user(member)
        with pytest.raises(NotPermittedError):
            retry_matching({"organization": ORG_A})
    rt.set_user(ADMIN)
    assert retry_matching({})["retried"] == 2
    rt.rollback()
    assert {get_job_status(name)["status"] for name in names} == {"Dead Letter"}
    assert run_job(names[0], 0) == "not claimed"  # no message was sent for the rolled-back retry


def test_http_retry_matching_for_administrators_only_with_a_checked_filter(api, rt):
    _dead(rt, ORG_A, 2)
    assert api.call("POST", "retry_matching", user=ALICE, json={"filters": {}}).status_code == 403
    assert api.call("POST", "retry_matching", user=ADMIN, json={"filters": "[1]"}).status_code == 400
    assert api.call("POST", "retry_matching", user=ADMIN, json={"filters": {"status": "x"}}).status_code == 400
    assert api.call("POST", "retry_matching", user=ADMIN, json={"batch_size": 0}).status_code == 400
    answer = api.call("POST", "retry_matching", user=ADMIN, json={"filters": {"organization": ORG_A}, "batch_size": 1})
    assert answer.status_code == 200 and answer.json()["message"] == {"retried": 1, "failed": [], "remaining": 1}
    form = api.call("POST", "retry_matching", user=ADMIN, data={"filters": '{"organization": "Org A"}'})
    assert form.json()["message"]["retried"] == 1
