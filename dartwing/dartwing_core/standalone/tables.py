"""Tables the standalone runtime needs that a bench gets from Frappe core.

Same names and the columns the engine and server use (`tabUser`, `tabHas Role`, `tabSeries`), so a
query written for one runtime reads the same rows in the other.
"""

from __future__ import annotations

import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs.schema import VARCHAR_LEN, datetime_type

metadata = sa.MetaData()

user = sa.Table(
    "tabUser",
    metadata,
    sa.Column("name", sa.String(VARCHAR_LEN), primary_key=True),
    sa.Column("enabled", sa.SmallInteger(), nullable=False, server_default="1"),
    sa.Column("api_key", sa.String(VARCHAR_LEN), unique=True),
    sa.Column("api_secret_hash", sa.String(255)),
    sa.Column("creation", datetime_type()),
    sa.Column("modified", datetime_type()),
)

has_role = sa.Table(
    "tabHas Role",
    metadata,
    sa.Column("name", sa.String(VARCHAR_LEN), primary_key=True),
    sa.Column("parent", sa.String(VARCHAR_LEN), index=True),
    sa.Column("parenttype", sa.String(VARCHAR_LEN), server_default="User"),
    sa.Column("parentfield", sa.String(VARCHAR_LEN), server_default="roles"),
    sa.Column("role", sa.String(VARCHAR_LEN)),
)

series = sa.Table(
    "tabSeries",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("current", sa.Integer(), nullable=False, server_default="0"),
)
