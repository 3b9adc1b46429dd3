"""The helpers app developers use in their own tests (background_jobs/testing.py), on both stores."""

from __future__ import annotations

import pytest
import redis
from conftest import ORG_A

from dartwing.dartwing_core.background_jobs import get_job_history, get_job_status, submit_job
from dartwing.dartwing_core.background_jobs.testing import assert_submitted, capture_jobs, drain_jobs


def _rq_keys(rt) -> list[bytes]:
    return redis.Redis.from_url(rt.config.redis_url).keys("rq:queue:*")


def test_captured_jobs_reach_no_queue_until_drained_through_the_real_state_machine(rt):
    with capture_jobs() as jobs:
        first = submit_job("echo", ORG_A, {"n": 1})
        submit_job("echo", ORG_A, {"n": 2})
        assert jobs.messages == []  # nothing leaves before the commit
        rt.commit()
        assert len(jobs.job_names()) == 2 and jobs.job_names()[0] == first.name
        assert assert_submitted("echo", n=1)["name"] == first.name
        assert drain_jobs() == {"Completed": 2}
    assert _rq_keys(rt) == []
    assert get_job_status(first.name)["result"] == {"echo": {"n": 1}}
    assert [(h["from_status"], h["to_status"]) for h in get_job_history(first.name)] == [
        (None, "Pending"), ("Pending", "Queued"), ("Queued", "Running"), ("Running", "Completed"),
    ]


def test_drain_runs_planned_retries_at_once_and_dependents_after_their_parent(rt):
    with capture_jobs():
        flaky = submit_job("flaky", ORG_A, {"fail_times": 2})
        doomed = submit_job("always_fails", ORG_A, {"record": 1})
        parent = submit_job("echo", ORG_A, {"step": "parent"})
        child = submit_job("echo", ORG_A, {"step": "child"}, depends_on=parent.name)
        rt.commit()
        ran = drain_jobs()
    assert ran == {"Failed": 2, "Completed": 3, "Dead Letter": 1}
    assert [get_job_status(job.name)["status"] for job in (flaky, doomed, parent, child)] == [
        "Completed", "Dead Letter", "Completed", "Completed",
    ]
    assert get_job_status(flaky.name)["retry_count"] == 2


def test_without_retries_a_failed_job_waits_for_its_backoff(rt):
    with capture_jobs():
        flaky = submit_job("flaky", ORG_A, {"fail_times": 1})
        rt.commit()
        assert drain_jobs(with_retries=False) == {"Failed": 1}
    assert get_job_status(flaky.name)["status"] == "Failed"


def test_drain_runs_delayed_and_snoozed_jobs_now_unless_asked_not_to(rt):
    with capture_jobs():
        later = submit_job("echo", ORG_A, {"n": "later"}, delay=3600)
        snoozer = submit_job("snooze_demo", ORG_A, {"times": 2, "seconds": 600})
        rt.commit()
        assert drain_jobs(with_delayed=False) == {"Pending": 1}  # the snoozer's first run
        assert get_job_status(later.name)["status"] == "Pending"
        assert drain_jobs() == {"Completed": 2, "Pending": 1}
    assert get_job_status(snoozer.name)["snooze_count"] == 2
    assert get_job_status(later.name)["status"] == "Completed"


def test_inline_runs_what_a_commit_queued_once_the_commit_returns(rt):
    with capture_jobs(inline=True) as jobs:
        job = submit_job("progress_demo", ORG_A, {"steps": 2, "delay": 0})
        assert get_job_status(job.name)["status"] == "Queued"
        rt.commit()
        assert get_job_status(job.name)["status"] == "Completed"
        assert jobs.ran == {"Completed": 1}
        rolled_back = submit_job("echo", ORG_A, {"n": "never"})
        rt.rollback()  # a rolled-back submit queues nothing
        assert jobs.messages == [] and jobs.ran == {"Completed": 1}
    assert rolled_back.name
    after = submit_job("echo", ORG_A, {"n": "after"})
    rt.commit()  # outside the block, commits are plain again and messages go to RQ
    assert get_job_status(after.name)["status"] == "Queued" and _rq_keys(rt) != []


def test_assert_submitted_says_what_exists_and_drain_needs_a_capture(rt):
    with capture_jobs():
        submit_job("echo", ORG_A, {"n": 1})
        with pytest.raises(AssertionError, match=r"no echo job with parameters \{'n': 2\}; echo jobs: \[\{'n': 1\}\]"):
            assert_submitted("echo", n=2)
    with pytest.raises(RuntimeError, match="capture_jobs"):
        drain_jobs()


def test_a_bulk_submit_is_captured_and_drained_too(rt):
    from dartwing.dartwing_core.background_jobs import submit_jobs

    with capture_jobs() as jobs:
        submit_jobs([{"job_type": "echo", "organization": ORG_A, "parameters": {"n": n}} for n in range(3)])
        rt.commit()
        assert len(jobs.messages) == 3
        assert drain_jobs() == {"Completed": 3}
    assert _rq_keys(rt) == []
