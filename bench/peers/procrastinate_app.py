"""The procrastinate peer: one no-op task on PostgreSQL (psycopg 3 connector).

Environment: DARTWING_BENCH_PG_CONNINFO (the run's own database, libpq conninfo). Not a benchmark.
"""

from __future__ import annotations

import os

import procrastinate

QUEUE = "bench-procrastinate"


def make_app(conninfo: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

    @app.task(name="noop", queue=QUEUE)
    def noop() -> None:
        """Does nothing."""

    return app


app = make_app(os.environ.get("DARTWING_BENCH_PG_CONNINFO", ""))
