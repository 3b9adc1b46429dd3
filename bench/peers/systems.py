"""Every system bench/throughput.py measures, behind one interface, so each is timed the same way.

A system enqueues N no-op jobs one call at a time from the bench process, starts and stops its own
worker processes (concurrency 1 each), says when they are ready, how many of its messages are still
waiting (the first dequeue of a prefilled queue) and how many jobs finished since `begin()`. What
"finished" means is each system's own end of a job: RQ's finished-job counter, a Completed engine
row, procrastinate's `succeeded` row, Celery's result row (with the database backend) or its task
having returned (without), and dramatiq's acknowledgement. A system with a bulk enqueue API (one
call, one round trip, for a batch: raw RQ's `enqueue_many` on a pipeline, the engine's `submit_jobs`,
procrastinate's `batch_defer`) also enqueues N that way; the others say why they have none. Not a
benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from common import (
    BENCH_DIR,
    RAW_QUEUE,
    check_alive,
    child_env,
    count_jobs,
    engine_queue,
    enqueue_raw,
    enqueue_raw_many,
    rq_jobs_done,
    start_engine_workers,
    start_rq_workers,
    submit_noop_batches,
    submit_noops,
    wait_until,
    wait_workers_ready,
)

POSTGRES_SERVER = os.environ.get("DARTWING_BENCH_POSTGRES", "host=127.0.0.1 port=5432 user=postgres")
PEER_PACKAGES = {
    "celery": ("celery", "kombu"),
    "celery-db": ("celery", "kombu", "psycopg"),
    "dramatiq": ("dramatiq",),
    "procrastinate": ("procrastinate", "psycopg"),
}


def missing_packages(key: str) -> list[str]:
    """The distributions system `key` needs that are not installed (the `bench` extra has them)."""
    missing = []
    for name in PEER_PACKAGES.get(key, ()):
        try:
            version(name)
        except PackageNotFoundError:
            missing.append(name)
    return missing


def versions(names: Sequence[str]) -> str:
    return ", ".join(f"{name} {version(name)}" for name in names)


class System:
    """One system under test; the harness calls begin, start_workers, wait_ready, enqueue, queued,
    finished, in the order the mode needs."""

    key = ""
    label = ""
    bulk_api = ""  # what enqueue_batches calls; "" when the system has none
    no_bulk_api = "no bulk enqueue API"  # why not, when bulk_api is ""

    def describe(self) -> str:
        """Versions and settings, for the environment lines."""
        raise NotImplementedError

    def begin(self) -> None:
        """Before each measurement, with no worker running: take the baseline of `finished`."""

    def start_workers(self, count: int) -> list[subprocess.Popen]:
        raise NotImplementedError

    def wait_ready(self, processes: Sequence[subprocess.Popen]) -> None:
        """Until every worker in `processes` is up and polling for work."""
        raise NotImplementedError

    def enqueue(self, count: int) -> float:
        """Enqueue `count` no-op jobs one call at a time; seconds taken."""
        raise NotImplementedError

    def enqueue_batches(self, count: int, batch: int) -> float:
        """Enqueue `count` no-op jobs `batch` at a time with `bulk_api`; seconds taken."""
        raise NotImplementedError

    def queued(self) -> int:
        """Messages still waiting for a worker."""
        raise NotImplementedError

    def finished(self) -> int:
        """Jobs finished since `begin()`."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the bench process's own connections."""


class RawRQ(System):
    key, label = "raw", "raw RQ SimpleWorker"
    bulk_api = "Queue.enqueue_many, one pipeline per batch"

    def __init__(self, rt: Any):
        self.rt = rt

    def describe(self) -> str:
        return f"{versions(['rq', 'redis'])}; rq.SimpleWorker, Queue.enqueue with result_ttl=0"

    def begin(self) -> None:
        self.baseline = rq_jobs_done(self.rt)

    def start_workers(self, count: int) -> list[subprocess.Popen]:
        return start_rq_workers(self.rt, count, forking=False)

    def wait_ready(self, processes: Sequence[subprocess.Popen]) -> None:
        wait_workers_ready(self.rt, RAW_QUEUE, processes)

    def enqueue(self, count: int) -> float:
        return enqueue_raw(self.rt, count)

    def enqueue_batches(self, count: int, batch: int) -> float:
        return enqueue_raw_many(self.rt, count, batch)

    def queued(self) -> int:
        from rq import Queue

        return Queue(RAW_QUEUE, connection=self.rt.redis).count

    def finished(self) -> int:
        return rq_jobs_done(self.rt) - self.baseline


