"""Soak under faults: a steady stream of jobs while workers are SIGKILLed, the redis-server and the
mariadbd are killed -9 and restarted, the workers' MariaDB connections are dropped and a worker host
is cut off from the database; then every job must end exactly where its behaviour says.

What it runs, all of its own: a redis-server on a free port, a private mariadbd on a free port and
its own data directory (bench/faults.py; started again on the same data after each kill -9),
`dartwing-jobs worker --no-forking` processes — one of them on a worker "host", a network namespace
whose link to the database is taken down for `--partition-seconds` (skipped, with the reason
printed, where namespaces cannot be made) — and, in this process, a sweeper thread calling the
minute sweep every second, with test-like fast settings (heartbeat, orphan timeout, outbox grace and
retry backoff in seconds, not minutes) so it finishes in minutes.

The stream: `--jobs` jobs submitted evenly over `--duration` seconds across `--orgs` organizations
(each by a member of its organization), `--transient` % failing transiently once, `--permanent` %
failing permanently, `--dependent` % depending on an earlier job of the same organization. Every
handler run is recorded (job, attempt, pid, start) in a side table of the soak's database by an
autocommit connection of its own, so a killed run is still counted. Meanwhile a chaos thread,
bounded to the submission window, SIGKILLs `--kills` workers (preferring one with a job running;
each is replaced at once, as a supervisor would), kills -9 the redis-server `--redis-kills` times
and the mariadbd `--mariadb-kills` times (each started again at once), kills the workers' MariaDB
connections `--db-kills` times (found in information_schema.PROCESSLIST by this database's name and
the workers' own TCP ports) and partitions the worker host from the database `--partitions` times.
Submits ride out the mariadbd's crash: one whose commit may or may not have landed is looked up by
its parameters' hash before it is tried again.

After the stream and the chaos, the sweep runs until every job is terminal (or `--settle` seconds
pass), and the soak checks: every submitted job exists once and is in the terminal state its
behaviour predicts (ok and transient → Completed; permanent → Dead Letter; a child of a job that
ends Dead Letter or Canceled → Canceled); none completed twice (Running → Completed rows in the
execution log); none stuck; and every handler run beyond the behaviour's own (1, or 2 for transient)
follows a fault: a SIGKILL of the worker that ran it, a dropped connection or a mariadbd crash while
it ran, or a partition of its host — those are counted, any other is a failure.
tests/test_soak.py runs the same code with a few hundred jobs.

    python bench/soak.py                          # 20,000 jobs over 240 s, 4 workers (about 6 minutes)
    python bench/soak.py --quick                  # 2,000 jobs over 40 s
    python bench/soak.py --jobs 5000 --duration 60 --workers 3 --kills 3
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from common import (
    CLI,
    OwnRedis,
    child_env,
    environment,
    print_table,
    stop_processes,
    wait_until,
    write_result,
)
from faults import HOST_DB, HOST_REDIS, OwnMariaDB, WorkerHost
from sqlalchemy.dialects import mysql

from dartwing.dartwing_core.background_jobs import InvalidInputError, PermanentError, TransientError, schema
from dartwing.dartwing_core.background_jobs.hashing import canonical_json, parameters_hash
from dartwing.dartwing_core.background_jobs.runtime import set_runtime
from dartwing.dartwing_core.background_jobs.scheduler import every_minute
from dartwing.dartwing_core.background_jobs.status import TERMINAL
from dartwing.dartwing_core.background_jobs.submission import submit_job
from dartwing.dartwing_core.standalone import admin, configure
from dartwing.dartwing_core.standalone.seed import ADMIN_USER

bj, jel = schema.background_job, schema.job_execution_log
TERMINAL_STATUSES = frozenset(s.value for s in TERMINAL)
JOB_TYPE = "soak"
HANDLER = "soak.soak_handler"  # bench/ is on the workers' PYTHONPATH (common.child_env)

# Fast engine settings for the soak's processes (the workers and this one): seconds, not minutes.
FAST_SETTINGS = {
    "DARTWING_HEARTBEAT_SECONDS": "0.5",
    "DARTWING_ORPHAN_AFTER_SECONDS": "4",
    "DARTWING_OUTBOX_GRACE_SECONDS": "1",
    "DARTWING_BACKOFF_BASE_SECONDS": "0.2",
    "DARTWING_BACKOFF_CAP_SECONDS": "1",
}

# --- the handler the workers run ----------------------------------------------------------------------

runs_metadata = sa.MetaData()
soak_run = sa.Table(
    "soak_run",
    runs_metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("job", sa.String(140), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column(
        "started", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"), nullable=False
    ),
)
_recorder: sa.Engine | None = None


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as the engine stores times


def soak_handler(context: Any) -> dict:
    """Record this run (committed at once, on a connection of its own), then behave as told:
    `kind` ok → succeed, transient → fail transiently on the first attempt, permanent → fail
    permanently; sleep `sleep_ms` first."""
    global _recorder
    if _recorder is None:
        _recorder = sa.create_engine(
            os.environ["DARTWING_DB_URL"], isolation_level="AUTOCOMMIT", pool_pre_ping=True
        )
    with _recorder.connect() as conn:
        conn.execute(
            sa.insert(soak_run).values(
                job=context.job_name, attempt=context.attempt, pid=os.getpid(), started=utcnow()
            )
        )
    params = context.parameters
    time.sleep(float(params.get("sleep_ms", 0)) / 1000)
    kind = params.get("kind", "ok")
    if kind == "transient" and context.attempt <= 1:
        raise TransientError(f"soak: simulated outage on attempt {context.attempt}")
    if kind == "permanent":
        raise PermanentError("soak: invalid input")
    return {"i": params.get("i")}


# --- configuration and plan ---------------------------------------------------------------------------


@dataclass
class SoakConfig:
    jobs: int = 20_000
    orgs: int = 20
    duration: float = 240.0  # seconds over which the jobs are submitted (and the chaos is bounded to)
    workers: int = 4
    transient: float = 5.0  # percent
    permanent: float = 1.0  # percent
    dependent: float = 5.0  # percent of jobs with depends_on
    slow: float = 1.0  # percent of ok jobs that sleep `slow_ms` (so kills catch jobs mid-run)
    sleep_ms: float = 5.0  # other jobs sleep up to this
    slow_ms: float = 400.0
    kills: int = 5
    redis_kills: int = 1
    mariadb_kills: int = 1
    db_kills: int = 1
    partitions: int = 1
    partition_seconds: float = 30.0
    sweep_interval: float = 1.0
    settle: float = 300.0  # seconds allowed after the stream for everything to become terminal
    seed: int = 1
    settings: dict[str, str] = field(default_factory=lambda: dict(FAST_SETTINGS))


@dataclass
class Planned:
    index: int
    organization: str
    kind: str  # ok / transient / permanent
    parent: str | None = None  # job name of the parent
    name: str | None = None
    submitted_at: datetime | None = None
    refused: str | None = None  # why submit refused it (parent already ended)


def predicted_status(job: Planned, by_name: dict[str, Planned]) -> str:
    if job.parent is not None:
        parent = predicted_status(by_name[job.parent], by_name)
        if parent in ("Dead Letter", "Canceled"):
            return "Canceled"
    return "Dead Letter" if job.kind == "permanent" else "Completed"


def expected_runs(job: Planned, status: str) -> int:
    """Handler runs the behaviour itself needs (no faults)."""
    if status == "Canceled":
        return 0
    return 2 if job.kind == "transient" else 1


# --- fault injection ---------------------------------------------------------------------------------


class WorkerPool:
    """The soak's own worker processes; a killed or crashed worker is replaced (a supervisor's job)."""

    def __init__(
        self,
        env: dict[str, str],
        count: int,
        logdir: Path,
        host: tuple[WorkerHost, dict[str, str]] | None = None,
    ):
        """`host`: the worker host and its environment; the first worker (and its replacements) runs there."""
        self.env = env
        self.logdir = logdir
        self.host = host
        self.processes: list[subprocess.Popen] = []
        self.killed: dict[int, datetime] = {}  # pid -> when this soak SIGKILLed it
        self.on_host: set[int] = set()  # pids of the workers that ran on the worker host
        self.unexpected_exits: list[dict[str, Any]] = []  # pid, exit code, the last lines it logged
        self.log_paths: dict[int, Path] = {}
        self.lock = threading.Lock()
        for k in range(count):
            self.processes.append(self._start(on_host=host is not None and k == 0))

    def _start(self, on_host: bool = False) -> subprocess.Popen:
        path = self.logdir / f"worker-{len(self.killed)}-{time.monotonic_ns()}.log"
        cmd, env = [*CLI, "worker", "--no-forking", "--log-level", "WARNING"], self.env
        if on_host and self.host is not None:
            cmd, env = self.host[0].command(cmd), self.host[1]
        with open(path, "wb") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.log_paths[proc.pid] = path
        if on_host:
            self.on_host.add(proc.pid)
        return proc

    def pids(self) -> list[int]:
        with self.lock:
            return [p.pid for p in self.processes if p.poll() is None]

    def kill(self, pid: int) -> None:
        """SIGKILL one of this pool's workers (by PID) and start its replacement."""
        with self.lock:
            proc = next(p for p in self.processes if p.pid == pid)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            self.killed[proc.pid] = utcnow()
            self.processes.remove(proc)
            self.processes.append(self._start(on_host=proc.pid in self.on_host))

    def supervise(self) -> None:
        """Replace workers that exited without being killed by the soak (and note them)."""
        with self.lock:
            for proc in list(self.processes):
                if proc.poll() is not None:
                    lines = self.log_paths[proc.pid].read_text(errors="replace").splitlines()
                    self.unexpected_exits.append(
                        {"pid": proc.pid, "returncode": proc.returncode, "last_lines": lines[-3:]}
                    )
                    self.processes.remove(proc)
                    self.processes.append(self._start(on_host=proc.pid in self.on_host))

    def stop(self) -> None:
        with self.lock:
            stop_processes(self.processes)


