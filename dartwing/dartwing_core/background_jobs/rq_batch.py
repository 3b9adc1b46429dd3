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

The writes are one EVAL of a short script (`_WRITE`) on the caller's pipeline rather than a command
per message: Redis runs it atomically, as the MULTI/EXEC it joins would, and the client packs the
fields that all messages share once, the names of the ones each sets once, and parses one reply,
instead of about twenty arguments and two replies (QUEUED, then EXEC's) per message, which was most
of a bulk submit's Redis cost; a message is its key, its id and its three own values.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

# (RQ job id, kwargs, timeout seconds) of one message.
Message = tuple[str, dict[str, Any], int]

# KEYS: the queues set, the queue, then each message's hash. ARGV: the number of shared field/value
# pairs and the pairs; the number of fields every message sets on its own (0: each message counts its
# own) and their names; then for each message its id and its values in that order (or, counted, its
# number of own pairs and the pairs).
_WRITE = """
local at = 2
local shared = {}
for i = 1, 2 * tonumber(ARGV[1]) do shared[i] = ARGV[at]; at = at + 1 end
local named = tonumber(ARGV[at]); at = at + 1
local names = {}
for i = 1, named do names[i] = ARGV[at]; at = at + 1 end
redis.call('SADD', KEYS[1], KEYS[2])
local ids = {}
for k = 3, #KEYS do
  ids[#ids + 1] = ARGV[at]
  at = at + 1
  local fields = {unpack(shared)}
  if named > 0 then
    for i = 1, named do fields[#fields + 1] = names[i]; fields[#fields + 1] = ARGV[at]; at = at + 1 end
  else
    local count = tonumber(ARGV[at]); at = at + 1
    for i = 1, 2 * count do fields[#fields + 1] = ARGV[at]; at = at + 1 end
  end
  redis.call('HSET', KEYS[k], unpack(fields))
  if #ids == 1000 then redis.call('RPUSH', KEYS[2], unpack(ids)); ids = {} end
end
if #ids > 0 then redis.call('RPUSH', KEYS[2], unpack(ids)) end
return #KEYS - 2
"""


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
    fields = _fields_of(job, describe, *messages[0])
    # Each message differs from the first only in what `_vary` sets, unless this RQ lays a job out
    # otherwise than it did when this was written: then each one is laid out by RQ in full.
    own = _vary(job, describe, *messages[0])
    vary = _vary if _decoded({**fields, **own}) == _decoded(fields) else _fields_of
    shared = {} if vary is _fields_of else {field: value for field, value in fields.items() if field not in own}
    keys, args = [queue.redis_queues_keys, queue.key], [len(shared), *_flat(shared)]
    if vary is _vary:  # every message sets the same fields: their names go once, not once a message
        args += [len(own), *own]
        for job_id, kwargs, timeout in messages:
            keys.append(_key(job, job_id))
            args += [job_id, *_vary(job, describe, job_id, kwargs, timeout).values()]
    else:
        args.append(0)
        for job_id, kwargs, timeout in messages:
            keys.append(_key(job, job_id))
            fields_of_message = _fields_of(job, describe, job_id, kwargs, timeout)
            args += [job_id, len(fields_of_message), *_flat(fields_of_message)]
    pipe.eval(_WRITE, len(keys), *keys, *args)


def _flat(fields: dict[str, Any]) -> list[Any]:
    return [item for pair in fields.items() for item in pair]


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
    """The fields that differ between messages: `data` (the serialised call, in a zlib stream as
    `Job.to_dict` writes it), the description and the timeout."""
    _prepare(job, describe, job_id, kwargs, timeout)
    return {"data": _stored(job.data), "description": job.description, "timeout": job.timeout}


def _stored(data: bytes) -> bytes:
    """`data` in a zlib stream that stores it: what RQ reads back with `zlib.decompress`, as it reads
    its own deflated one. A message's call is about a hundred bytes, and setting up deflate for it
    took longer than laying out the rest of the message."""
    packer = zlib.compressobj(0, zlib.DEFLATED, 9, 1)
    return packer.compress(data) + packer.flush()


def _decoded(fields: dict) -> dict:
    """The fields with `data` decompressed, to compare two layouts whatever their compression."""
    return {**fields, "data": zlib.decompress(fields["data"])} if "data" in fields else fields


def _prepare(
    job: Any, describe: Callable[[Any], str] | None, job_id: str, kwargs: dict, timeout: int
) -> None:
    job.set_id(job_id)
    job.kwargs, job.timeout = kwargs, timeout
    job.description = describe(job) if describe else job.get_call_string()
