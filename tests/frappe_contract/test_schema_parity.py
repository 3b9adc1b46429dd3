"""The standalone runtime's tables are the ones Frappe v15 builds from the same DocType JSON
(issue 19, defect 8): column types, nullability, defaults, JSON checks and indexes, compared on MariaDB
between the contract site (v15's DDL rules) and `schema.metadata` created in a database of its own."""

from __future__ import annotations

import uuid

import pymysql
import pytest
import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs import schema


@pytest.fixture(scope="module")
def standalone_database(contract_site):
    server = contract_site.server
    name = f"dw_parity_{uuid.uuid4().hex[:8]}"
    root = pymysql.connect(autocommit=True, **server)
    with root.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    engine = sa.create_engine(
        f"mysql+pymysql://{server['user']}:{server['password']}@{server['host']}:{server['port']}/{name}"
    )
    schema.metadata.create_all(engine)
    engine.dispose()
    yield name, root
    with root.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    root.close()


def _sql(root, query: str, values: tuple) -> list[tuple]:
    with root.cursor() as cursor:
        cursor.execute(query, values)
        return list(cursor.fetchall())


def _columns(root, database: str, table: str) -> dict[str, tuple]:
    rows = _sql(
        root,
        "select column_name, column_type, is_nullable, column_default from information_schema.columns"
        " where table_schema=%s and table_name=%s",
        (database, table),
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def _indexes(root, database: str, table: str) -> dict[str, tuple]:
    rows = _sql(
        root,
        "select index_name, non_unique, group_concat(column_name order by seq_in_index)"
        " from information_schema.statistics where table_schema=%s and table_name=%s group by index_name, non_unique",
        (database, table),
    )
    return {row[0]: (int(row[1]), row[2]) for row in rows}


def _checks(root, database: str, table: str) -> set[str]:
    rows = _sql(
        root,
        "select constraint_name from information_schema.check_constraints"
        " where constraint_schema=%s and table_name=%s",
        (database, table),
    )
    return {row[0] for row in rows}


@pytest.mark.parametrize("doctype", schema.JOB_DOCTYPES)
def test_standalone_tables_match_frappes(site, standalone_database, doctype):
    standalone, root = standalone_database
    table = schema.table_name(doctype)
    for read in (_columns, _indexes, _checks):
        assert read(root, standalone, table) == read(root, site.db_name, table), read.__name__