def tcp_local_ports(pid: int) -> set[int]:
    """Local TCP ports of a process's sockets (Linux /proc): its inodes matched in /proc/net/tcp*."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[9] in inodes:
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


def kill_worker_connections(server: sa.Engine, database: str, worker_pids: list[int]) -> int:
    """KILL the MariaDB connections of these worker processes on the soak's database; how many."""
    ports = set().union(*(tcp_local_ports(pid) for pid in worker_pids)) if worker_pids else set()
    killed = 0
    with server.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE DB = :db"), {"db": database}
        ).all()
        for conn_id, host in rows:
            port = int(host.rsplit(":", 1)[1]) if host and ":" in host else None
            if port in ports:
                try:
                    conn.exec_driver_sql("KILL CONNECTION %s", (int(conn_id),))
                    killed += 1
                except sa.exc.DBAPIError:  # it closed in between
                    pass
    return killed


def running_worker_pids(server: sa.Engine, database: str) -> list[int]:
    """PIDs whose latest recorded run is of a job still Running on that attempt."""
    db = sa.quoted_name(database, True)
    runs = soak_run.to_metadata(sa.MetaData(), schema=db)
    jobs = bj.to_metadata(sa.MetaData(), schema=db)
    stmt = (
        sa.select(runs.c.pid)
        .select_from(runs.join(jobs, jobs.c.name == runs.c.job))
        .where(jobs.c.status == "Running", jobs.c.attempt == runs.c.attempt)
    )
    with server.connect() as conn:
        return [row[0] for row in conn.execute(stmt)]


