"""`Runtime.execute_all`: statements run in order in the caller's transaction, as `execute` runs each.

On MariaDB through mysqlclient the standalone runtime pipelines them (compiled.execute_all): each
statement is sent before the next is produced, so a failure can come back while the next one has
already been built. These tests pin what the caller sees then: the same typed error `execute`
raises, the statements before it kept, none after it run, and a connection still fit for the
caller's savepoint, rollback or further statements.
"""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from dartwing.dartwing_core.standalone import compiled

mariadb_only = pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)


@pytest.fixture
def scratch(rt):
    """A table of its own with a unique key `k` (created and dropped outside any transaction)."""
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    with rt.engine.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE {name} (k INTEGER NOT NULL PRIMARY KEY)"))
    yield name
    rt.rollback()
    with rt.engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE {name}"))


def inserts(table, keys, produced=None):
    """One INSERT per key, each built only when asked for; `produced` records the keys built."""
    statement = sa.text(f"INSERT INTO {table} (k) VALUES (:k)")
    for key in keys:
        if produced is not None:
            produced.append(key)
        yield statement, {"k": key}


def keys_in(rt, table):
    return sorted(row["k"] for row in rt.execute(sa.text(f"SELECT k FROM {table}")))


def test_statements_run_in_order_in_the_callers_transaction(rt, scratch):
    rt.execute_all(inserts(scratch, [3, 1, 2]))
    assert keys_in(rt, scratch) == [1, 2, 3]
    rt.rollback()
    assert keys_in(rt, scratch) == []
    rt.execute_all(inserts(scratch, [4]))
    rt.commit()
    assert keys_in(rt, scratch) == [4]


@mariadb_only
def test_mysqlclient_sends_each_statement_before_producing_the_next(rt, scratch):
    assert compiled.can_send(rt._connection())

    def slow_pair():
        yield sa.text("DO SLEEP(0.4)"), {}
        time.sleep(0.4)  # the client's work on the next statement, while the server sleeps
        yield sa.text(f"INSERT INTO {scratch} (k) VALUES (:k)"), {"k": 1}

    rt.execute(sa.text("SELECT 1"))  # the transaction's first statement runs on its own (see below)
    started = time.monotonic()
    rt.execute_all(slow_pair())
    assert time.monotonic() - started < 0.75  # one after the other would take 0.8 s at least
    assert keys_in(rt, scratch) == [1]


@mariadb_only
def test_a_failing_statement_raises_what_execute_raises_and_keeps_the_ones_before(rt, scratch):
    rt.execute(sa.text(f"INSERT INTO {scratch} (k) VALUES (100)"))  # the caller's own earlier write
    produced = []
    with pytest.raises(sa.exc.DBAPIError) as pipelined:
        rt.execute_all(inserts(scratch, [1, 2, 1, 3, 4], produced))
    with pytest.raises(sa.exc.DBAPIError) as one:
        rt.execute(*next(inserts(scratch, [2])))

    assert type(pipelined.value) is type(one.value) is sa.exc.IntegrityError
    assert rt.is_unique_violation(pipelined.value)
    assert pipelined.value.orig.args[0] == one.value.orig.args[0] == 1062
    assert "INSERT INTO" in pipelined.value.statement
    assert produced[:4] == [1, 2, 1, 3] and 4 not in produced  # at most one built beyond the failure
    assert keys_in(rt, scratch) == [1, 2, 100]  # nothing after the failure ran; the connection works
    rt.rollback()
    assert keys_in(rt, scratch) == []


@mariadb_only
def test_a_failure_inside_a_savepoint_rolls_back_nothing_of_the_caller(rt, scratch):
    rt.execute(sa.text(f"INSERT INTO {scratch} (k) VALUES (100)"))
    with pytest.raises(sa.exc.IntegrityError), rt.savepoint():
        rt.execute_all(inserts(scratch, [1, 2, 100, 3]))
    assert keys_in(rt, scratch) == [100]
    rt.execute_all(inserts(scratch, [5, 6]))
    rt.commit()
    assert keys_in(rt, scratch) == [5, 6, 100]


@mariadb_only
def test_an_error_while_producing_leaves_the_connection_usable(rt, scratch):
    def failing():
        yield from inserts(scratch, [1, 2])
        raise ValueError("bad spec")

    with pytest.raises(ValueError, match="bad spec"):
        rt.execute_all(failing())
    assert keys_in(rt, scratch) == [1, 2]  # the statement in flight when it raised was answered
    rt.rollback()
    assert keys_in(rt, scratch) == []


@mariadb_only
def test_a_statement_that_returns_rows_leaves_nothing_behind(rt, scratch):
    rt.execute_all([(sa.text("SELECT :n AS n"), {"n": 1}), *inserts(scratch, [7])])
    assert keys_in(rt, scratch) == [7]
