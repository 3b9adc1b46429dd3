"""The database schema, read from the DocType JSON files (the single source).

Both runtimes build their SQL from the SQLAlchemy Core tables defined here: the Frappe runtime compiles
them to MariaDB SQL with bound parameters and runs them through `frappe.db.sql`; the standalone runtime
creates the tables and runs them itself. Column types follow Frappe v15's MariaDB type map, so a row
written by one runtime is readable by the other.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

DOCTYPE_DIR = Path(__file__).resolve().parent.parent / "doctype"

# Frappe v15 fieldtypes that hold no column (layout and buttons).
NO_COLUMN_FIELDTYPES = frozenset(
    {
        "Section Break",
        "Column Break",
        "Tab Break",
        "HTML",
        "Button",
        "Image",
        "Fold",
        "Heading",
        "Table",
        "Table MultiSelect",
    }
)

VARCHAR_LEN = 140


def datetime_type() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class _MariaDBJson(sa.types.UserDefinedType):
    """MariaDB's `json` (LONGTEXT with a json_valid CHECK), as Frappe v15 types a JSON field. Values stay
    the engine's canonical JSON text: no bind or result processing."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "json"


def _int(width: int) -> sa.types.TypeEngine:
    return sa.Integer().with_variant(mysql.INTEGER(display_width=width), "mysql", "mariadb")


def _bigint() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(mysql.BIGINT(display_width=20), "mysql", "mariadb")


def _longtext() -> sa.types.TypeEngine:
    return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def _decimal() -> sa.types.TypeEngine:
    return sa.Numeric(21, 9, asdecimal=False)


# fieldtype -> (column type factory, NOT NULL with a numeric default?) as Frappe v15 maps them on MariaDB.
_TYPE_MAP = {
    "Data": lambda df: sa.String(int(df.get("length") or VARCHAR_LEN)),
    "Link": lambda df: sa.String(VARCHAR_LEN),
    "Dynamic Link": lambda df: sa.String(VARCHAR_LEN),
    "Select": lambda df: sa.String(VARCHAR_LEN),
    "Read Only": lambda df: sa.String(VARCHAR_LEN),
    "Phone": lambda df: sa.String(VARCHAR_LEN),
    "Color": lambda df: sa.String(VARCHAR_LEN),
    "Autocomplete": lambda df: sa.String(VARCHAR_LEN),
    "Int": lambda df: _bigint() if int(df.get("length") or 0) > 11 else _int(11),
    "Long Int": lambda df: _bigint(),
    "Check": lambda df: _int(1),
    "Float": lambda df: _decimal(),
    "Currency": lambda df: _decimal(),
    "Percent": lambda df: _decimal(),
    "Duration": lambda df: _decimal(),
    "Date": lambda df: sa.Date(),
    "Datetime": lambda df: datetime_type(),
    "Time": lambda df: sa.Time(),
    "Small Text": lambda df: sa.Text(),
    "Text": lambda df: sa.Text(),
    "Password": lambda df: sa.Text(),
    "Attach": lambda df: sa.Text(),
    "Attach Image": lambda df: sa.Text(),
    "Long Text": lambda df: _longtext(),
    "Code": lambda df: _longtext(),
    "Text Editor": lambda df: _longtext(),
    "Markdown Editor": lambda df: _longtext(),
    "HTML Editor": lambda df: _longtext(),
    "JSON": lambda df: sa.Text().with_variant(_MariaDBJson(), "mysql", "mariadb"),
}
# Frappe v15 (DbColumn.get_definition) makes these NOT NULL with a numeric default; no other type.
_NUMERIC_NOT_NULL = frozenset({"Int", "Check", "Float", "Currency", "Percent"})
# Columns Frappe adds to every table that is not a child table (frappe/database/schema.py).
OPTIONAL_COLUMNS = ("_user_tags", "_comments", "_assign", "_liked_by")
# Columns Frappe adds to a child table instead (the row's parent document and its Table field).
CHILD_COLUMNS = ("parent", "parentfield", "parenttype")

# Composite indexes. Frappe DocType JSON has no key for them, so this list is the one place they live:
# `on_doctype_update` applies it in a bench and the standalone DDL applies it here.
INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "Background Job": (
        ("creation",),  # list_jobs and Desk sort by creation (Frappe adds none for it at create)
        ("status", "next_retry_at"),
        ("status", "run_at"),  # delayed and snoozed jobs coming due (delays.py)
        ("status", "modified"),
        # (organization, status) prefix: per-organization counts and caps; with modified: the
        # organization-scoped metrics windows (its recent Completed / Dead Letter rows) stay ranges.
        ("organization", "status", "modified"),
        ("organization", "creation"),
        # the job browser's job type filter: one range in page order per status (job_browser.py)
        ("job_type", "status", "modified"),
        ("depends_on",),
    ),
    # a rate-limited type's starts in its window, for every organization or for one
    "Job Start": (("job_type", "started_at"), ("job_type", "organization", "started_at")),
    "Job Execution Log": (
        ("background_job", "timestamp"),
        ("organization", "timestamp"),
    ),
    # person first: a user's memberships (tenancy); organization first: its members (Desk list_update)
    "Org Member": (("person", "organization", "status"), ("organization", "status")),
    # the minute tick's due schedules: a range on next_run_at among the enabled ones
    "Job Schedule": (("enabled", "next_run_at"),),
    # a schedule's recent runs; the daily cleanup's range on occurrence
    "Job Schedule Run": (("job_schedule", "occurrence"), ("occurrence",)),
    # the overview reads the rows of the viewer's organizations (snapshots.py)
    "Job Metrics Snapshot": (("organization",),),
}

