"""RQ workers for the standalone runtime, listening to the priority queues in priority order."""

from __future__ import annotations

import logging

from .runtime import QUEUE_NAMES, StandaloneRuntime


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
    from rq import Queue, SimpleWorker, Worker

    worker_class = Worker if forking else SimpleWorker
    queues = [Queue(queue, connection=rt.redis) for queue in QUEUE_NAMES]
    worker = worker_class(queues, connection=rt.redis, name=name)
    logging.getLogger("dartwing").setLevel(logging_level)
    return worker.work(burst=burst, max_jobs=max_jobs, logging_level=logging_level, with_scheduler=False)
