"""RQ workers for the standalone runtime, listening to the priority queues in priority order.

RQ's work loop retries a lost Redis connection only while it waits for a job; a connection lost
anywhere else (finishing a job, its heartbeat, its teardown) ends the loop, and the process would
exit. A Redis restart would then leave no worker running. So `run_worker` works again, with the same
queues, whenever RQ stops without being asked to: it waits (with backoff) until Redis answers, then
starts a fresh RQ worker. No job is at risk meanwhile: the job's row is the truth, and the minute
sweep recovers whatever the lost connection interrupted.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from datetime import datetime, timezone

import redis
import sqlalchemy as sa
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from dartwing.dartwing_core.background_jobs import group_commit
from dartwing.dartwing_core.background_jobs.execution import flush_outcome, prefetch_claim, prepare_statements
from dartwing.dartwing_core.background_jobs.runtime import get_runtime

from .runtime import QUEUE_NAMES, StandaloneRuntime, redis_client

log = logging.getLogger("dartwing")

RECONNECT_FIRST_WAIT_SECONDS = 1.0
RECONNECT_MAX_WAIT_SECONDS = 30.0
# At most one stand-alone stamp of the worker's RQ key per this many seconds (see _SparseBookkeeping).
WORKER_HEARTBEAT_SECONDS = 1.0
# At most one look for `rq suspend` per this many seconds (see _SparseBookkeeping): a suspension
# takes effect within it.
SUSPENSION_CHECK_SECONDS = 1.0


def run_worker(
    rt: StandaloneRuntime,
    *,
    forking: bool = True,
    burst: bool = False,
    name: str | None = None,
    max_jobs: int | None = None,
    logging_level: str = "INFO",
) -> bool:
    """Work until stopped (or until the queues are empty with `burst`). Returns RQ's result."""
    worker_class = StopAwareWorker if forking else StopAwareSimpleWorker
    log.setLevel(logging_level)
    if forking:
        _prepare_work_horses(rt)
    elif groups_outcomes(rt):
        group_commit.enable()
    while True:
        worker = new_worker(rt, worker_class, name)
        try:
            result = worker.work(
                burst=burst, max_jobs=max_jobs, logging_level=logging_level, with_scheduler=False
            )
        except redis.exceptions.RedisError as exc:  # raised by RQ's start-up or teardown
            log.warning("worker lost Redis (%s)", exc)
        else:
            if burst or max_jobs is not None or worker.stop_was_requested:
                return result
            log.warning("RQ stopped its worker without a stop request (a lost Redis connection?)")
        finally:
            flush_outcome(rt)
        _wait_for_redis(rt)
        log.warning("Redis answers again: starting a new worker on the same queues")


def groups_outcomes(rt: StandaloneRuntime) -> bool:
    """Whether a non-forking worker commits each Completed outcome with the next claim
    (group_commit.py): on a database server, yes. Not on SQLite, where an open write transaction
    holds the whole file's write lock, so a held outcome would stall every other writer meanwhile."""
    return rt.engine.dialect.name != "sqlite"


def new_worker(rt: StandaloneRuntime, worker_class: type[Worker], name: str | None = None) -> Worker:
    """An RQ worker on the priority queues, on a Redis connection of its own: RQ raises that
    connection's socket timeout above its blocking dequeue's wait, while the runtime's client (used
    by the jobs) keeps its short one."""
    connection = redis_client(rt.redis_url, waits=True, client_class=WorkerRedis)
    queue_class = type("OutcomeFlushingQueue", (OutcomeFlushingQueue,), {})  # this worker's own
    queues = [queue_class(queue, connection=connection) for queue in QUEUE_NAMES]
    worker = worker_class(queues, connection=connection, name=name, queue_class=queue_class)
    queue_class.worker = worker
    return worker


class WorkerRedis(redis.Redis):
    """The worker's own connection, without two of RQ's per-job commands (a round trip each) that
    cannot change anything for the engine's messages:

    - PERSIST of the message's hash as its function starts: the engine sends its messages without a
      TTL, and a hash that expired during a run would only lose RQ's copy of the outcome;
    - WATCH of the message's RQ dependents key before RQ's success pipeline: the engine's messages
      never have RQ dependents (dependencies live in the rows), and that pipeline is a MULTI/EXEC
      all the same.
    """

    def persist(self, name):
        if str(name).startswith(Job.redis_job_namespace_prefix):
            return False
        return super().persist(name)

    def pipeline(self, transaction=True, shard_hint=None):
        return _WorkerPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class _WorkerPipeline(redis.client.Pipeline):
    def watch(self, *names):
        names = [name for name in names if not str(name).endswith(":dependents")]
        return super().watch(*names) if names else True


# The first message of the first non-empty list of KEYS, popped in one round trip: what RQ's
# non-blocking dequeue does with one LPOP per queue.
_POP_FIRST = """
for _, key in ipairs(KEYS) do
  local id = redis.call('LPOP', key)
  if id then return {key, id} end
end
return false
"""
_pop_first = None


class OutcomeFlushingQueue(Queue):
    """RQ's queue, but a worker about to wait for a message first commits the outcome its last job
    held for the next claim (group_commit.py): with a message there, the next claim commits it;
    with none, it is committed before the wait, never left open while the worker idles. And no RQ
    dependents are looked up after a job: the engine's messages never have any (dependencies live
    in the rows), and the lookup is a round trip per job. Each worker has a subclass of its own,
    whose `worker` is told before it waits (its `idle` state is written then, _SparseBookkeeping)."""

    worker = None

    def enqueue_dependents(self, job, pipeline=None, exclude_job_id=None, **_ignored):
        return None

    @classmethod
    def lpop(cls, queue_keys, timeout, connection=None):
        global _pop_first
        if group_commit.pending() is None:
            cls._before_wait()
            return super().lpop(queue_keys, timeout, connection=connection)
        if _pop_first is None:
            _pop_first = connection.register_script(_POP_FIRST)
        found = _pop_first(keys=list(queue_keys), client=connection)
        if found:
            prefetch_claim(get_runtime(), found[1].decode())
            return found[0], found[1]
        flush_outcome(get_runtime())
        if timeout is None:
            return None
        cls._before_wait()
        return super().lpop(queue_keys, timeout, connection=connection)

    @classmethod
    def _before_wait(cls):
        if cls.worker is not None:
            cls.worker.write_deferred_state()


