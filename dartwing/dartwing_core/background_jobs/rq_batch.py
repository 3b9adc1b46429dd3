"""Many RQ messages of one function on one queue, written in one pipeline (a bulk submit's).

Why not `Queue.enqueue_many`: per job it builds a Job (callbacks, serializer and dependency set-up),
and writes its status, its hash, its TTLs and its id in four commands; that Python work is most of a
bulk submit's cost (bench/bulk_submit.py). Here RQ builds one Job, the template, and each message is
that Job with its own id, kwargs, timeout and description: its hash as RQ's own `Job.to_dict` writes it
(the same serialisation on rq 1.15 and 2.x, so any RQ worker restores it; fields RQ leaves empty at
enqueue are left out), laid out in full once and then only its varying fields re-encoded, then one
RPUSH of every id. What RQ's enqueue does besides is kept: the queue is registered in `rq:queues`, the hash
holds status `queued`, `origin` and `enqueued_at`. Dependencies, `at_front` and job TTLs are not
offered (the engine uses none).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

# (RQ job id, kwargs, timeout seconds) of one message.
Message = tuple[str, dict[str, Any], int]


def write_messages(
    pipe: Any,
    queue: Any,
    func: Any,
    messages: Sequence[Message],
    *,
    describe: Callable[[Any], str] | None = None,
    **job_options: Any,
) -> None:
    """Queue `messages` (calls of `func`) on the RQ `queue` through `pipe`, which the caller executes.

    `job_options`: what every message's Job takes (result_ttl, failure_ttl, on_failure, ...), as for
    `Queue.create_job`. `describe(job)`: each job's description (default: RQ's call string)."""
    if not messages:
        return
    from rq import utils
    from rq.job import JobStatus

    job = queue.create_job(func, kwargs={}, status=JobStatus.QUEUED, **job_options)
    # The clock each version's own enqueue stamps with: rq 1.15 `utcnow` (naive), rq 2 `now`.
    job.origin, job.enqueued_at = queue.name, getattr(utils, "utcnow", utils.now)()
    pipe.sadd(queue.redis_queues_keys, queue.key)
    fields = _fields_of(job, describe, *messages[0])
    # Each message differs from the first only in what `_vary` sets, unless this RQ lays a job out
    # otherwise than it did when this was written: then each one is laid out by RQ in full.
    check = {**fields, **_vary(job, describe, *messages[0])}
    vary = _vary if check == fields else _fields_of
    for job_id, kwargs, timeout in messages:
        pipe.hset(_key(job, job_id), mapping={**fields, **vary(job, describe, job_id, kwargs, timeout)})
    pipe.rpush(queue.key, *(job_id for job_id, _, _ in messages))


def _key(job: Any, job_id: str) -> str:
    job.set_id(job_id)
    return job.key


def _fields_of(
    job: Any, describe: Callable[[Any], str] | None, job_id: str, kwargs: dict, timeout: int
) -> dict:
    """The job's hash as RQ's `Job.to_dict` writes it, without the fields RQ leaves empty at enqueue
    (RQ reads an optional field that is empty as absent, on 1.15 and 2.x; and the arguments a command
    carries are most of the client's cost of a pipeline)."""
    _prepare(job, describe, job_id, kwargs, timeout)
    return {field: value for field, value in job.to_dict().items() if value != ""}


def _vary(job: Any, describe: Callable[[Any], str] | None, job_id: str, kwargs: dict, timeout: int) -> dict:
    """The fields that differ between messages: `data` as `Job.to_dict` encodes it (the compressed
    serialised call), the description and the timeout."""
    _prepare(job, describe, job_id, kwargs, timeout)
    return {"data": zlib.compress(job.data), "description": job.description, "timeout": job.timeout}


def _prepare(
    job: Any, describe: Callable[[Any], str] | None, job_id: str, kwargs: dict, timeout: int
) -> None:
    job.set_id(job_id)
    job.kwargs, job.timeout = kwargs, timeout
    job.description = describe(job) if describe else job.get_call_string()
