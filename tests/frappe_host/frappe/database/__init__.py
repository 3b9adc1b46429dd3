"""Contract host: `frappe/database/database.py` and `frappe/database/mariadb/database.py` of v15.

The connection is opened as v15's MariaDBConnectionUtil opens it: PyMySQL, utf8mb4, v15's
conversions, and no client flags, so `cursor.rowcount` after an UPDATE counts *changed* rows (no
FOUND_ROWS). Transactions follow v15's `Database.commit` / `rollback`: COMMIT then START TRANSACTION
then the after-commit callbacks (so they run inside the next transaction); ROLLBACK resets the commit
callbacks first, and a savepoint rollback runs no callback at all.
"""

from __future__ import annotations

import re
from typing import Any

import pymysql
from pymysql.constants import ER, FIELD_TYPE
from pymysql.converters import conversions

import frappe
from frappe.exceptions import ImplicitCommitError, QueryDeadlockError, QueryTimeoutError, TooManyWritesError
from frappe.utils import CallbackManager, get_datetime

_IFNULL = re.compile(r"ifnull\(", flags=re.IGNORECASE)


def get_db(host=None, port=None, user=None, password=None, cur_db_name=None) -> MariaDBDatabase:
    """v15 `frappe.database.get_db` for `db_type` mariadb."""
    return MariaDBDatabase(host=host, port=port, user=user, password=password, cur_db_name=cur_db_name)


def _is_query_type(query: str, query_types: tuple[str, ...]) -> bool:
    return query.lstrip().split(maxsplit=1)[0].lower().startswith(query_types) if query.strip() else False


