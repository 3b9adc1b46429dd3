"""Generated: do not edit. Rewrite with `DARTWING_WRITE_PRECOMPILED=1` and the contract test
tests/frappe_contract/test_precompiled_sql.py, which also checks in CI that every entry is what
sql.to_mariadb compiles today and that the Frappe runtime's job and submit paths find all they run.

(statement key, sorted parameter names) -> (MariaDB text, fixed values the text binds).
"""

STATEMENTS: dict[tuple[str, tuple[str, ...]], tuple[str, dict]] = {}
