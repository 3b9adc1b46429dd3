"""The Celery peer: one no-op task, Redis broker, acks_late, with or without a database result backend.

Workers run Celery's default prefork pool: its database backend pools connections only in forked
children (in a `--pool solo` worker it opens a new connection for every result).

Environment (set by peers.systems for the worker processes): DARTWING_BENCH_REDIS_URL (the run's
own redis-server), DARTWING_BENCH_CELERY_BACKEND (a `db+postgresql+psycopg://` URL, or empty for
no result backend) and DARTWING_BENCH_CELERY_COUNTER (without a backend, the Redis key the workers
add their finished-task count to, so the harness sees the end of a drain). Not a benchmark.
"""

from __future__ import annotations

import os
import threading
import warnings

import redis
from celery import Celery
from celery.platforms import SecurityWarning
from celery.signals import task_postrun, worker_process_init

QUEUE = "bench-celery"


def make_app(broker_url: str, backend_url: str | None) -> Celery:
    """acks_late (a task is acknowledged after it ran: a worker's death re-delivers it), other
    settings Celery's defaults; the result backend, when given, stores each task's outcome."""
    app = Celery("dartwing_bench", broker=broker_url, backend=backend_url or None)
    app.conf.update(
        task_acks_late=True,
        task_default_queue=QUEUE,
        task_ignore_result=not backend_url,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @app.task(name="noop")
    def noop() -> None:
        """Does nothing."""

    return app


class FinishedCounter:
    """Tasks finished in this pool process, added to a Redis key every 20 ms by a daemon thread (one
    command per 20 ms, not one per task: the count must not cost the peer a round trip per job)."""

    def __init__(self, redis_url: str, key: str):
        self.client = redis.Redis.from_url(redis_url)
        self.key = key
        self.pending = 0
        self.lock = threading.Lock()

    def add(self, **_: object) -> None:
        with self.lock:
            self.pending += 1

    def start(self, **_: object) -> None:
        threading.Thread(target=self._flush_forever, daemon=True, name="bench-counter").start()

    def _flush_forever(self) -> None:
        stop = threading.Event()
        while not stop.wait(0.02):
            with self.lock:
                pending, self.pending = self.pending, 0
            if pending:
                self.client.incrby(self.key, pending)


warnings.filterwarnings("ignore", category=SecurityWarning)  # the bench may run as root (CI does)
app = make_app(
    os.environ.get("DARTWING_BENCH_REDIS_URL", "redis://127.0.0.1:0/0"),
    os.environ.get("DARTWING_BENCH_CELERY_BACKEND"),
)
if os.environ.get("DARTWING_BENCH_CELERY_COUNTER"):
    counter = FinishedCounter(
        os.environ["DARTWING_BENCH_REDIS_URL"], os.environ["DARTWING_BENCH_CELERY_COUNTER"]
    )
    task_postrun.connect(counter.add, weak=False)
    worker_process_init.connect(counter.start, weak=False)  # in the pool's child, which runs the tasks
