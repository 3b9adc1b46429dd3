"""Writing and checking background_jobs/mariadb_statements.py (the Frappe runtime's precompiled SQL).

Shared by tests/test_precompiled_sql.py (every entry is today's compile) and
tests/frappe_contract/test_precompiled_sql.py (the entries are exactly what the job and submit paths
run, and it rewrites the file when asked).
"""

from __future__ import annotations

import importlib
import pkgutil

from dartwing.dartwing_core import background_jobs
from dartwing.dartwing_core.background_jobs.sql import to_mariadb
from dartwing.dartwing_core.background_jobs.statements import REGISTRY

Entry = tuple[str, dict]


def load_every_statement() -> None:
    """Import every engine module, so REGISTRY holds every named statement."""
    for module in pkgutil.walk_packages(background_jobs.__path__, f"{background_jobs.__name__}."):
        importlib.import_module(module.name)


def compile_entry(key: str, names: tuple[str, ...]) -> Entry:
    """(text, fixed values) for the named statement run with parameters `names`, compiled now."""
    load_every_statement()
    sample = {name: f"<{name}>" for name in names}
    text, values = to_mariadb(REGISTRY[key], sample)
    return text, {name: value for name, value in values.items() if name not in sample}


def render_module(keys: set[tuple[str, tuple[str, ...]]]) -> str:
    statements = {key: compile_entry(*key) for key in sorted(keys)}
    body = "".join(f"    {key!r}: (\n        {text!r},\n        {fixed!r},\n    ),\n" for key, (text, fixed) in statements.items())
    return (
        '"""Generated: do not edit. Rewrite with `DARTWING_WRITE_PRECOMPILED=1` and the contract test\n'
        "tests/frappe_contract/test_precompiled_sql.py, which also checks in CI that the entries are exactly\n"
        "what the Frappe runtime's job and submit paths run; tests/test_precompiled_sql.py checks that each\n"
        "is what sql.to_mariadb compiles today.\n\n"
        "(statement key, sorted parameter names) -> (MariaDB text, fixed values the text binds).\n"
        '"""\n\n'
        f"STATEMENTS: dict[tuple[str, tuple[str, ...]], tuple[str, dict]] = {{\n{body}}}\n"
    )