def _prepare_work_horses(rt: StandaloneRuntime) -> None:
    """Compile the run's statements here, once, so that every forked work horse inherits them (and
    SQLAlchemy's knowledge of the server, learnt on this first connection); then close the
    connection, as the parent runs no job (each horse opens its own)."""
    try:
        prepare_statements(rt)
    except sa.exc.DBAPIError as exc:  # only a saving: the horses compile their own
        log.warning("could not prepare the run's statements (%s); each work horse compiles them", exc)
    rt.engine.dispose()


class _StopAware:
    """Remembers a stop request. RQ's own flag stays unset when the request comes while the worker is
    idle (it raises StopRequested instead), so a stopped loop would be indistinguishable from one
    that Redis broke. SIGTERM, SIGINT and RQ's shutdown command all arrive through `request_stop`."""

    stop_was_requested = False

    def request_stop(self, signum, frame):
        self.stop_was_requested = True
        super().request_stop(signum, frame)


class _SparseBookkeeping:
    """RQ's per-job round trips that say nothing new, skipped:

    - the worker key's stamp (EXPIRE, then HSET last_heartbeat) before and after every dequeue and
      when a job starts, seven round trips a job: the key lives worker_ttl + 60 s (480 s by
      default) and monitoring reads `last_heartbeat` to the second, so a stand-alone stamp is
      skipped when the last one is under WORKER_HEARTBEAT_SECONDS old (stamps that ride in one of
      RQ's pipelines, or that set a job's own timeout, always go);
    - the state: RQ writes `idle` when a job ends and again when it starts waiting for the next,
      then `busy` (in a pipeline) as the next job starts. A stand-alone `idle` is written only when
      the worker is about to wait for a message (`write_deferred_state`, called by its queue class):
      with one waiting, `busy` follows at once. Any other stand-alone write of the state this worker
      last wrote stand-alone is skipped (one written in a pipeline is never taken as written: the
      pipeline may not have run);
    - the suspension check (`rq suspend`), with a worker stamp, before every dequeue: done at most
      once per SUSPENSION_CHECK_SECONDS;
    - the job's stamp when its function returns (rq 2), which keeps a job alive in the started
      registry while success or failure callbacks run: the engine's messages have none.
    """

    _last_stamp = -math.inf
    _state_written = None
    _state_deferred = False
    _suspension_checked = -math.inf

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is None and timeout is None:
            now = time.monotonic()
            if now - self._last_stamp < WORKER_HEARTBEAT_SECONDS:
                return
            self._last_stamp = now
        super().heartbeat(timeout, pipeline)

    def set_state(self, state, pipeline=None):
        self._state_deferred = False
        if pipeline is None:
            if state == self._state_written or state == WorkerStatus.IDLE:
                self._state = state
                self._state_deferred = state != self._state_written
                return
            self._state_written = state
        else:
            self._state_written = None
        super().set_state(state, pipeline)

    def write_deferred_state(self):
        """Write the `idle` state set_state left for the moment the worker waits."""
        if self._state_deferred:
            self._state_deferred = False
            self._state_written = self._state
            super().set_state(self._state)

    def check_for_suspension(self, burst):
        now = time.monotonic()
        if now - self._suspension_checked < SUSPENSION_CHECK_SECONDS:
            return
        super().check_for_suspension(burst)
        self._suspension_checked = now

    def handle_execution_ended(self, job, queue, heartbeat_ttl):
        job.ended_at = rq_now()


class StopAwareWorker(_StopAware, _SparseBookkeeping, Worker):
    pass


class StopAwareSimpleWorker(_StopAware, _SparseBookkeeping, SimpleWorker):
    pass


def _wait_for_redis(rt: StandaloneRuntime) -> None:
    # RQ's signal handlers belong to the worker that stopped; no job runs now, so a stop just exits.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    wait = RECONNECT_FIRST_WAIT_SECONDS
    while True:
        time.sleep(wait)
        try:
            rt.redis.ping()
            return
        except redis.exceptions.RedisError:
            wait = min(wait * 2, RECONNECT_MAX_WAIT_SECONDS)


def describe_workers(rt: StandaloneRuntime) -> list[dict]:
    """The live RQ workers on the priority queues, from RQ's registry: name, state, queues, start
    time, last heartbeat, the RQ message being worked and jobs done, oldest first. Times are naive
    UTC like the store's."""
    workers = {}
    for queue in QUEUE_NAMES:
        for worker in Worker.all(queue=Queue(queue, connection=rt.redis)):
            workers[worker.name] = worker
    return sorted(
        (
            {
                "name": worker.name,
                "state": str(worker.get_state()),
                "queues": worker.queue_names(),
                "birth_date": _naive(worker.birth_date),
                "last_heartbeat": _naive(worker.last_heartbeat),
                "current_message": worker.get_current_job_id(),
                "successful_jobs": worker.successful_job_count,
                "failed_jobs": worker.failed_job_count,
            }
            for worker in workers.values()
        ),
        key=lambda row: (row["birth_date"] or datetime.min, row["name"]),
    )


def _naive(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value and value.tzinfo else value