class MariaDBDatabase:
    """v15 `MariaDBDatabase`: the methods the app calls."""

    VARCHAR_LEN = 140
    MAX_WRITES_PER_TRANSACTION = 200_000
    OPTIONAL_COLUMNS = ("_user_tags", "_comments", "_assign", "_liked_by")
    DEFAULT_COLUMNS = ("name", "creation", "modified", "modified_by", "owner", "docstatus", "idx")
    DEFAULT_SHORTCUTS = ("_Login", "__user", "_Full Name", "Today", "__today", "now", "Now")
    CONVERSION_MAP = conversions | {FIELD_TYPE.NEWDECIMAL: float, FIELD_TYPE.DATETIME: get_datetime}
    db_type = "mariadb"

    InternalError = pymysql.InternalError
    ProgrammingError = pymysql.ProgrammingError
    OperationalError = pymysql.OperationalError
    DataError = pymysql.DataError

    def __init__(self, host=None, port=None, user=None, password=None, cur_db_name=None):
        self.host = host or "127.0.0.1"
        self.port = port
        self.user = user
        self.password = password
        self.cur_db_name = cur_db_name
        self._conn = None
        self._cursor = None
        self.transaction_writes = 0
        self.before_commit = CallbackManager()
        self.after_commit = CallbackManager()
        self.before_rollback = CallbackManager()
        self.after_rollback = CallbackManager()
        self.setup_type_map()

    def setup_type_map(self) -> None:
        """v15 `MariaDBDatabase.setup_type_map`: fieldtype → (column type, size)."""
        v = str(self.VARCHAR_LEN)
        self.type_map = {
            "Currency": ("decimal", "21,9"),
            "Int": ("int", "11"),
            "Long Int": ("bigint", "20"),
            "Float": ("decimal", "21,9"),
            "Percent": ("decimal", "21,9"),
            "Check": ("int", "1"),
            "Small Text": ("text", ""),
            "Long Text": ("longtext", ""),
            "Code": ("longtext", ""),
            "Text Editor": ("longtext", ""),
            "Markdown Editor": ("longtext", ""),
            "HTML Editor": ("longtext", ""),
            "Date": ("date", ""),
            "Datetime": ("datetime", "6"),
            "Time": ("time", "6"),
            "Text": ("text", ""),
            "Data": ("varchar", v),
            "Link": ("varchar", v),
            "Dynamic Link": ("varchar", v),
            "Password": ("text", ""),
            "Select": ("varchar", v),
            "Rating": ("decimal", "3,2"),
            "Read Only": ("varchar", v),
            "Attach": ("text", ""),
            "Attach Image": ("text", ""),
            "Signature": ("longtext", ""),
            "Color": ("varchar", v),
            "Barcode": ("longtext", ""),
            "Geolocation": ("longtext", ""),
            "Duration": ("decimal", "21,9"),
            "Icon": ("varchar", v),
            "Phone": ("varchar", v),
            "Autocomplete": ("varchar", v),
            "JSON": ("json", ""),
        }

    # --- connection ------------------------------------------------------------------------------
    def connect(self) -> None:
        """v15 `Database.connect` + `MariaDBConnectionUtil.get_connection_settings`."""
        settings: dict[str, Any] = {
            "host": self.host,
            "user": self.user,
            "password": self.password or "",
            "conv": self.CONVERSION_MAP,
            "charset": "utf8mb4",
            "use_unicode": True,
        }
        if self.cur_db_name:
            settings["database"] = self.cur_db_name
        if self.port:
            settings["port"] = int(self.port)
        self._conn = pymysql.connect(**settings)
        self._cursor = self._conn.cursor()

    def close(self) -> None:
        if self._conn:
            self._conn.close()
            self._cursor = None
            self._conn = None

    # --- statements ------------------------------------------------------------------------------
    def sql(self, query, values=(), as_dict=0, as_list=0, debug=0, auto_commit=0, pluck=False, **kwargs):
        """v15 `Database.sql`: run one statement; rows as tuples, `_dict`s (as_dict) or one column
        (pluck); `()` for a statement without a result set."""
        query = _IFNULL.sub("coalesce(", str(query).strip())
        if not self._conn:
            self.connect()
        self.check_transaction_status(query)
        if auto_commit:
            self.commit()
        if values == ():
            values = None
        elif not isinstance(values, tuple | dict | list):
            values = (values,)
        try:
            self._cursor.execute(query, values)
        except Exception as exc:
            if self.is_deadlocked(exc):
                raise QueryDeadlockError(exc) from exc
            if self.is_timedout(exc):
                raise QueryTimeoutError(exc) from exc
            raise
        if auto_commit:
            self.commit()
        if not self._cursor.description:
            return ()
        result = self._cursor.fetchall()
        if pluck:
            return [row[0] for row in result]
        if as_dict:
            keys = [column[0] for column in self._cursor.description]
            return [frappe._dict(zip(keys, row, strict=False)) for row in result]
        if as_list:
            return [list(row) for row in result]
        return result

    def sql_ddl(self, query: str, debug: bool = False) -> None:
        """v15 `Database.sql_ddl`: commit first (DDL commits implicitly), then run it."""
        self.commit()
        self.sql(query)

    def check_transaction_status(self, query: str) -> None:
        """v15: DDL inside a transaction with writes raises ImplicitCommitError; more than
        MAX_WRITES_PER_TRANSACTION writes raise TooManyWritesError."""
        if self.transaction_writes and _is_query_type(query, ("start", "alter", "drop", "create", "begin", "truncate")):
            raise ImplicitCommitError("This statement can cause implicit commit")
        if _is_query_type(query, ("commit", "rollback")):
            self.transaction_writes = 0
        if query.lstrip()[:6].lower() in ("update", "insert", "delete"):
            self.transaction_writes += 1
            if self.transaction_writes > self.MAX_WRITES_PER_TRANSACTION:
                raise TooManyWritesError("Too many changes to database in single action.")

    # --- transactions ----------------------------------------------------------------------------
    def begin(self, *, read_only: bool = False) -> None:
        self.sql(f"START TRANSACTION {'READ ONLY' if read_only else ''}")

    def commit(self) -> None:
        """v15 `Database.commit`: reset rollback callbacks, run before_commit, COMMIT, START
        TRANSACTION, then run the after-commit callbacks, inside that new transaction."""
        self.before_rollback.reset()
        self.after_rollback.reset()
        self.before_commit.run()
        self.sql("commit")
        self.begin()
        self.after_commit.run()

    def rollback(self, *, save_point: str | None = None) -> None:
        """v15 `Database.rollback`: to a savepoint, nothing else; otherwise reset the commit
        callbacks (those not yet run are dropped), run before_rollback, ROLLBACK, START TRANSACTION,
        then after_rollback."""
        if save_point:
            self.sql(f"rollback to savepoint {save_point}")
            return
        self.before_commit.reset()
        self.after_commit.reset()
        self.before_rollback.run()
        self.sql("rollback")
        self.begin()
        self.after_rollback.run()

    def savepoint(self, save_point: str) -> None:
        self.sql(f"savepoint {save_point}")

    def release_savepoint(self, save_point: str) -> None:
        self.sql(f"release savepoint {save_point}")

    # --- errors ----------------------------------------------------------------------------------
    @staticmethod
    def is_deadlocked(exc: BaseException) -> bool:
        return getattr(exc, "args", (None,))[0] == ER.LOCK_DEADLOCK

    @staticmethod
    def is_timedout(exc: BaseException) -> bool:
        return getattr(exc, "args", (None,))[0] == ER.LOCK_WAIT_TIMEOUT

    @staticmethod
    def is_duplicate_entry(exc: BaseException) -> bool:
        return getattr(exc, "args", (None,))[0] == ER.DUP_ENTRY

    @staticmethod
    def is_unique_key_violation(exc: BaseException) -> bool:
        """v15: a DUP_ENTRY IntegrityError whose message says Duplicate."""
        return (
            MariaDBDatabase.is_duplicate_entry(exc)
            and "Duplicate" in str(exc.args[1])
            and isinstance(exc, pymysql.IntegrityError)
        )

    @staticmethod
    def escape(s: Any, percent: bool = True) -> str:
        """v15 `MariaDBDatabase.escape`: a quoted SQL literal, backticks escaped, % doubled."""
        s = pymysql.converters.escape_string(frappe.as_unicode(s)).replace("`", "\\`")
        if percent:
            s = s.replace("%", "%%")
        return "'" + s + "'"

    # --- schema ----------------------------------------------------------------------------------
    def has_index(self, table_name: str, index_name: str):
        return self.sql(f"SHOW INDEX FROM `{table_name}` WHERE Key_name=%s", (index_name,))

    def add_index(self, doctype: str, fields: list[str], index_name: str | None = None) -> None:
        """v15 `MariaDBDatabase.add_index`: if the index name is not there, commit, then ALTER TABLE."""
        index_name = index_name or "_".join(fields) + "_index"
        table = f"tab{doctype}"
        if not self.has_index(table, index_name):
            self.commit()
            self.sql(f"ALTER TABLE `{table}` ADD INDEX `{index_name}`({', '.join(fields)})")

    def get_next_sequence_val(self, doctype_name: str, slug: str = "_id_seq") -> int:
        """v15 `frappe.database.sequence.get_next_val`: `nextval` of the DocType's sequence."""
        return self.sql(f"SELECT nextval(`{frappe.scrub(doctype_name + slug)}`)")[0][0]

    # --- document helpers ------------------------------------------------------------------------
    def exists(self, dt, dn=None, cache: bool = False):
        """v15 `Database.exists`: the name of a matching row, or None."""
        if isinstance(dt, dict):
            filters = dict(dt)
            dt = filters.pop("doctype")
        elif isinstance(dn, dict):
            filters = dn
        elif dn is None:
            return None
        else:
            filters = {"name": dn}
        names = frappe.get_all(dt, filters=filters, pluck="name", limit_page_length=1, order_by=None)
        return names[0] if names else None

    def get_value(self, doctype: str, filters, fieldname="name", as_dict: bool = False):
        """v15 `Database.get_value` for one field (or a list of fields) of the first matching row."""
        if isinstance(filters, str):
            filters = {"name": filters}
        fields = [fieldname] if isinstance(fieldname, str) else list(fieldname)
        rows = frappe.get_all(doctype, filters=filters, fields=fields, limit_page_length=1, order_by=None)
        if not rows:
            return None
        row = rows[0]
        if as_dict:
            return row
        return row[fields[0]] if len(fields) == 1 else tuple(row[f] for f in fields)

    def delete(self, doctype: str, filters: dict | None = None, **kwargs) -> None:
        """v15 `Database.delete`: DELETE with the filters as bound values."""
        from frappe.model.db_query import where_clause

        where, values = where_clause(filters or {})
        self.sql(f"delete from `tab{doctype}`" + (f" where {where}" if where else ""), values)