class Engine(System):
    key = "engine"
    bulk_api = "submit_jobs + commit per batch"

    def __init__(self, rt: Any, backend: str):
        self.rt = rt
        self.label = f"Dartwing engine, {backend}"

    def describe(self) -> str:
        return "dartwing-jobs worker --no-forking; submit_job + commit per job"

    def begin(self) -> None:
        self.baseline = count_jobs(self.rt)

    def start_workers(self, count: int) -> list[subprocess.Popen]:
        return start_engine_workers(self.rt, count, forking=False)

    def wait_ready(self, processes: Sequence[subprocess.Popen]) -> None:
        wait_workers_ready(self.rt, engine_queue(), processes)

    def enqueue(self, count: int) -> float:
        return submit_noops(self.rt, count)

    def enqueue_batches(self, count: int, batch: int) -> float:
        return submit_noop_batches(self.rt, count, batch)

    def queued(self) -> int:
        from rq import Queue

        return Queue(engine_queue(), connection=self.rt.redis).count

    def finished(self) -> int:
        return count_jobs(self.rt) - self.baseline


def _peer_worker_env(rt: Any, **extra: str) -> dict[str, str]:
    return child_env(rt, DARTWING_BENCH_REDIS_URL=rt.redis_url, **extra)


class Celery(System):
    """Celery 5, the default prefork pool with `--concurrency 1` (one child runs one task at a time),
    acks_late, Redis broker; with `backend_url`, the SQLAlchemy result backend on PostgreSQL."""

    no_bulk_api = "no bulk enqueue: a group publishes one message per task, as a loop of delay() does"

    def __init__(self, rt: Any, conninfo: str | None = None):
        """`conninfo`: the PostgreSQL database of the result backend, or None for no backend."""
        from peers.celery_app import QUEUE, make_app

        self.rt, self.queue = rt, QUEUE
        self.backend_url = sqlalchemy_url(conninfo) if conninfo else None
        self.key = "celery-db" if conninfo else "celery"
        self.label = "Celery + PostgreSQL result backend" if conninfo else "Celery, acks_late, no backend"
        self.counter_key = f"dartwing-bench:celery-finished:{uuid.uuid4().hex[:8]}"
        self.app = make_app(rt.redis_url, self.backend_url)
        self.noop = self.app.tasks["noop"]
        self.workers_started = 0
        self.db = None
        if conninfo:
            import psycopg

            self.app.backend.ResultSession().close()  # creates its tables once, before any worker
            # The harness counts result rows on a connection of its own: outside a forked pool
            # process the backend's sessions open a new connection each time.
            self.db = psycopg.connect(conninfo, autocommit=True)

    def describe(self) -> str:
        names = ["celery", "kombu", "redis"] + (["SQLAlchemy", "psycopg"] if self.backend_url else [])
        return f"{versions(names)}; prefork pool, --concurrency 1, acks_late, prefetch multiplier 4 (default)"

    def begin(self) -> None:
        self.baseline = self._finished_total()

    def _finished_total(self) -> int:
        if self.db is None:
            return int(self.rt.redis.get(self.counter_key) or 0)
        return int(
            self.db.execute("SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'").fetchone()[0]
        )

    def start_workers(self, count: int) -> list[subprocess.Popen]:
        env = _peer_worker_env(
            self.rt,
            DARTWING_BENCH_CELERY_BACKEND=self.backend_url or "",
            DARTWING_BENCH_CELERY_COUNTER="" if self.backend_url else self.counter_key,
        )
        processes = []
        for _ in range(count):
            self.workers_started += 1
            name = f"bench{self.workers_started}@%h"
            cmd = [sys.executable, "-m", "celery", "-A", "peers.celery_app", "worker", "--pool", "prefork"]
            cmd += ["--concurrency", "1", "-Q", self.queue, "-n", name, "--loglevel", "WARNING"]
            processes.append(subprocess.Popen(cmd, env=env, cwd=BENCH_DIR, stdout=subprocess.DEVNULL))
        return processes

    def wait_ready(self, processes: Sequence[subprocess.Popen]) -> None:
        def ready() -> bool:
            check_alive(processes)
            return len(self.app.control.ping(timeout=0.5)) >= len(processes)

        wait_until(ready, 60, f"{len(processes)} Celery workers to answer a ping", 0.1)

    def enqueue(self, count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            self.noop.delay()
        return time.perf_counter() - started

    def queued(self) -> int:
        return int(self.rt.redis.llen(self.queue))

    def finished(self) -> int:
        return self._finished_total() - self.baseline

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        self.app.close()


class Dramatiq(System):
    """dramatiq, `--processes 1 --threads 1` per worker, Redis broker, default middleware."""

    key, label = "dramatiq", "dramatiq, Redis broker, no result backend"
    no_bulk_api = "no bulk enqueue: a group or pipeline sends one message per actor call"

    def __init__(self, rt: Any):
        from peers.dramatiq_app import NAMESPACE, QUEUE, make_broker

        self.rt = rt
        self.broker, self.noop = make_broker(rt.redis_url)
        self.list_key = f"{NAMESPACE}:{QUEUE}"
        self.heartbeats_key = f"{NAMESPACE}:__heartbeats__"
        self.messages_key = f"{self.list_key}.msgs"  # a message leaves this hash when it is acked

    def describe(self) -> str:
        return f"{versions(['dramatiq', 'redis'])}; --processes 1 --threads 1, default middleware"

    def begin(self) -> None:
        self.begun_ms = int(time.time() * 1000)
        self.sent = 0

    def start_workers(self, count: int) -> list[subprocess.Popen]:
        cmd = [sys.executable, "-m", "dramatiq", "peers.dramatiq_app", "--processes", "1", "--threads", "1"]
        env = _peer_worker_env(self.rt)
        return [
            subprocess.Popen(cmd, env=env, cwd=BENCH_DIR, stderr=subprocess.DEVNULL) for _ in range(count)
        ]

    def wait_ready(self, processes: Sequence[subprocess.Popen]) -> None:
        """Each consumer stamps the broker's heartbeat set on every fetch; count those stamped since
        begin() (the bench process's own broker sends nothing between begin() and this wait)."""

        def ready() -> bool:
            check_alive(processes)
            return self.rt.redis.zcount(self.heartbeats_key, self.begun_ms, "+inf") >= len(processes)

        wait_until(ready, 60, f"{len(processes)} dramatiq consumers to fetch", 0.1)

    def enqueue(self, count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            self.noop.send()
        self.sent += count
        return time.perf_counter() - started

    def queued(self) -> int:
        return int(self.rt.redis.llen(self.list_key))

    def finished(self) -> int:
        return self.sent - int(self.rt.redis.hlen(self.messages_key))

    def close(self) -> None:
        self.broker.close()


class Procrastinate(System):
    """procrastinate, `worker --concurrency 1` per process, on the run's own PostgreSQL database."""

    key, label = "procrastinate", "procrastinate, PostgreSQL"
    bulk_api = "Task.batch_defer, one call per batch"

    def __init__(self, rt: Any, conninfo: str):
        import psycopg

        from peers.procrastinate_app import QUEUE, make_app

        self.rt, self.conninfo, self.queue = rt, conninfo, QUEUE
        self.app = make_app(conninfo).open()
        self.app.schema_manager.apply_schema()
        self.noop = self.app.tasks["noop"]
        self.db = psycopg.connect(conninfo, autocommit=True)

    def describe(self) -> str:
        return f"{versions(['procrastinate', 'psycopg'])}; worker --concurrency 1, LISTEN/NOTIFY"

    def _count(self, sql: str) -> int:
        return int(self.db.execute(sql).fetchone()[0])

    def begin(self) -> None:
        self.baseline = self._succeeded()

    def _succeeded(self) -> int:
        return self._count("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")

    def start_workers(self, count: int) -> list[subprocess.Popen]:
        cmd = [sys.executable, "-m", "procrastinate", "--app", "peers.procrastinate_app.app"]
        cmd += ["--log-level", "warning", "worker", "--concurrency", "1", "--queues", self.queue]
        env = _peer_worker_env(self.rt, DARTWING_BENCH_PG_CONNINFO=self.conninfo)
        return [subprocess.Popen(cmd, env=env, cwd=BENCH_DIR) for _ in range(count)]

    def wait_ready(self, processes: Sequence[subprocess.Popen]) -> None:
        def ready() -> bool:
            check_alive(processes)
            return self._count("SELECT count(*) FROM procrastinate_workers") >= len(processes)

        wait_until(ready, 60, f"{len(processes)} procrastinate workers to register", 0.1)

    def enqueue(self, count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            self.noop.defer()
        return time.perf_counter() - started

    def enqueue_batches(self, count: int, batch: int) -> float:
        started = time.perf_counter()
        for first in range(0, count, batch):
            self.noop.batch_defer(*({} for _ in range(min(batch, count - first))))
        return time.perf_counter() - started

    def queued(self) -> int:
        return self._count("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")

    def finished(self) -> int:
        return self._succeeded() - self.baseline

    def close(self) -> None:
        self.db.close()
        self.app.close()


@contextmanager
def own_postgres_database(prefix: str) -> Iterator[str]:
    """libpq conninfo of a PostgreSQL database created for this run with a unique name; dropped on
    the way out (WITH (FORCE): a worker killed mid-run may still hold a connection)."""
    import psycopg

    name = f"dartwing_bench_{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_SERVER, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_SERVER} dbname={name}"
    finally:
        with psycopg.connect(POSTGRES_SERVER, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_description(conninfo: str) -> str:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    return f"postgresql {server} at {info.get('host')}:{info.get('port')}"


def sqlalchemy_url(conninfo: str) -> str:
    """The Celery database backend's URL (`db+` + SQLAlchemy's psycopg 3 dialect) for a conninfo."""
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    return f"db+postgresql+psycopg://{info['user']}@{info['host']}:{info['port']}/{info['dbname']}"
