"""The transition table: every allowed move, and the forbidden ones that matter."""

from __future__ import annotations

import itertools

import pytest

from dartwing.dartwing_core.background_jobs.status import (
    TERMINAL,
    TRANSITIONS,
    JobStatus,
    Priority,
    can_transition,
    parse_priority,
)

S = JobStatus
ALLOWED = {
    (S.PENDING, S.QUEUED),
    (S.PENDING, S.CANCELED),
    (S.QUEUED, S.RUNNING),
    (S.QUEUED, S.CANCELED),
    (S.QUEUED, S.PENDING),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.TIMED_OUT),
    (S.RUNNING, S.CANCELED),
    (S.RUNNING, S.PENDING),  # a snooze
    (S.FAILED, S.QUEUED),
    (S.FAILED, S.DEAD_LETTER),
    (S.FAILED, S.CANCELED),
    (S.TIMED_OUT, S.QUEUED),
    (S.TIMED_OUT, S.DEAD_LETTER),
    (S.TIMED_OUT, S.CANCELED),
    (S.DEAD_LETTER, S.QUEUED),
    (S.CANCELED, S.QUEUED),
}


def test_table_is_exactly_the_designed_graph():
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED
    assert set(TRANSITIONS) == set(JobStatus)


@pytest.mark.parametrize(("from_status", "to_status"), sorted(ALLOWED))
def test_allowed(from_status, to_status):
    assert can_transition(from_status, to_status)
    assert can_transition(from_status.value, to_status.value)


FORBIDDEN = sorted(set(itertools.product(JobStatus, JobStatus)) - ALLOWED)


@pytest.mark.parametrize(("from_status", "to_status"), FORBIDDEN)
def test_forbidden(from_status, to_status):
    assert not can_transition(from_status, to_status)


def test_completed_is_final_and_skipping_running_is_impossible():
    assert TRANSITIONS[S.COMPLETED] == frozenset()
    assert not can_transition(S.QUEUED, S.COMPLETED)
    assert not can_transition(S.PENDING, S.RUNNING)
    assert not can_transition(S.DEAD_LETTER, S.RUNNING)
    assert {S.COMPLETED, S.CANCELED, S.DEAD_LETTER} == TERMINAL


def test_unknown_status_strings_are_never_allowed():
    assert not can_transition("Pending", "Done")
    assert not can_transition("pending", "Queued")


@pytest.mark.parametrize("raw", ["low", "Normal", " HIGH ", "critical", Priority.LOW])
def test_priority_parsing(raw):
    assert isinstance(parse_priority(raw), Priority)


@pytest.mark.parametrize("raw", ["urgent", "", 3, "Normal; DROP TABLE x"])
def test_bad_priority(raw):
    with pytest.raises(ValueError):
        parse_priority(raw)
