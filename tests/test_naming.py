"""Job names from a naming series: unique across processes; on a database server, taken in blocks
outside the caller's transaction, so concurrent submits do not wait for each other (naming.py)."""

from __future__ import annotations

import threading

import pytest
from conftest import ORG_A

from dartwing.dartwing_core.background_jobs import submit_job
from dartwing.dartwing_core.standalone import StandaloneRuntime
from dartwing.dartwing_core.standalone.naming import BLOCK_MAX, Blocks


def number(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def test_a_process_reserves_blocks_that_double_up_to_the_maximum():
    counter = {"JOB-": 0}
    reserved: list[int] = []

    def reserve(prefix: str, count: int) -> int:
        reserved.append(count)
        counter[prefix] += count
        return counter[prefix]

    blocks = Blocks()
    taken = [blocks.take("JOB-", 1, reserve) for _ in range(400)]
    assert taken == list(range(1, 401))  # one process alone: consecutive, no gap
    assert reserved[:8] == [1, 2, 4, 8, 16, 32, 64, BLOCK_MAX]
    assert max(reserved) == BLOCK_MAX


def test_a_request_larger_than_the_rest_of_a_block_gets_consecutive_numbers_and_leaves_a_gap():
    counter = {"JOB-": 0, "OTHER-": 0}

    def reserve(prefix: str, count: int) -> int:
        counter[prefix] += count
        return counter[prefix]

    blocks = Blocks()
    assert blocks.take("JOB-", 1, reserve) == 1
    assert blocks.take("JOB-", 1, reserve) == 2  # a block of two: 2 and 3
    last = blocks.take("JOB-", 250, reserve)  # more than the block: 250 consecutive, 3 given up
    assert last == 3 + 250
    assert blocks.take("JOB-", 1, reserve) == last + 1
    assert blocks.take("OTHER-", 1, reserve) == 1  # each prefix counts apart


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_a_submit_does_not_wait_for_another_transaction_holding_a_name(rt):
    """The series row is never locked by a caller's transaction: a second process submits and
    commits while the first one's submit is still uncommitted (before: it waited for that commit)."""
    first = submit_job("echo", ORG_A, {"holder": True})  # not committed
    outcome: list[object] = []

    def other_process() -> None:
        runtime = StandaloneRuntime(rt.config)
        try:
            runtime.set_user(rt.current_user())
            outcome.append(submit_job("echo", ORG_A, {"other": True}, runtime=runtime).name)
            runtime.commit()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            outcome.append(exc)
        finally:
            runtime.rollback()
            runtime.engine.dispose()

    thread = threading.Thread(target=other_process)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the second submit waited for the first transaction"
    assert len(outcome) == 1 and isinstance(outcome[0], str)
    assert outcome[0] != first.name
    rt.commit()


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_concurrent_processes_never_take_the_same_name_and_a_rollback_leaves_a_gap(rt):
    names: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def submitter(which: int) -> None:
        runtime = StandaloneRuntime(rt.config)
        try:
            runtime.set_user(rt.current_user())
            barrier.wait()
            for index in range(30):
                job = submit_job("echo", ORG_A, {"w": which, "i": index}, runtime=runtime)
                runtime.commit()
                with lock:
                    names.append(job.name)
        finally:
            runtime.rollback()
            runtime.engine.dispose()

    threads = [threading.Thread(target=submitter, args=(which,)) for which in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(names) == 120 and len(set(names)) == 120

    rolled_back = submit_job("echo", ORG_A, {"undone": True})
    rt.rollback()
    after = submit_job("echo", ORG_A, {"kept": True})
    rt.commit()
    assert number(after.name) > number(rolled_back.name)  # its number is not given back
