"""Every precompiled statement (background_jobs/mariadb_statements.py) is what sql.to_mariadb compiles
today, so the Frappe runtime's fast path runs exactly the SQL the compiled path would."""

from __future__ import annotations

import pytest
from precompiled_statements import compile_entry

from dartwing.dartwing_core.background_jobs.mariadb_statements import STATEMENTS
from dartwing.dartwing_core.background_jobs.sql import execute_compiled
from dartwing.dartwing_core.background_jobs.statements import REGISTRY


def test_the_file_lists_statements():
    assert len(STATEMENTS) >= 10  # the claim, the finish, the log rows, the submit's reads and insert


@pytest.mark.parametrize("key", sorted(STATEMENTS), ids=lambda key: f"{key[0]}{list(key[1])}")
def test_each_entry_is_todays_compile(key):
    assert STATEMENTS[key] == compile_entry(*key), (
        "stale: rewrite with DARTWING_WRITE_PRECOMPILED=1 (tests/frappe_contract/test_precompiled_sql.py)"
    )


def test_a_precompiled_statement_runs_its_text_with_the_callers_values_and_its_fixed_ones():
    (key, names), (text, fixed) = next((k, v) for k, v in sorted(STATEMENTS.items()) if v[1])
    ran = []
    execute_compiled(REGISTRY[key], {name: 1 for name in names}, lambda sql, values: ran.append((sql, values)) or ([], 0))
    assert ran == [(text, {**fixed, **{name: 1 for name in names}})]