JOB_DOCTYPES = (
    "Background Job",
    "Job Dependency",
    "Job Type",
    "Job Start",
    "Job Execution Log",
    "Organization",
    "Person",
    "Org Member",
    "Job Schedule",
    "Job Schedule Run",
    "Job Metrics Snapshot",
)


def index_name(columns: tuple[str, ...]) -> str:
    """Frappe-style index name for a column tuple (stable, so re-applying is a no-op)."""
    return "_".join(columns) + "_index"


def scrub(doctype: str) -> str:
    return doctype.lower().replace(" ", "_")


@cache
def load_doctype(doctype: str) -> dict:
    """The parsed DocType JSON of one of this app's DocTypes."""
    path = DOCTYPE_DIR / scrub(doctype) / f"{scrub(doctype)}.json"
    return json.loads(path.read_text())


def table_name(doctype: str) -> str:
    return f"tab{doctype}"


def _standard_columns(meta: dict) -> list[sa.Column]:
    if meta.get("autoname") == "autoincrement":
        name = sa.Column(
            "name", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        )
    else:
        name = sa.Column("name", sa.String(VARCHAR_LEN), primary_key=True)
    return [
        name,
        sa.Column("creation", datetime_type()),
        sa.Column("modified", datetime_type()),
        sa.Column("modified_by", sa.String(VARCHAR_LEN)),
        sa.Column("owner", sa.String(VARCHAR_LEN)),
        sa.Column("docstatus", _int(1), nullable=False, server_default="0"),
        sa.Column("idx", _int(8), nullable=False, server_default="0"),
    ]


def _field_column(df: dict) -> sa.Column:
    fieldtype = df["fieldtype"]
    coltype = _TYPE_MAP[fieldtype](df)
    default = df.get("default")
    if fieldtype in _NUMERIC_NOT_NULL:
        number = float(default or 0)
        text = str(int(number)) if number.is_integer() else str(number)
        return sa.Column(df["fieldname"], coltype, nullable=False, server_default=text)
    server_default = (
        default if default not in (None, "") and not str(default).startswith(("__", ":")) else None
    )
    return sa.Column(
        df["fieldname"], coltype, nullable=True, server_default=server_default, unique=bool(df.get("unique"))
    )


def _is_mariadb(ddl, target, bind, **kw) -> bool:
    return bind.dialect.name in ("mysql", "mariadb")


def _build_table(metadata: sa.MetaData, doctype: str) -> sa.Table:
    """The table Frappe v15 creates for the DocType (frappe/database/mariadb/schema.py MariaDBTable.create):
    standard columns, a column per field, the optional columns, an index per `search_index` field and
    the standard `modified` index; then this app's composite indexes."""
    meta = load_doctype(doctype)
    fields = [df for df in meta["fields"] if df["fieldtype"] not in NO_COLUMN_FIELDTYPES]
    columns = _standard_columns(meta) + [_field_column(df) for df in fields]
    if meta.get("istable"):
        columns += [sa.Column(name, sa.String(VARCHAR_LEN)) for name in CHILD_COLUMNS]
    else:
        columns += [sa.Column(name, sa.Text()) for name in OPTIONAL_COLUMNS]
    table = sa.Table(table_name(doctype), metadata, *columns)
    for df in fields:
        if df.get("search_index") and not df.get("unique"):
            sa.Index(df["fieldname"], table.c[df["fieldname"]])
    # Frappe names it `modified` (`parent` in a child table); SQLite's index names are per database,
    # so there it is qualified.
    standard_index = "parent" if meta.get("istable") else "modified"
    sa.Index(standard_index, table.c[standard_index]).ddl_if(callable_=_is_mariadb)
    sa.Index(f"{scrub(doctype)}_{standard_index}", table.c[standard_index]).ddl_if(
        callable_=lambda ddl, target, bind, **kw: not _is_mariadb(ddl, target, bind)
    )
    for cols in INDEXES.get(doctype, ()):
        sa.Index(index_name(cols), *(table.c[c] for c in cols))
    return table


metadata = sa.MetaData()

background_job = _build_table(metadata, "Background Job")
job_type = _build_table(metadata, "Job Type")
job_dependency = _build_table(metadata, "Job Dependency")
job_start = _build_table(metadata, "Job Start")
job_execution_log = _build_table(metadata, "Job Execution Log")
organization = _build_table(metadata, "Organization")
person = _build_table(metadata, "Person")
org_member = _build_table(metadata, "Org Member")
job_schedule = _build_table(metadata, "Job Schedule")
job_schedule_run = _build_table(metadata, "Job Schedule Run")
job_metrics_snapshot = _build_table(metadata, "Job Metrics Snapshot")
