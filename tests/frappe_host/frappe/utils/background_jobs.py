"""Contract host: `frappe/utils/background_jobs.py` of v15.

`enqueue` names RQ jobs `<site>::<job_id>` (create_job_id) on queue `<bench_id>:<queue>`, with
`execute_job` as the RQ function and the method, site and user as its kwargs; with
`enqueue_after_commit` it only adds the enqueue to `frappe.db.after_commit`. `execute_job` runs in a
worker: init and connect the site, set the user, call the method, COMMIT on success; on an exception
ROLLBACK, write an Error Log row, COMMIT that, and re-raise; then destroy the site context.
"""

from __future__ import annotations

import os
from typing import Any
from uuid import uuid4

import redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job

import frappe
from frappe.utils import CallbackManager, get_bench_id

RQ_JOB_FAILURE_TTL = 7 * 24 * 60 * 60
RQ_RESULTS_TTL = 10 * 60
RQ_FAILED_JOBS_LIMIT = 1000

_redis_queue_conn: redis.Redis | None = None


def get_queues_timeout() -> dict[str, int]:
    """v15: short/default 300 s, long 1500 s, plus the `workers` of common_site_config.json."""
    workers = frappe.local.conf.get("workers", {}) if getattr(frappe.local, "conf", None) else {}
    return {
        "short": 300,
        "default": 300,
        "long": 1500,
        **{name: config.get("timeout", 300) for name, config in workers.items()},
    }


def generate_qname(qtype: str) -> str:
    return f"{get_bench_id()}:{qtype}"


def get_redis_conn(username=None, password=None) -> redis.Redis:
    """v15: the `redis_queue` server of the config (one connection per process)."""
    if not getattr(frappe.local, "conf", None):
        raise Exception("You need to call frappe.init")
    if not frappe.local.conf.redis_queue:
        raise Exception("redis_queue missing in common_site_config.json")
    return get_redis_connection_without_auth()


def get_redis_connection_without_auth() -> redis.Redis:
    global _redis_queue_conn
    if _redis_queue_conn is None:
        _redis_queue_conn = redis.Redis.from_url(frappe.local.conf.redis_queue)
    return _redis_queue_conn


def get_queue(qtype: str, is_async: bool = True) -> Queue:
    if qtype not in get_queues_timeout():
        frappe.throw(f"Queue should be one of {', '.join(get_queues_timeout())}")
    return Queue(generate_qname(qtype), connection=get_redis_conn(), is_async=is_async)


def create_job_id(job_id: str | None = None) -> str:
    return f"{frappe.local.site}::{job_id or uuid4()}"


def get_job(job_id: str) -> Job | None:
    try:
        return Job.fetch(create_job_id(job_id), connection=get_redis_conn())
    except NoSuchJobError:
        return None


def enqueue(
    method,
    queue: str = "default",
    timeout: int | None = None,
    event=None,
    is_async: bool = True,
    job_name: str | None = None,
    now: bool = False,
    enqueue_after_commit: bool = False,
    *,
    on_success=None,
    on_failure=None,
    at_front: bool = False,
    job_id: str | None = None,
    deduplicate: bool = False,
    **kwargs,
) -> Job | Any:
    """v15 `enqueue` (deduplicate and callbacks are not used by the app and not provided)."""
    if deduplicate or on_success or on_failure:
        raise NotImplementedError("the contract host does not provide enqueue(deduplicate/on_*)")
    job_id = create_job_id(job_id)
    if now or (not is_async and not frappe.flags.in_test):
        return frappe.call(method, **kwargs)
    q = get_queue(queue, is_async=is_async)
    timeout = timeout or get_queues_timeout().get(queue) or 300
    method_name = method if isinstance(method, str) else f"{method.__module__}.{method.__qualname__}"
    queue_args = {
        "site": frappe.local.site,
        "user": frappe.session.user,
        "method": method,
        "event": event,
        "job_name": job_name or method_name,
        "is_async": is_async,
        "kwargs": kwargs,
    }

    def enqueue_call():
        return q.enqueue_call(
            execute_job,
            timeout=timeout,
            kwargs=queue_args,
            at_front=at_front,
            failure_ttl=RQ_JOB_FAILURE_TTL,
            result_ttl=RQ_RESULTS_TTL,
            job_id=job_id,
        )

    if enqueue_after_commit:
        frappe.db.after_commit.add(enqueue_call)
        return None
    return enqueue_call()


def truncate_failed_registry(job, connection, type, value, traceback) -> None:
    """v15 `truncate_failed_registry`, the `on_failure` callback `enqueue` gives every job: keep at most
    `rq_failed_jobs_limit` (default RQ_FAILED_JOBS_LIMIT) jobs in each queue's failed registry."""
    conf = getattr(frappe.local, "conf", None) or {}  # the site context may be gone after the job
    keep = max(0, int(conf.get("rq_failed_jobs_limit") or RQ_FAILED_JOBS_LIMIT) - 1)
    for qtype in get_queues_timeout():
        registry = Queue(generate_qname(qtype), connection=connection).failed_job_registry
        for job_id in registry.get_job_ids()[keep:]:
            registry.remove(job_id, delete_job=True)


def execute_job(site, method, event, job_name, kwargs, user=None, is_async=True, retry=0):
    """v15 `execute_job` (without its deadlock retry loop): commit after the method, or roll back,
    log the error, commit the log and re-raise."""
    if is_async:
        frappe.init(site=site, sites_path=os.environ.get("FRAPPE_HOST_SITES_PATH", "."))
        frappe.connect()
        if user:
            frappe.set_user(user)
    method_name = method if isinstance(method, str) else f"{method.__module__}.{method.__qualname__}"
    if isinstance(method, str):
        method = frappe.get_attr(method)
    frappe.local.job = frappe._dict(
        site=site, method=method_name, job_name=job_name, kwargs=kwargs, user=user, after_job=CallbackManager()
    )
    try:
        retval = method(**kwargs)
    except Exception:
        frappe.db.rollback()
        frappe.log_error(title=method_name)
        frappe.db.commit()
        raise
    else:
        frappe.db.commit()
        return retval
    finally:
        frappe.local.job.after_job.run()
        if is_async:
            frappe.destroy()


def start_worker(queue: str | None = None, burst: bool = False, simple: bool = False) -> None:
    """v15 `start_worker`: an RQ Worker (forking, as `bench worker` runs) on the bench's queues."""
    frappe.init("", sites_path=os.environ.get("FRAPPE_HOST_SITES_PATH", "."))
    try:
        connection = get_redis_conn()
        names = [q.strip() for q in queue.split(",")] if queue else list(get_queues_timeout())
        queues = [generate_qname(name) for name in names]
    finally:
        frappe.destroy()
    worker_class = _simple_worker() if simple else Worker
    worker_class(queues, connection=connection).work(burst=burst, logging_level="WARNING")


def _simple_worker():
    from rq import SimpleWorker

    return SimpleWorker
