"""StandaloneRuntime: the engine's Runtime on SQLAlchemy Core and RQ, with no Frappe bench.

Each thread has its own connection and transaction, like `frappe.db` per request: statements run in
it until `commit()` or `rollback()`, and after-commit callbacks (RQ enqueue, realtime publish) run
only once a commit succeeds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from itertools import islice
from typing import Any

import redis
import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs import rq_batch
from dartwing.dartwing_core.background_jobs.queueing import RUN_JOB, pending_among
from dartwing.dartwing_core.background_jobs.runtime import ExecResult, Params
from dartwing.dartwing_core.background_jobs.settings import settings
from dartwing.dartwing_core.background_jobs.statements import built
from dartwing.dartwing_core.background_jobs.status import PRIORITY_ORDER, Priority

from . import compiled, database, naming, tables
from .config import StandaloneConfig
from .embedded_redis import EmbeddedRedis

log = logging.getLogger("dartwing")

# TCP keepalive probes: a peer gone silent (host lost, partition) is noticed in about 30 s even on a
# connection that waits, such as RQ's blocking dequeue, whose socket timeout must exceed its wait.
_KEEPALIVE = {
    getattr(socket, name): value
    for name, value in (("TCP_KEEPIDLE", 15), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
    if hasattr(socket, name)
}


def redis_client(url: str, *, waits: bool = False, client_class: type[redis.Redis] = redis.Redis) -> redis.Redis:
    """A Redis client (of `client_class`) whose commands fail after `redis_socket_timeout_seconds`
    without an answer; with `waits` (RQ's worker connection) no timeout is set here: RQ sets one
    above its dequeue's."""
    timeout = settings().redis_socket_timeout_seconds
    options: dict[str, Any] = {
        "socket_connect_timeout": timeout,
        "socket_timeout": None if waits else timeout,
    }
    if not url.startswith("unix:"):
        options.update(
            socket_keepalive=True,
            socket_keepalive_options=_KEEPALIVE,
        )
    return client_class.from_url(url, **options)


QUEUE_PREFIX = "dartwing"
EVENTS_CHANNEL = "events"
RQ_FAILURE_TTL_SECONDS = 7 * 24 * 3600
# How long RQ keeps a finished message's hash. Not 0: RQ deletes a job with no result TTL at once,
# which costs about nine round trips per job (a fetch and a ZREM per registry); with a TTL the hash
# just expires, in the pipeline RQ writes anyway. The row is the truth; the hash is never read.
RQ_RESULT_TTL_SECONDS = 60


def queue_name(priority: Priority | str) -> str:
    return f"{QUEUE_PREFIX}:{Priority(priority).value.lower()}"


QUEUE_NAMES: tuple[str, ...] = tuple(queue_name(p) for p in PRIORITY_ORDER)


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.connection: sa.Connection | None = None
        self.callbacks: list[Callable[[], None]] = []
        self.user: str | None = None
        # While a commit's callbacks run: the one Redis pipeline their writes go into.
        self.redis_batch: _CommitBatch | None = None
        # A read sent ahead by `prefetch`, its reply not read yet.
        self.prefetched: compiled.Sent | None = None


# PUBLISH each argument on the channel, in order.
_PUBLISH_ALL = "for i = 1, #ARGV do redis.call('PUBLISH', KEYS[1], ARGV[i]) end return #ARGV"


class _CommitBatch(redis.client.Pipeline):
    """The pipeline a commit's Redis writes share; executed as one MULTI/EXEC (transaction=True).

    RQ asks a caller's pipeline for MULTI at every enqueue (rq 1.15 unconditionally, rq 2 unless one
    is open), which a plain pipeline refuses once commands are queued or MULTI is open.

    Its realtime events are published together, in their order, by one EVAL queued last: a command
    per event cost the client five times as much (a bulk submit's thousand events), and inside one
    MULTI/EXEC no one sees the writes in between before all of them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[str] = []

    def multi(self) -> None:
        self.explicit_transaction = True

    def queue_events(self) -> None:
        if len(self.events) == 1:
            self.publish(EVENTS_CHANNEL, self.events[0])
        elif self.events:
            self.eval(_PUBLISH_ALL, 1, EVENTS_CHANNEL, *self.events)
        self.events = []


class StandaloneRuntime:
    """Runtime over a SQLAlchemy engine and a Redis connection (see runtime.Runtime)."""

    def __init__(self, config: StandaloneConfig):
        self.config = config
        self.engine = database.create_engine(config.db_url)
        self._name_blocks = naming.Blocks()  # series numbers reserved ahead (database servers)
        self._runs_compiled = self.engine.dialect.driver in compiled.DRIVERS
        self.redis_url = config.redis_url or EmbeddedRedis(config.home).ensure_running()
        self.redis = redis_client(self.redis_url)
        self.namespace = "dartwing"
        self._state = _ThreadState()
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # A forked RQ work horse must not share the parent's sockets.
        self.engine.dispose(close=False)
        self._state = _ThreadState()
        self.redis = redis_client(self.redis_url)

    def create_schema(self) -> None:
        database.create_schema(self.engine)

    # --- database ------------------------------------------------------------------------------
    def _connection(self) -> sa.Connection:
        if self._state.prefetched is not None:
            self._take_prefetched()  # unused: read off the wire before anything else runs
        if self._state.connection is None:
            self._state.connection = self.engine.connect()
        return self._state.connection

    def prefetch(self, statement: Any, params: dict[str, Any]) -> None:
        """Send a prebuilt read in the open transaction without waiting for it: the next `execute`
        of the same statement and params returns its reply, so the database works while the caller
        does other things (a worker: RQ's Redis bookkeeping of the message it just took). Anything
        else run first reads and drops the reply. Does nothing without an open transaction (a dead
        pooled connection must fail on a statement that can be retried) or with a driver that
        cannot send ahead (PyMySQL, SQLite)."""
        connection = self._state.connection
        if connection is None or not self._runs_compiled or not compiled.can_send(connection):
            return
        if self._state.prefetched is not None:
            self._take_prefetched()
        self._state.prefetched = compiled.send(connection, statement, params)

    def _take_prefetched(self, statement: Any = None, params: Params = None) -> ExecResult | None:
        """The prefetched reply if it is that of `statement` with `params`; read either way."""
        sent, self._state.prefetched = self._state.prefetched, None
        if sent is None:
            return None
        result = compiled.receive(sent)
        return result if sent.statement is statement and sent.params == params else None

    def execute(self, statement: Any, params: Params = None) -> ExecResult:
        first_of_transaction = self._state.connection is None
        try:
            return self._execute(statement, params)
        except sa.exc.DBAPIError as exc:
            if not (first_of_transaction and exc.connection_invalidated):
                raise
            # The pooled connection had died (server restart, KILL, timeout) before this transaction
            # ran anything, so running the statement again on a new connection changes nothing else.
            self.rollback()
            return self._execute(statement, params)

    def _execute(self, statement: Any, params: Params) -> ExecResult:
        if self._state.prefetched is not None:
            prefetched = self._take_prefetched(statement, params)
            if prefetched is not None:
                return prefetched
        if params is not None and self._runs_compiled:  # a prebuilt hot-path statement
            return compiled.execute(self._connection(), statement, params)
        result = self._connection().execute(built(statement), params)
        rows = [dict(row) for row in result.mappings()] if result.returns_rows else []
        return ExecResult(rows=rows, rowcount=result.rowcount)

    def execute_all(self, statements: Iterable[tuple[Any, dict[str, Any]]]) -> None:
        """Pipelined on mysqlclient (`compiled.execute_all`); one by one otherwise. The first statement
        of a transaction runs on its own, so a dead pooled connection is replaced as `execute` does."""
        items = iter(statements)
        if self._runs_compiled and self._state.connection is None:
            for statement, params in islice(items, 1):
                self.execute(statement, params)
        if self._runs_compiled and self._state.connection is not None and compiled.can_send(self._connection()):
            compiled.execute_all(self._connection(), items)
            return
        for statement, params in items:
            self.execute(statement, params)

    @contextmanager
    def savepoint(self):
        """The interface's savepoint; after a deadlock, which has rolled the whole transaction back and
        its savepoints with it, the block's error is raised as it is, not a failed ROLLBACK TO SAVEPOINT."""
        nested = self._connection().begin_nested()
        try:
            yield
        except BaseException as exc:
            if not database.ended_the_transaction(exc):
                nested.rollback()
            raise
        nested.commit()

    def is_unique_violation(self, exc: BaseException) -> bool:
        return database.is_unique_violation(exc)

    def commit(self) -> None:
        if self._state.prefetched is not None:
            self._take_prefetched()
        connection, self._state.connection = self._state.connection, None
        if connection is not None:
            try:
                connection.commit()
            finally:
                connection.close()
        callbacks, self._state.callbacks = self._state.callbacks, []
        if len(callbacks) == 1:  # a worker's commit: one event, sent as is (each callback handles errors)
            callbacks[0]()
        elif callbacks:
            self._run_after_commit(callbacks)

    def _run_after_commit(self, callbacks: list[Callable[[], None]]) -> None:
        """Run the callbacks with their Redis writes (RQ messages, realtime events) batched into one
        MULTI/EXEC: one round trip per commit instead of two or three per job. If it fails, every
        message of the batch is lost together, which is the case the minute sweep's re-send covers."""
        outer = self._state.redis_batch  # a callback may commit a transaction of its own
        with _CommitBatch(self.redis.connection_pool, self.redis.response_callbacks, True, None) as batch:
            self._state.redis_batch = batch
            try:
                for callback in callbacks:
                    callback()
            finally:
                self._state.redis_batch = outer
            batch.queue_events()
            try:
                batch.execute()
            except redis.exceptions.RedisError as exc:
                log.warning("after-commit Redis writes failed (the minute sweep re-sends): %s", exc)

    def rollback(self) -> None:
        sent, self._state.prefetched = self._state.prefetched, None
        if sent is not None:
            with suppress(sa.exc.DBAPIError):  # a lost connection: the rollback below says so
                compiled.receive(sent)
        connection, self._state.connection = self._state.connection, None
        self._state.callbacks = []
        if connection is not None:
            try:
                connection.rollback()
            finally:
                connection.close()

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._state.callbacks.append(callback)

    @contextmanager
    def own_transaction(self):
        """The block runs on a connection (and callback list) of its own, committed at exit; the
        caller's connection and pending callbacks are set aside meanwhile and restored after.

        SQLite has one writer, and every transaction here begins IMMEDIATE: while this thread's own
        transaction is open a second connection would wait for it forever. There the block runs in a
        savepoint of the caller's transaction instead, and commits with it.
        """
        state = self._state
        if state.connection is not None and self.engine.dialect.name == "sqlite":
            with self.savepoint():
                yield
            return
        caller = state.connection, state.callbacks
        state.connection, state.callbacks = None, []
        try:
            yield
            self.commit()
        except BaseException:
            self.rollback()
            raise
        finally:
            state.connection, state.callbacks = caller

    @contextmanager
    def transaction(self):
        """Commit at the end of the block, roll back if it raises."""
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def make_name(self, series: str) -> str:
        return self.make_names(series, 1)[0]

    def make_names(self, series: str, count: int) -> list[str]:
        """`count` new names of `series`: from this process's reserved numbers on a database server,
        or bumped in the caller's transaction on SQLite (naming.py says why)."""
        prefix, digits = naming.parse_series(series, self.now())
        bump = naming.bump_statement(self.engine.dialect.name)
        if self.engine.dialect.name == "sqlite":
            last = int(self.execute(bump, {"prefix": prefix, "count": count}).scalar())
        else:
            last = self._name_blocks.take(prefix, count, self._reserve_names)
        return naming.series_names(prefix, digits, last, count)

    def _reserve_names(self, prefix: str, count: int) -> int:
        """Bump the series by `count` in a transaction of its own, committed at once."""
        bump = naming.bump_statement(self.engine.dialect.name)
        with self.engine.begin() as connection:
            return int(connection.execute(bump, {"prefix": prefix, "count": count}).scalar())

    def next_autoincrement(self, doctype: str) -> int | None:
        return None  # an AUTO_INCREMENT / INTEGER PRIMARY KEY column assigns it

    def next_autoincrements(self, doctype: str, count: int) -> list[int] | None:
        return None

    def now(self) -> datetime:
        return datetime.now(timezone.utc).replace(tzinfo=None)

    def aware(self, value: datetime) -> datetime:
        return value.replace(tzinfo=timezone.utc)

    def claim_turn(self, name: str, seconds: float) -> bool:
        key = f"{self.namespace}:turn:{name}"
        return bool(self.redis.set(key, 1, nx=True, px=max(1, int(seconds * 1000))))

    @contextmanager
    def background_session(self):
        # State is per thread already: a helper thread gets its own connection; close it at exit.
        try:
            yield
        finally:
            self.rollback()

    # --- identity ------------------------------------------------------------------------------
    def current_user(self) -> str:
        return self._state.user or self.config.user

    def set_user(self, user: str) -> None:
        self._state.user = user

    def user_roles(self, user: str) -> set[str]:
        hr = tables.has_role
        return {row["role"] for row in self.execute(sa.select(hr.c.role).where(hr.c.parent == user))}

    # --- transport -----------------------------------------------------------------------------
    def enqueue(self, queue: str, job_id: str, kwargs: dict[str, Any], timeout: int) -> None:
        from rq import Queue

        Queue(queue_name(queue), connection=self.redis).enqueue_call(
            func=RUN_JOB,
            kwargs=kwargs,
            timeout=timeout,
            job_id=job_id,
            result_ttl=RQ_RESULT_TTL_SECONDS,
            failure_ttl=RQ_FAILURE_TTL_SECONDS,
            description=job_id,
            pipeline=self._state.redis_batch,  # None outside a commit: sent at once
        )

    def enqueue_many(self, messages: list[tuple[str, str, dict[str, Any], int]]) -> None:
        """The messages `enqueue` would send, one pipeline for them all (rq_batch.py); inside a
        commit, the commit's own MULTI/EXEC."""
        from rq import Queue

        by_queue: dict[str, list[Any]] = {}
        for queue, job_id, kwargs, timeout in messages:
            by_queue.setdefault(queue, []).append((job_id, kwargs, timeout))
        batch = self._state.redis_batch
        pipe = batch if batch is not None else self.redis.pipeline()
        for queue, batch_messages in by_queue.items():
            rq_batch.write_messages(
                pipe,
                Queue(queue_name(queue), connection=self.redis),
                RUN_JOB,
                batch_messages,
                describe=lambda job: job.id,
                result_ttl=RQ_RESULT_TTL_SECONDS,
                failure_ttl=RQ_FAILURE_TTL_SECONDS,
            )
        if batch is None:
            pipe.execute()

    def messages_pending(self, job_ids: list[str]) -> set[str]:
        return pending_among(self.redis, {job_id: job_id for job_id in job_ids})

    def workers_on(self, queue: str) -> int:
        from rq import Queue, Worker

        return len(Worker.all(queue=Queue(queue_name(queue), connection=self.redis)))

    def remove_message(self, job_id: str) -> None:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        with suppress(NoSuchJobError):
            Job.fetch(job_id, connection=self.redis).delete()

    def stop_running(self, job_id: str) -> None:
        from rq.command import send_stop_job_command

        try:
            send_stop_job_command(self.redis, job_id)
        except Exception as exc:  # noqa: BLE001 - the cooperative cancel still stands
            log.warning("could not stop RQ job %s: %s", job_id, exc)

    def publish_realtime(self, event: str, message: dict[str, Any], room: str) -> None:
        envelope = json.dumps({"event": event, "message": message, "room": room, "namespace": self.namespace})

        def publish() -> None:
            batch = self._state.redis_batch
            if batch is not None:
                batch.events.append(envelope)
                return
            try:
                self.redis.publish(EVENTS_CHANNEL, envelope)
            except redis.exceptions.RedisError as exc:  # realtime is best effort; the row is the truth
                log.warning("realtime publish failed: %s", exc)

        self.after_commit(publish)

    def log_error(self, title: str, message: str) -> None:
        log.error("%s: %s", title, message)

    def new_id(self) -> str:
        return uuid.uuid4().hex[:10]