@dataclass
class ChaosLog:
    worker_kills: list[dict[str, Any]] = field(default_factory=list)
    redis_kills: list[datetime] = field(default_factory=list)
    mariadb_kills: list[dict[str, Any]] = field(default_factory=list)  # killed at, answering again at
    db_kills: list[dict[str, Any]] = field(default_factory=list)
    partitions: list[dict[str, Any]] = field(default_factory=list)  # cut at, healed at
    errors: list[str] = field(default_factory=list)


@dataclass
class Services:
    """The soak's own services, which the chaos kills and restarts."""

    redis: OwnRedis
    mariadb: OwnMariaDB
    server: sa.Engine  # AUTOCOMMIT, on the private mariadbd
    database: str
    host: WorkerHost | None  # the worker host, when namespaces can be made


def partition(host: WorkerHost, seconds: float, log: ChaosLog, stop: threading.Event) -> None:
    """Cut the worker host off from the database for `seconds` (less if the soak stops)."""
    host.cut_database()
    began = utcnow()
    try:
        stop.wait(seconds)
    finally:
        host.heal_database()
        log.partitions.append({"from": began, "to": utcnow()})


def chaos(cfg: SoakConfig, pool: WorkerPool, services: Services, stop: threading.Event, log: ChaosLog) -> None:
    """Within the submission window: the partition first (it lasts longest), then the kills, crashes
    and connection drops, spread out."""
    rng = random.Random(cfg.seed + 1)
    # Interleaved and evenly spaced over 90 % of the window, so no two faults land together.
    kinds = [
        ("kill", cfg.kills),
        ("db", cfg.db_kills),
        ("redis", cfg.redis_kills),
        ("mariadb", cfg.mariadb_kills),
    ]
    order: list[str] = []
    while any(left for _, left in kinds):
        for i, (what, left) in enumerate(kinds):
            if left:
                order.append(what)
                kinds[i] = (what, left - 1)
    events = [((k + 1) / (len(order) + 1) * 0.9, what) for k, what in enumerate(order)]
    partitions = cfg.partitions if services.host is not None else 0
    events += [(0.05 + k * 0.5, "partition") for k in range(partitions)]
    cuts: list[threading.Thread] = []
    started = time.monotonic()
    try:
        for at, what in sorted(events):
            if stop.wait(max(0.0, started + at * cfg.duration - time.monotonic())):
                return
            try:
                _fault(what, cfg, rng, pool, services, stop, log, cuts)
            except Exception as exc:  # noqa: BLE001 - the soak reports it; the chaos goes on
                log.errors.append(f"{what}: {exc!r}")
    finally:
        for cut in cuts:
            cut.join()


