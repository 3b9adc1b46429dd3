"""Compiling engine statements to MariaDB SQL text with bound parameters.

The Frappe runtime runs these through `frappe.db.sql(sql, values)` (see `execute_compiled`); tests
use them for EXPLAIN and to run the engine through the same compiled SQL on PyMySQL. Values
never enter the text: they stay in the parameter dict, in pymysql's `%(name)s` style.

A statement run with `params` is one of the engine's module-level statements, so its compiled form
is kept per (statement, parameter names) and the hot paths compile nothing per call. A statement
built per call (no `params`) is compiled each time, as nothing would reuse it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import mysql
from sqlalchemy.sql.compiler import Compiled

from .runtime import ExecResult, Params

# Runs SQL text with pyformat values; returns the rows (as dicts) and the matched-row count.
SqlRunner = Callable[[str, dict[str, Any]], tuple[list[dict[str, Any]], int]]

_DIALECT = mysql.dialect(paramstyle="pyformat")
_COMPILED: dict[tuple[Any, frozenset[str]], Compiled] = {}


def _compile(statement: Any, column_keys: list[str] | None) -> Compiled:
    return statement.compile(
        dialect=_DIALECT, column_keys=column_keys, compile_kwargs={"render_postcompile": True}
    )


def to_mariadb(statement: Any, params: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    if params is None:
        compiled = _compile(statement, None)
        return str(compiled), dict(compiled.params)
    key = (statement, frozenset(params))
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = _compile(statement, sorted(params))
    return str(compiled), compiled.construct_params(params)


def execute_compiled(statement: Any, params: Params, run: SqlRunner) -> ExecResult:
    """`Runtime.execute` for a host that runs SQL text: a list of params runs once per dict."""
    if isinstance(params, list):
        return ExecResult(rowcount=sum(execute_compiled(statement, one, run).rowcount for one in params))
    rows, rowcount = run(*to_mariadb(statement, params))
    return ExecResult(rows=rows, rowcount=rowcount)
