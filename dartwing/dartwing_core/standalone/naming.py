"""Naming series such as `JOB-.YYYY.-.#####`, kept in `tabSeries` the way Frappe keeps them.

The counter is bumped inside the caller's transaction with one upsert statement that also returns the
new value (one round trip), so its row lock orders concurrent submits (a rolled-back submit gives its
number back) and the first use of a new prefix — say, on New Year's Day — cannot deadlock the way
update-then-insert does on InnoDB. RETURNING needs MariaDB 10.5, SQLite 3.35 or PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from . import tables

_DATE_PARTS = {"YYYY": "%Y", "YY": "%y", "MM": "%m", "DD": "%d"}
_UPSERTS = {
    "mysql": mysql.insert,
    "mariadb": mysql.insert,
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def parse_series(series: str, now: datetime) -> tuple[str, int]:
    """(`prefix`, digit count) of a series expression at `now`: `JOB-.YYYY.-.#####` → (`JOB-2026-`, 5)."""
    prefix, digits = [], 0
    for part in series.split("."):
        if part and set(part) == {"#"}:
            digits = len(part)
            break
        prefix.append(now.strftime(_DATE_PARTS[part]) if part in _DATE_PARTS else part)
    if not digits:
        raise ValueError(f"naming series {series!r} has no ##### part")
    return "".join(prefix), digits


@cache
def bump_statement(dialect: str):
    """One statement that creates the counter `prefix` at `count` or adds `count` to it, returning its
    new value: the last of `count` numbers taken at once (a bulk submit's names).

    Built once per dialect (it runs on every submit) with the prefix and count as bind parameters."""
    s = tables.series
    count = sa.bindparam("count", type_=sa.Integer())
    insert = _UPSERTS[dialect](s).values(name=sa.bindparam("prefix"), current=count)
    if dialect in ("mysql", "mariadb"):
        upsert = insert.on_duplicate_key_update(current=s.c.current + count)
    else:
        upsert = insert.on_conflict_do_update(index_elements=[s.c.name], set_={"current": s.c.current + count})
    return upsert.returning(s.c.current)


def series_names(prefix: str, digits: int, last: int, count: int) -> list[str]:
    """The `count` names of a series that end at number `last`, in order."""
    return [f"{prefix}{value:0{digits}d}" for value in range(last - count + 1, last + 1)]
