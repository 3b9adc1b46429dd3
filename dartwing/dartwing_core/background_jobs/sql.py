"""Compiling engine statements to MariaDB SQL text with bound parameters.

The Frappe runtime hands these to `frappe.db.sql(sql, values)`; tests use them for EXPLAIN. Values
never enter the text: they stay in the parameter dict, in pymysql's `%(name)s` style.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import mysql

_DIALECT = mysql.dialect(paramstyle="pyformat")


def to_mariadb(statement: Any) -> tuple[str, dict[str, Any]]:
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    return str(compiled), dict(compiled.params)
