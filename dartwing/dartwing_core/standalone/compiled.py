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
from contextlib import suppress
from typing import Any

import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs.runtime import ExecResult
from dartwing.dartwing_core.background_jobs.sql import precompiled, to_mariadb

DRIVERS = frozenset({"mysqldb", "pymysql"})


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
    if not connection.in_transaction():
        connection.begin()  # no round trip: the driver opens the transaction with the statement
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
        disconnected = connection.dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor)
        if disconnected:
            connection.invalidate(exc)
        raise sa.exc.DBAPIError.instance(
            text,
            values,
            exc,
            connection.dialect.loaded_dbapi.Error,
            connection_invalidated=disconnected,
            dialect=connection.dialect,
        ) from exc
    except BaseException as exc:
        if not isinstance(exc, Exception):  # interrupted mid-reply: the connection cannot be reused
            connection.invalidate(exc)
        raise
    finally:
        with suppress(Exception):  # after an invalidation there is no socket left to tidy
            cursor.close()
