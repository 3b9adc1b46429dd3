"""Named engine statements, built on first use.

Why: a stock `bench worker` horse that has never imported the app would import SQLAlchemy (over
100 ms of CPU) only to build statements whose MariaDB text never changes. The modules a job's run and
a submit need define their statements as `@statement` builders instead of module-level SQLAlchemy
objects: the standalone runtime runs what `build()` returns (imported and built on first use, then
kept), and the Frappe runtime runs the MariaDB text that `mariadb_statements.py` holds for the
statement's name and parameter names, so on that path nothing imports SQLAlchemy. A statement or
parameter set missing there is compiled as before (sql.py), only slower.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

_PACKAGE = __name__.rpartition(".")[0] + "."
# Every named statement by key, filled as the modules that define them are imported.
REGISTRY: dict[str, Statement] = {}


class Statement:
    """A SQLAlchemy Core statement known by a stable name (`module.NAME`), built on first use."""

    __slots__ = ("key", "_build", "_built")

    def __init__(self, key: str, build: Callable[[ModuleType, ModuleType], Any]) -> None:
        self.key = key
        self._build = build
        self._built: Any = None

    def build(self) -> Any:
        """The SQLAlchemy statement; the builder gets the `sqlalchemy` and `schema` modules."""
        if self._built is None:
            import sqlalchemy

            from . import schema

            self._built = self._build(sqlalchemy, schema)
        return self._built

    def __repr__(self) -> str:
        return f"<Statement {self.key}>"


def statement(build: Callable[[ModuleType, ModuleType], Any]) -> Statement:
    """Decorator: `@statement def _JOB(sa, t): return sa.select(t.background_job)...`."""
    key = f"{build.__module__.removeprefix(_PACKAGE)}.{build.__name__}"
    if key in REGISTRY:
        raise ValueError(f"statement {key} is defined twice")
    REGISTRY[key] = named = Statement(key, build)
    return named


def built(stmt: Any) -> Any:
    """The SQLAlchemy object behind `stmt` (a `Statement`, or already a SQLAlchemy statement)."""
    return stmt.build() if isinstance(stmt, Statement) else stmt
