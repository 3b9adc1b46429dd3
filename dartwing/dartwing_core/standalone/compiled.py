"""MariaDB: the engine's prebuilt statements run as compiled SQL text on the DBAPI cursor.

Why: SQLAlchemy's per-execution work (cache key, execution context, result object) costs about 60 µs
of CPU per statement, over half of a simple statement's client cost and about 0.7 ms per job, which
the 2-core throughput benchmark pays directly (issue 7). The text and values come from
`sql.precompiled` or `sql.to_mariadb` (compiled once per statement), which is what the Frappe
runtime hands to `frappe.db.sql`: both hosts run the same SQL.

The statement still runs in the runtime's SQLAlchemy connection and transaction (so savepoints and
statements built per call mix freely with it), and a failure is raised the way SQLAlchemy raises it:
an `IntegrityError` for a duplicate key, with `connection_invalidated` set, and the connection
invalidated, when the server is gone.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs.runtime import ExecResult
from dartwing.dartwing_core.background_jobs.sql import precompiled, to_mariadb

DRIVERS = frozenset({"mysqldb", "pymysql"})
PIPELINING_DRIVER = "mysqldb"  # mysqlclient: `send_query` and `read_query_result` (execute_all)


def decimals_as_float(dbapi: Any) -> dict[Any, Any]:
    """The driver's `conv` with DECIMAL columns read as float, as SQLAlchemy's `Numeric(asdecimal=
    False)` and Frappe's own connection both return them."""
    conv = dict(importlib.import_module(f"{dbapi.__name__}.converters").conversions)
    field_type = importlib.import_module(f"{dbapi.__name__}.constants.FIELD_TYPE")
    conv[field_type.DECIMAL] = conv[field_type.NEWDECIMAL] = float
    return conv


def execute(
    connection: sa.Connection, statement: Any, params: dict[str, Any] | list[dict[str, Any]]
) -> ExecResult:
    """Run one prebuilt statement; a list of params runs as one executemany (one multi-row INSERT)."""
    _begin(connection)
    many = isinstance(params, list)
    if many:
        texts_and_values = [precompiled(statement, one) or to_mariadb(statement, one) for one in params]
        text, values = texts_and_values[0][0], [one_values for _, one_values in texts_and_values]
    else:
        text, values = precompiled(statement, params) or to_mariadb(statement, params)
    cursor = connection.connection.cursor()
    try:
        if many:
            cursor.executemany(text, values)
        else:
            cursor.execute(text, values)
        rows = []
        if cursor.description:
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return ExecResult(rows=rows, rowcount=cursor.rowcount)
    except connection.dialect.loaded_dbapi.Error as exc:
        raise _translated(connection, exc, text, values) from exc
    except BaseException as exc:
        _invalidate_if_interrupted(connection, exc)
        raise
    finally:
        with suppress(Exception):  # after an invalidation there is no socket left to tidy
            cursor.close()


def execute_all(connection: sa.Connection, statements: Iterable[tuple[Any, dict[str, Any]]]) -> None:
    """Run the statements in order, each sent before the next is taken from `statements`: the
    client's work that produces (and escapes) the next one overlaps the server's on this one
    (mysqlclient's `send_query` / `read_query_result`). The first failure is raised as `execute`
    raises it and nothing after it is sent; the statements before it stay in the transaction."""
    _begin(connection)
    db = connection.connection.dbapi_connection
    items = iter(statements)
    upcoming = _escaped(db, next(items, None))
    while upcoming is not None:
        text, values, sql = upcoming
        try:
            db.send_query(sql)
            try:
                upcoming = _escaped(db, next(items, None))  # while the server runs `sql`
            except BaseException:
                with suppress(Exception):  # take its reply: the connection stays usable (rollback)
                    db.read_query_result()
                raise
            db.read_query_result()
            db.store_result()  # a statement that returns rows leaves them here: dropped
        except connection.dialect.loaded_dbapi.Error as exc:
            raise _translated(connection, exc, text, values) from exc
        except BaseException as exc:
            _invalidate_if_interrupted(connection, exc)
            raise


def _escaped(db: Any, item: tuple[Any, dict[str, Any]] | None) -> tuple[str, dict[str, Any], bytes] | None:
    """(text, values, the text with the values escaped into it) of a statement, as the cursor would
    send it."""
    if item is None:
        return None
    statement, params = item
    text, values = precompiled(statement, params) or to_mariadb(statement, params)
    encoding, literal = db.encoding, db.literal
    sql = text.encode(encoding) % {key.encode(encoding): literal(value) for key, value in values.items()}
    return text, values, sql


def _begin(connection: sa.Connection) -> None:
    if not connection.in_transaction():
        connection.begin()  # no round trip: the driver opens the transaction with the statement


def _translated(connection: sa.Connection, exc: Exception, text: str, values: Any) -> sa.exc.DBAPIError:
    """The driver's error for `text` as SQLAlchemy raises it (see above); the connection is
    invalidated when the server is gone."""
    disconnected = connection.dialect.is_disconnect(exc, connection.connection.dbapi_connection, None)
    if disconnected:
        connection.invalidate(exc)
    return sa.exc.DBAPIError.instance(
        text,
        values,
        exc,
        connection.dialect.loaded_dbapi.Error,
        connection_invalidated=disconnected,
        dialect=connection.dialect,
    )


def _invalidate_if_interrupted(connection: sa.Connection, exc: BaseException) -> None:
    if not isinstance(exc, Exception):  # interrupted mid-reply: the connection cannot be reused
        connection.invalidate(exc)