def _fault(what, cfg, rng, pool, services, stop, log, cuts) -> None:
    if what == "kill":
        deadline = time.monotonic() + 2
        busy: list[int] = []
        while not busy and time.monotonic() < deadline:
            running = running_worker_pids(services.server, services.database)
            busy = [pid for pid in running if pid in pool.pids()]
            if not busy:
                time.sleep(0.02)
        victim = rng.choice(busy or pool.pids())
        pool.kill(victim)
        log.worker_kills.append({"pid": victim, "at": utcnow(), "had_running_job": bool(busy)})
    elif what == "redis":
        services.redis.kill9()
        log.redis_kills.append(utcnow())
        services.redis.start()
    elif what == "mariadb":
        services.mariadb.kill9()
        killed = utcnow()
        services.mariadb.start()  # InnoDB recovers the crash; waits until it answers
        log.mariadb_kills.append({"at": killed, "back": utcnow()})
    elif what == "partition":
        cut = threading.Thread(
            target=partition, args=(services.host, cfg.partition_seconds, log, stop), name="soak-partition"
        )
        cut.start()
        cuts.append(cut)
    else:
        count = kill_worker_connections(services.server, services.database, pool.pids())
        log.db_kills.append({"at": utcnow(), "connections": count})


def sweeper(cfg: SoakConfig, pool: WorkerPool, stop: threading.Event, sweeps: list[int]) -> None:
    while not stop.wait(cfg.sweep_interval):
        every_minute()  # never raises; failures (e.g. Redis restarting) are logged, the next tick retries
        pool.supervise()
        sweeps[0] += 1


# --- the run ---------------------------------------------------------------------------------------


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def engine_log_to(path: Path) -> Iterator[None]:
    """The engine's own log lines (sweep warnings, enqueue errors) go to a file, not the console."""
    logger = logging.getLogger("dartwing")
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    saved = (logger.propagate, logger.level)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.propagate, logger.level = saved


def plan_jobs(cfg: SoakConfig) -> list[Planned]:
    rng = random.Random(cfg.seed)
    organizations = [f"Soak Org {k:02d}" for k in range(1, cfg.orgs + 1)]
    plan = []
    for index in range(cfg.jobs):
        roll = rng.uniform(0, 100)
        kind = (
            "transient"
            if roll < cfg.transient
            else "permanent"
            if roll < cfg.transient + cfg.permanent
            else "ok"
        )
        plan.append(Planned(index, organizations[index % cfg.orgs], kind))
    return plan


def member(organization: str) -> str:
    return f"member@{organization.lower().replace(' ', '-')}.example"


def submit_stream(cfg: SoakConfig, rt: Any, plan: list[Planned]) -> None:
    """Submit the plan evenly over cfg.duration; each job as its organization's member."""
    rng = random.Random(cfg.seed + 2)
    recent: dict[str, list[Planned]] = defaultdict(list)  # per organization, the latest few jobs
    started = time.monotonic()
    for job in plan:
        delay = started + job.index * cfg.duration / cfg.jobs - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        candidates = recent[job.organization]
        if candidates and rng.uniform(0, 100) < cfg.dependent:
            job.parent = rng.choice(candidates[-20:]).name
        sleep_ms = cfg.slow_ms if rng.uniform(0, 100) < cfg.slow else rng.uniform(0, cfg.sleep_ms)
        params = {"i": job.index, "kind": job.kind, "sleep_ms": round(sleep_ms, 1)}
        rt.set_user(member(job.organization))
        job.name, job.submitted_at = submit_riding_out_crashes(rt, job, params), utcnow()
        candidates.append(job)
        del candidates[:-50]


