"""Engine statements as MariaDB SQL text with bound parameters.

The Frappe runtime runs these through `frappe.db.sql(sql, values)` (see `execute_compiled`); the
standalone runtime's MariaDB fast path (standalone/compiled.py) and tests use `to_mariadb`. Values
never enter the text: they stay in the parameter dict, in pymysql's `%(name)s` style.

A named statement (statements.py) run with the parameter names `mariadb_statements.py` lists for it
takes its text from there, so a Frappe work horse runs a job without importing SQLAlchemy. Any other
statement run with `params` is compiled once per (statement, parameter names) and kept; one built per
call (no `params`) is compiled each time, as nothing would reuse it. SQLAlchemy is imported on the
first compile only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .mariadb_statements import STATEMENTS
from .runtime import ExecResult, Params
from .statements import Statement, built

# Runs SQL text with pyformat values; returns the rows (as dicts) and the matched-row count.
SqlRunner = Callable[[str, dict[str, Any]], tuple[list[dict[str, Any]], int]]

_COMPILED: dict[tuple[Any, frozenset[str]], Any] = {}
_dialect: Any = None


def _compile(statement: Any, column_keys: list[str] | None) -> Any:
    global _dialect
    if _dialect is None:
        from sqlalchemy.dialects import mysql

        _dialect = mysql.dialect(paramstyle="pyformat")
    return statement.compile(
        dialect=_dialect, column_keys=column_keys, compile_kwargs={"render_postcompile": True}
    )


def to_mariadb(statement: Any, params: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Compile `statement` (a named statement or a SQLAlchemy one) for MariaDB: (text, values)."""
    statement = built(statement)
    if params is None:
        compiled = _compile(statement, None)
        return str(compiled), dict(compiled.params)
    key = (statement, frozenset(params))
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = _compile(statement, sorted(params))
    return str(compiled), compiled.construct_params(params)


def precompiled(statement: Any, params: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The text and values `mariadb_statements.py` holds for this named statement and these
    parameter names (its fixed values merged in), or None."""
    if not isinstance(statement, Statement):
        return None
    entry = STATEMENTS.get((statement.key, tuple(sorted(params))))
    if entry is None:
        return None
    text, fixed = entry
    return text, {**fixed, **params} if fixed else params


def execute_compiled(statement: Any, params: Params, run: SqlRunner) -> ExecResult:
    """`Runtime.execute` for a host that runs SQL text: a list of params runs once per dict."""
    if isinstance(params, list):
        return ExecResult(rowcount=sum(execute_compiled(statement, one, run).rowcount for one in params))
    text_and_values = None if params is None else precompiled(statement, params)
    rows, rowcount = run(*(text_and_values or to_mariadb(statement, params)))
    return ExecResult(rows=rows, rowcount=rowcount)
