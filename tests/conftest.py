"""Fixtures on real services: a redis-server of the run's own, a MariaDB database created for the
run (dropped at the end) and a fresh SQLite file per test, plus real RQ worker processes.

MariaDB tests are skipped with a reason when the server is unreachable, except under CI=true, where
that is a failure.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs import schema
from dartwing.dartwing_core.background_jobs.runtime import set_runtime
from dartwing.dartwing_core.standalone import StandaloneConfig, StandaloneRuntime, admin, seed
from dartwing.dartwing_core.standalone import tables as standalone_tables
from dartwing.dartwing_core.standalone.http.auth import issue_credentials

MARIADB_SERVER_URL = os.environ.get("DARTWING_TEST_MARIADB_URL", "mysql+mysqldb://root@127.0.0.1:3306")
IN_CI = os.environ.get("CI", "").lower() == "true"

# bench/ is not a package; its helpers for processes of the run's own serve the tests too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from common import OwnRedis, free_port, stop_processes, wait_until  # noqa: E402
from node_harness import node, node_modules  # noqa: E402, F401 - fixtures for the Socket.IO tests in Node

ORG_A, ORG_B = "Org A", "Org B"
ALICE, BOB, ADMIN = "alice@a.example", "bob@b.example", "Administrator"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[OwnRedis]:
    """A redis-server this run started on a free port (so tests may flush and restart it)."""
    server = OwnRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb_database() -> Iterator[str]:
    """URL of a database created for this run; dropped when the run ends."""
    server = sa.create_engine(MARIADB_SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with server.connect():
            pass
    except sa.exc.OperationalError as exc:
        server.dispose()
        message = f"MariaDB unreachable at {MARIADB_SERVER_URL}: {exc.orig}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"dartwing_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with server.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    url = f"{MARIADB_SERVER_URL}/{name}"
    engine = sa.create_engine(url)
    schema.metadata.create_all(engine)
    standalone_tables.metadata.create_all(engine)
    engine.dispose()
    yield url
    with server.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    server.dispose()


def _all_tables() -> list[sa.Table]:
    return list(schema.metadata.sorted_tables) + list(standalone_tables.metadata.sorted_tables)


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dartwing.db'}"
    url = request.getfixturevalue("mariadb_database")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in _all_tables():
            conn.execute(table.delete())
    engine.dispose()
    return url


def seeded_runtime(home: Path, db_url: str, redis_url: str) -> StandaloneRuntime:
    """A runtime on a fresh store, installed for this process, with two organizations and their members."""
    runtime = StandaloneRuntime(StandaloneConfig.resolve(home, db_url, redis_url, ADMIN))
    runtime.create_schema()
    set_runtime(runtime)
    seed.seed(runtime)
    for org, user in ((ORG_A, ALICE), (ORG_B, BOB)):
        admin.add_organization(runtime, org)
        admin.add_user(runtime, user, ("Job User",))
        admin.add_member(runtime, user, org)
    runtime.commit()
    return runtime


@pytest.fixture
def rt(db_url, redis_server, tmp_path) -> Iterator[StandaloneRuntime]:
    """A runtime on a clean store and a clean Redis, seeded with two organizations and their members."""
    redis.Redis.from_url(redis_server.url).flushdb()  # our own redis-server
    runtime = seeded_runtime(tmp_path / "home", db_url, redis_server.url)
    yield runtime
    runtime.rollback()
    set_runtime(None)
    runtime.engine.dispose()


class Workers:
    """Real `dartwing-jobs worker` processes; stopped (by PID) at teardown."""

    def __init__(self, rt: StandaloneRuntime, env: dict[str, str]):
        self.rt = rt
        self.env = env
        self.processes: list[subprocess.Popen] = []

    def start(self, *, forking: bool = False, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        cmd = [
            sys.executable,
            "-m",
            "dartwing.dartwing_core.standalone.cli",
            "worker",
            "--forking" if forking else "--no-forking",
            "--log-level",
            "WARNING",
        ]
        proc = subprocess.Popen(cmd, env={**self.env, **(extra_env or {})})
        self.processes.append(proc)
        return proc

    def stop_all(self) -> None:
        stop_processes(self.processes)


@pytest.fixture
def workers(rt) -> Iterator[Workers]:
    env = {
        **os.environ,
        **rt.config.environ(),
        "DARTWING_BACKOFF_BASE_SECONDS": "0.2",
        "DARTWING_BACKOFF_CAP_SECONDS": "1",
    }
    pool = Workers(rt, env)
    yield pool
    # A test may end inside a transaction; on SQLite that holds the file's write lock, which a
    # stopping worker's last write would wait on (until the 15 s kill).
    rt.rollback()
    pool.stop_all()


def wait_for(predicate, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    """The predicate's first truthy value within `timeout` seconds; TimeoutError otherwise."""
    return wait_until(predicate, timeout, message, interval)


# --- the standalone HTTP server ---------------------------------------------------------------

BASE = "/api/method/dartwing.dartwing_core.api.jobs."


@dataclasses.dataclass
class Api:
    client: httpx.Client
    tokens: dict[str, str]

    def call(self, method: str, name: str, user: str | None = ALICE, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if user:
            headers["Authorization"] = self.tokens[user]
        return self.client.request(method, BASE + name, headers=headers, **kwargs)


def start_server(rt, extra_env=None):
    port = free_port()
    env = {**os.environ, **rt.config.environ(), **(extra_env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dartwing.dartwing_core.standalone.cli", "server", "--port", str(port)],
        env=env,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def up():
        try:
            return client.get("/api/openapi.json").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, timeout=60, message="server to start")
    return proc, client


@pytest.fixture
def api(rt):
    tokens = {}
    for user in (ALICE, BOB, ADMIN):
        key, secret = issue_credentials(rt, user)
        tokens[user] = f"token {key}:{secret}"
    rt.commit()
    proc, client = start_server(rt)
    yield Api(client, tokens)
    client.close()
    proc.terminate()
    proc.wait(10)


def table_counts(rt) -> tuple[int, int]:
    counts = tuple(
        rt.execute(sa.select(sa.func.count()).select_from(t)).scalar()
        for t in (schema.background_job, schema.job_execution_log)
    )
    rt.rollback()
    return counts