def submit_riding_out_crashes(rt: Any, job: Planned, params: dict[str, Any]) -> str:
    """Submit and commit one planned job; returns its name. While the database is down it tries
    again, first looking the job up by its parameters' hash (unique: they hold `i`), since a commit
    that failed may still have landed.

    submit_job never commits; the commit's after-commit hand-off to RQ logs (not raises) a Redis
    error, which the outbox sweep repairs.
    """
    wanted = parameters_hash(JOB_TYPE, job.organization, canonical_json(params))
    while True:
        try:
            try:
                record = submit_job(JOB_TYPE, job.organization, params, depends_on=job.parent, runtime=rt)
            except InvalidInputError as exc:  # the parent already ended Dead Letter / Canceled
                rt.rollback()
                job.refused, job.parent = str(exc), None
                continue
            rt.commit()
            return record["name"]
        except sa.exc.DBAPIError:
            _rollback_quietly(rt)
        time.sleep(0.2)
        try:
            found = rt.execute(sa.select(bj.c.name).where(bj.c.parameters_hash == wanted)).scalar()
            rt.rollback()
        except sa.exc.DBAPIError:
            _rollback_quietly(rt)
            continue
        if found:
            return found


def _rollback_quietly(rt: Any) -> None:
    with suppress(sa.exc.DBAPIError):  # the connection is gone; the next statement opens a new one
        rt.rollback()


@dataclass
class SoakResult:
    config: dict[str, Any]
    counts: dict[str, Any]
    by_status: dict[str, dict[str, int]]
    violations: list[str]
    chaos: dict[str, Any]
    seconds: dict[str, float]
    logdir: str | None = None

    @property
    def ok(self) -> bool:
        return not self.violations


def unavailable() -> str | None:
    """Why the soak cannot run here (no mariadbd), or None."""
    return OwnMariaDB.unavailable()


def run_soak(cfg: SoakConfig, *, progress: Callable[[str], None] = print) -> SoakResult:
    """Run one soak on services of its own; returns the counts and any invariant violations."""
    if reason := unavailable():
        raise RuntimeError(reason)
    home = Path(tempfile.mkdtemp(prefix="dartwing-soak-"))
    host = None
    if cfg.partitions:
        if reason := WorkerHost.unavailable():
            progress(f"  soak: partitions skipped: {reason}")
        else:
            host = WorkerHost().create()
    bind = ("127.0.0.1",) + ((HOST_DB,) if host else ())
    own_redis = OwnRedis(home, bind=("127.0.0.1",) + ((HOST_REDIS,) if host else ()))
    own_db = OwnMariaDB(home / "mariadb", bind=bind)
    keep_logs = False
    try:
        own_redis.start()
        (home / "mariadb").mkdir()
        own_db.start()
        if host:
            own_db.allow_root_from_anywhere()
        with environ(cfg.settings), engine_log_to(home / "soak.log"):
            result = _run(cfg, home, own_redis, own_db, host, progress)
            keep_logs = not result.ok
            result.logdir = str(home) if keep_logs else None
            return result
    finally:
        own_redis.stop()
        own_db.stop()
        if host:
            host.destroy()
        if not keep_logs:
            shutil.rmtree(home, ignore_errors=True)


