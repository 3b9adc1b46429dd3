"""SQLAlchemy engines for the standalone runtime: SQLite (default) or MariaDB/MySQL by URL.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with BEGIN IMMEDIATE:
writers queue for the lock instead of failing when a read transaction tries to upgrade, and
savepoints work (pysqlite's own transaction handling is switched off, as SQLAlchemy documents).
MariaDB runs at READ COMMITTED, which keeps the dedup's locking reads free of gap locks (a
duplicate-key check still locks the gap below the entry it waits on: bulk.py inserts in index order).

A MariaDB connection costs no round trip when a transaction takes it from the pool or gives it back:
every transaction ends in an explicit COMMIT or ROLLBACK (the runtime's, or SQLAlchemy's own when a
Connection closes mid-transaction), so the pool's reset-on-return ROLLBACK is redundant, and a dead
connection is found by the transaction's first statement, which the runtime then retries once on a
fresh connection (see StandaloneRuntime.execute) instead of pinging before every transaction.
On MySQLdb and PyMySQL the engine's prebuilt statements skip SQLAlchemy's execution layer
(`compiled.py`), so DECIMAL columns are read as float by the driver itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event

from dartwing.dartwing_core.background_jobs import schema

from . import compiled, tables

SQLITE_BUSY_TIMEOUT_SECONDS = 30


def create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        connect_args = {}
        if parsed.get_driver_name() in compiled.DRIVERS:
            connect_args["conv"] = compiled.decimals_as_float(parsed.get_dialect().import_dbapi())
        return sa.create_engine(
            parsed,
            isolation_level="READ COMMITTED",
            pool_reset_on_return=None,
            pool_recycle=3600,
            connect_args=connect_args,
        )
    return sa.create_engine(parsed, pool_pre_ping=True)


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_schema(engine: sa.Engine) -> None:
    """Create every table and index that does not exist yet, and add the columns and composite
    indexes an older store lacks (as Frappe's migrate adds a DocType's new fields, and the app's
    `after_migrate` its indexes); idempotent."""
    schema.metadata.create_all(engine)
    tables.metadata.create_all(engine)
    _add_missing_columns(engine)
    _add_missing_indexes(engine)


def _add_missing_columns(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        inspector = sa.inspect(conn)  # on this connection: SQLite would lock out a second one
        for table in schema.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    definition = sa.schema.CreateColumn(column).compile(dialect=engine.dialect)
                    quoted = engine.dialect.identifier_preparer.format_table(table)
                    conn.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN {definition}")


def _add_missing_indexes(engine: sa.Engine) -> None:
    """`create_all` makes the indexes of the tables it creates only; schema.INDEXES may have grown."""
    wanted = {(schema.table_name(doctype), schema.index_name(cols)) for doctype, all_cols in schema.INDEXES.items()
              for cols in all_cols}
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        for table in schema.metadata.sorted_tables:
            present = {index["name"] for index in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if (table.name, index.name) in wanted and index.name not in present:
                    index.create(conn)


def ended_the_transaction(exc: BaseException) -> bool:
    """Whether the server rolled the whole transaction back on `exc`: a MariaDB/MySQL deadlock (1213)
    does, savepoints and all (a lock wait timeout, 1205, ends only the statement)."""
    code = getattr(getattr(exc, "orig", None), "args", None) or (None,)
    return isinstance(exc, sa.exc.OperationalError) and code[0] == 1213


def is_unique_violation(exc: BaseException) -> bool:
    if not isinstance(exc, sa.exc.IntegrityError):
        return False
    orig = exc.orig
    code = orig.args[0] if getattr(orig, "args", None) else None
    if code == 1062:  # MySQL/MariaDB ER_DUP_ENTRY
        return True
    text = str(orig)
    return "UNIQUE constraint failed" in text or "duplicate key value" in text
