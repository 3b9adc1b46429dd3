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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
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
    _begin(connection)
    many = isinstance(params, list)
    if many:
        texts_and_values = [precompiled(statement, one) or to_mariadb(statement, one) for one in params]
        text, values = texts_and_values[0][0], [one_values for _, one_values in texts_and_values]
    else:
        text, values = precompiled(statement, params) or to_mariadb(statement, params)
    cursor = connection.connection.cursor()
    try:
        with _raised_as_sqlalchemy(connection, text, values, cursor):
            if many:
                cursor.executemany(text, values)
            else:
                cursor.execute(text, values)
            rows = []
            if cursor.description:
                names = [column[0] for column in cursor.description]
                rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            return ExecResult(rows=rows, rowcount=cursor.rowcount)
    finally:
        with suppress(Exception):  # after an invalidation there is no socket left to tidy
            cursor.close()


class Sent:
    """A prebuilt statement with its values escaped into its text (`prepare`), then sent to the
    server with its reply not read yet (`transmit`, then `receive`)."""

    __slots__ = ("connection", "statement", "params", "text", "values", "query")

    def __init__(
        self, connection: sa.Connection, statement: Any, params: dict[str, Any], text: str, values: Any, query: bytes
    ):
        self.connection, self.statement, self.params = connection, statement, params
        self.text, self.values, self.query = text, values, query


def can_send(connection: sa.Connection) -> bool:
    """Whether the driver can send a statement without waiting for its reply (mysqlclient can)."""
    return hasattr(connection.connection.dbapi_connection, "send_query")


def send(connection: sa.Connection, statement: Any, params: dict[str, Any]) -> Sent:
    """Send one prebuilt statement and return at once: the server runs it while the caller does
    other work. Nothing else may run on the connection before `receive` reads its reply."""
    return transmit(prepare(connection, statement, params))


def prepare(connection: sa.Connection, statement: Any, params: dict[str, Any]) -> Sent:
    """The statement as `send` sends it, not sent yet: the client's share of its work (compiling,
    escaping), which can run while the server runs the statement sent before."""
    text, values = precompiled(statement, params) or to_mariadb(statement, params)
    dbapi_connection = connection.connection.dbapi_connection
    with _raised_as_sqlalchemy(connection, text, values):
        cursor = connection.connection.cursor()
        try:
            query = cursor.mogrify(text, values)  # the text cursor.execute would send
        finally:
            cursor.close()
    return Sent(connection, statement, params, text, values, query.encode(dbapi_connection.encoding))


def transmit(sent: Sent) -> Sent:
    """Send a prepared statement (see `send`)."""
    _begin(sent.connection)
    with _raised_as_sqlalchemy(sent.connection, sent.text, sent.values):
        sent.connection.connection.dbapi_connection.send_query(sent.query)
    return sent


def execute_all(connection: sa.Connection, statements: Iterable[tuple[Any, dict[str, Any]]]) -> None:
    """Run the statements in order, each sent before the next is taken from `statements` and
    prepared: the client's work on the next one overlaps the server's on this one. The first failure
    is raised as `execute` raises it and nothing after it is sent; the statements before it stay in
    the transaction. Only one statement is in flight at a time."""
    items = iter(statements)
    item = next(items, None)
    upcoming = None if item is None else prepare(connection, *item)
    while upcoming is not None:
        sent = transmit(upcoming)
        try:
            item = next(items, None)  # while the server runs `sent`
            upcoming = None if item is None else prepare(connection, *item)
        except BaseException:
            with suppress(Exception):  # read its reply: the connection stays usable (rollback)
                receive(sent)
            raise
        receive(sent)


def receive(sent: Sent) -> ExecResult:
    """Read the reply of a statement `send` sent, as `execute` would have returned it."""
    dbapi_connection = sent.connection.connection.dbapi_connection
    with _raised_as_sqlalchemy(sent.connection, sent.text, sent.values):
        dbapi_connection.read_query_result()
        result = dbapi_connection.store_result()
        if result is None:
            return ExecResult(rows=[], rowcount=dbapi_connection.affected_rows())
        names = [column[0] for column in result.describe()]
        rows = [dict(zip(names, row, strict=True)) for row in result.fetch_row(0)]
        return ExecResult(rows=rows, rowcount=len(rows))


def _begin(connection: sa.Connection) -> None:
    if not connection.in_transaction():
        connection.begin()  # no round trip: the driver opens the transaction with the statement


@contextmanager
def _raised_as_sqlalchemy(connection: sa.Connection, text: str, values: Any, cursor: Any = None) -> Iterator[None]:
    """A driver error raised the way SQLAlchemy raises it (the connection invalidated if the server
    is gone); an interruption mid-reply invalidates the connection, which cannot be reused."""
    try:
        yield
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
        if not isinstance(exc, Exception):
            connection.invalidate(exc)
        raise