def _run(
    cfg: SoakConfig,
    home: Path,
    own_redis: OwnRedis,
    own_db: OwnMariaDB,
    host: WorkerHost | None,
    progress: Callable[[str], None],
) -> SoakResult:
    database = "soak"
    server = sa.create_engine(own_db.url(), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with server.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    db_url = own_db.url(database=database)
    rt = configure(home=home, db_url=db_url, redis_url=own_redis.url, user=ADMIN_USER, create_schema=True)
    services = Services(own_redis, own_db, server, database, host)
    pool: WorkerPool | None = None
    stop_chaos, stop_sweeper = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    try:
        runs_metadata.create_all(rt.engine)
        admin.add_user(rt, ADMIN_USER, ("System Manager", "Job Administrator"))
        admin.upsert_job_type(
            rt, JOB_TYPE, HANDLER, deduplication_window=0, max_retries=5, default_timeout=120
        )
        plan = plan_jobs(cfg)
        for organization in sorted({job.organization for job in plan}):
            admin.add_organization(rt, organization)
            admin.add_user(rt, member(organization), ("Job User",))
            admin.add_member(rt, member(organization), organization)
        rt.commit()

        env = child_env(rt, **cfg.settings)
        host_env = {
            **env,
            "DARTWING_DB_URL": own_db.url(HOST_DB, database),
            "DARTWING_REDIS_URL": f"redis://{HOST_REDIS}:{own_redis.port}/0",
        }
        pool = WorkerPool(env, cfg.workers, home, host=(host, host_env) if host else None)
        wait_until(lambda: _registered_workers(rt) >= cfg.workers, 60, "the soak's workers to register", 0.1)
        progress(
            f"  soak: {cfg.jobs:,} jobs over {cfg.duration:.0f}s, {cfg.orgs} organizations, {cfg.workers} workers; "
            f"chaos: {cfg.kills} SIGKILLs, {cfg.redis_kills} Redis kill -9, {cfg.mariadb_kills} mariadbd "
            f"kill -9, {cfg.db_kills} connection drops, "
            + (f"{cfg.partitions} partitions of {cfg.partition_seconds:.0f}s" if host else "no partition")
        )
        chaos_log = ChaosLog()
        sweeps = [0]
        threads = [
            threading.Thread(
                target=chaos,
                args=(cfg, pool, services, stop_chaos, chaos_log),
                name="soak-chaos",
            ),
            threading.Thread(target=sweeper, args=(cfg, pool, stop_sweeper, sweeps), name="soak-sweeper"),
        ]
        for thread in threads:
            thread.start()
        t0 = time.monotonic()
        submit_stream(cfg, rt, plan)
        submitted_in = time.monotonic() - t0
        threads[0].join()  # the chaos is bounded to the submission window
        progress(f"  soak: submitted in {submitted_in:.1f}s; settling (sweep every {cfg.sweep_interval}s)")
        t1 = time.monotonic()
        settled = _settle(rt, cfg.settle, len(plan))
        settle_seconds = time.monotonic() - t1
        stop_sweeper.set()
        threads[1].join()
        for _ in range(3):  # quiescence: nothing left for the sweep to move
            every_minute()
        pool.stop()
        result = check(rt, plan, chaos_log, pool)
        result.seconds = {
            "submit": round(submitted_in, 1),
            "settle": round(settle_seconds, 1),
            "total": round(time.monotonic() - t0, 1),
        }
        result.counts["settled"] = settled
        result.counts["sweeps"] = sweeps[0]
        result.config = {**asdict(cfg)}
        return result
    finally:
        stop_chaos.set()
        stop_sweeper.set()
        for thread in threads:
            thread.join()
        if pool is not None:
            pool.stop()
        rt.rollback()
        set_runtime(None)
        rt.engine.dispose()
        rt.redis.close()
        server.dispose()


def _registered_workers(rt: Any) -> int:
    from rq import Worker

    return len(Worker.all(connection=rt.redis))


def _settle(rt: Any, timeout: float, total: int) -> bool:
    """Until every job is terminal (the sweeper thread keeps sweeping); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = rt.execute(
            sa.select(sa.func.count()).select_from(bj).where(bj.c.status.not_in(sorted(TERMINAL_STATUSES)))
        ).scalar()
        rt.rollback()
        if not active:
            return True
        time.sleep(0.5)
    return False


# --- the checks --------------------------------------------------------------------------------------


def check(rt: Any, plan: list[Planned], chaos_log: ChaosLog, pool: WorkerPool) -> SoakResult:
    by_name = {job.name: job for job in plan}
    rows = {r["name"]: r for r in rt.execute(sa.select(bj.c.name, bj.c.status, bj.c.attempt)).rows}
    completions = Counter(
        r["background_job"]
        for r in rt.execute(
            sa.select(jel.c.background_job).where(
                jel.c.from_status == "Running", jel.c.to_status == "Completed"
            )
        ).rows
    )
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rt.execute(sa.select(soak_run).order_by(soak_run.c.id)).rows:
        runs[r["job"]].append(r)
    rt.rollback()

    violations: list[str] = []

    def violation(message: str) -> None:
        if len(violations) < 50:
            violations.append(message)
        else:
            violations[-1] = "... and more"

    missing = [name for name in by_name if name not in rows]
    extra = [name for name in rows if name not in by_name]
    for name in missing:
        violation(f"{name}: submitted but not in the database (lost)")
    for name in extra:
        violation(f"{name}: in the database but never submitted")

    by_status: dict[str, dict[str, int]] = defaultdict(lambda: {"predicted": 0, "actual": 0})
    mismatched = stuck = double = 0
    rerun_kill = rerun_db = rerun_crash = rerun_partition = rerun_unexplained = by_design = 0
    kill_times = {pid: at for pid, at in pool.killed.items()}
    db_kill_times = [event["at"] for event in chaos_log.db_kills]
    crash_times = [event["at"] for event in chaos_log.mariadb_kills]
    for name, job in by_name.items():
        row = rows.get(name)
        if row is None:
            continue
        want, got = predicted_status(job, by_name), row["status"]
        by_status[want]["predicted"] += 1
        by_status[got]["actual"] += 1
        if got not in TERMINAL_STATUSES:
            stuck += 1
            violation(f"{name} ({job.kind}, parent {job.parent}): stuck in {got}")
        elif got != want:
            mismatched += 1
            violation(f"{name} ({job.kind}, parent {job.parent}): {got}, predicted {want}")
        done = completions.get(name, 0)
        if done > 1:
            double += 1
            violation(f"{name}: Running → Completed {done} times")
        if (got == "Completed") != (done == 1):
            violation(f"{name}: status {got} with {done} Running → Completed log rows")
        job_runs = runs.get(name, [])
        if got == "Completed" and not job_runs:
            violation(f"{name}: Completed without a recorded handler run")
        if len(job_runs) > 1 and expected_runs(job, got) > 1:
            by_design += 1
        if len(job_runs) > expected_runs(job, got):
            # Each run before the last must have lost its outcome to a fault of its worker.
            reasons = set()
            for earlier, later in zip(job_runs, job_runs[1:], strict=False):
                killed_at = kill_times.get(earlier["pid"])
                if killed_at is not None and earlier["started"] <= killed_at:
                    reasons.add("kill")
                elif any(earlier["started"] <= at <= later["started"] for at in db_kill_times):
                    reasons.add("db")
                elif any(earlier["started"] <= at <= later["started"] for at in crash_times):
                    reasons.add("crash")
                elif earlier["pid"] in pool.on_host and any(
                    cut["from"] <= later["started"] and earlier["started"] <= cut["to"]
                    for cut in chaos_log.partitions
                ):
                    reasons.add("partition")
            if "kill" in reasons:
                rerun_kill += 1
            elif "db" in reasons:
                rerun_db += 1
            elif "crash" in reasons:
                rerun_crash += 1
            elif "partition" in reasons:
                rerun_partition += 1
            else:
                rerun_unexplained += 1
                violation(
                    f"{name} ({job.kind}): handler ran {len(job_runs)} times with no fault to explain it: "
                    + ", ".join(f"attempt {r['attempt']} pid {r['pid']} at {r['started']}" for r in job_runs)
                )
    host_runs = [r for job_runs in runs.values() for r in job_runs if r["pid"] in pool.on_host]
    refused = [job for job in plan if job.refused]
    for job in refused:
        violation_reason = job.refused or ""
        if "Dead Letter" not in violation_reason and "Canceled" not in violation_reason:
            violation(f"job #{job.index}: submit refused: {violation_reason}")
    if chaos_log.errors:
        for error in chaos_log.errors:
            violation(f"chaos step failed: {error}")

    counts = {
        "submitted": len(plan),
        "with dependency": sum(1 for job in plan if job.parent),
        "children refused at submit (parent already ended)": len(refused),
        "in the database": len(rows),
        "lost": len(missing),
        "in the predicted terminal state": sum(
            1 for n in by_name if rows.get(n, {}).get("status") == predicted_status(by_name[n], by_name)
        ),
        "in another terminal state": mismatched,
        "stuck (not terminal)": stuck,
        "double completions": double,
        "handler runs": sum(len(r) for r in runs.values()),
        "jobs whose handler ran more than once": sum(1 for r in runs.values() if len(r) > 1),
        "  by design (transient: fail, then retry)": by_design,
        "  beyond design, after a SIGKILL of its worker": rerun_kill,
        "  beyond design, after a dropped DB connection": rerun_db,
        "  beyond design, after a mariadbd crash": rerun_crash,
        "  beyond design, after a partition of its worker's host": rerun_partition,
        "  beyond design, unexplained": rerun_unexplained,
        "worker SIGKILLs": len(chaos_log.worker_kills),
        "  of a worker with a job running": sum(1 for k in chaos_log.worker_kills if k["had_running_job"]),
        "unexpected worker exits (replaced)": len(pool.unexpected_exits),
        "redis-server kill -9 (restarted)": len(chaos_log.redis_kills),
        "mariadbd kill -9 (restarted)": len(chaos_log.mariadb_kills),
        "DB connection drops": len(chaos_log.db_kills),
        "  connections killed": sum(event["connections"] for event in chaos_log.db_kills),
        "partitions of a worker host from the database": len(chaos_log.partitions),
        "  handler runs on that host": len(host_runs),
        "  of them started while it was cut off": sum(
            1 for r in host_runs if any(cut["from"] <= r["started"] <= cut["to"] for cut in chaos_log.partitions)
        ),
    }
    chaos_summary = {
        "worker_kills": chaos_log.worker_kills,
        "redis_kills": chaos_log.redis_kills,
        "mariadb_kills": chaos_log.mariadb_kills,
        "db_kills": chaos_log.db_kills,
        "partitions": chaos_log.partitions,
        "errors": chaos_log.errors,
        "unexpected_worker_exits": pool.unexpected_exits,
    }
    return SoakResult({}, counts, dict(by_status), violations, chaos_summary, {})


# --- command line ------------------------------------------------------------------------------------


def report(result: SoakResult, env: dict[str, Any]) -> None:
    print_table("Soak under faults: counts", ["what", "count"], list(result.counts.items()), env)
    print_table(
        "Soak: terminal states",
        ["status", "predicted", "actual"],
        [[status, c["predicted"], c["actual"]] for status, c in sorted(result.by_status.items())],
    )
    print_table("Soak: timings (s)", ["phase", "seconds"], list(result.seconds.items()))
    for exit_ in result.chaos.get("unexpected_worker_exits", []):
        print(f"  worker {exit_['pid']} exited on its own (code {exit_['returncode']}); it last logged:")
        for line in exit_["last_lines"]:
            print(f"    {line[:160]}")
    if result.violations:
        print(f"\n  INVARIANTS VIOLATED ({len(result.violations)}); logs kept in {result.logdir}:")
        for line in result.violations:
            print(f"    {line}")
    else:
        print("\n  all invariants hold: every job in its predicted terminal state, none lost, none stuck,")
        print("  none completed twice, every extra handler run explained by a fault")


def main(argv: list[str] | None = None) -> int:
    defaults = SoakConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=defaults.jobs)
    parser.add_argument("--orgs", type=int, default=defaults.orgs)
    parser.add_argument(
        "--duration", type=float, default=defaults.duration, help="submission window, seconds"
    )
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--transient", type=float, default=defaults.transient, help="percent")
    parser.add_argument("--permanent", type=float, default=defaults.permanent, help="percent")
    parser.add_argument("--dependent", type=float, default=defaults.dependent, help="percent")
    parser.add_argument("--kills", type=int, default=defaults.kills, help="worker SIGKILLs")
    parser.add_argument("--redis-kills", type=int, default=defaults.redis_kills, help="kill -9 of redis-server")
    parser.add_argument("--mariadb-kills", type=int, default=defaults.mariadb_kills, help="kill -9 of mariadbd")
    parser.add_argument("--partitions", type=int, default=defaults.partitions)
    parser.add_argument("--partition-seconds", type=float, default=defaults.partition_seconds)
    parser.add_argument(
        "--db-kills", type=int, default=defaults.db_kills, help="drops of the workers' connections"
    )
    parser.add_argument("--settle", type=float, default=defaults.settle, help="seconds allowed to finish")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--quick", action="store_true", help="2,000 jobs over 40 s, 2 kills")
    args = parser.parse_args(argv)
    if reason := unavailable():
        print(f"  skipped: {reason}")
        return 0
    cfg = SoakConfig(
        jobs=args.jobs,
        orgs=args.orgs,
        duration=args.duration,
        workers=args.workers,
        transient=args.transient,
        permanent=args.permanent,
        dependent=args.dependent,
        kills=args.kills,
        redis_kills=args.redis_kills,
        mariadb_kills=args.mariadb_kills,
        partitions=args.partitions,
        partition_seconds=args.partition_seconds,
        db_kills=args.db_kills,
        settle=args.settle,
        seed=args.seed,
    )
    if args.quick:
        cfg.jobs, cfg.duration, cfg.kills = 2_000, 40.0, 2
    env = environment(
        workers=cfg.workers,
        worker_class="rq.SimpleWorker (non-forking)",
        database_server=f"a private {OwnMariaDB.version()}",
    )
    result = run_soak(cfg)
    report(result, env)
    write_result(
        "soak_quick" if args.quick else "soak",
        {"environment": env, **asdict(result)},
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
