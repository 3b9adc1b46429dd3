"""Submit latency (issue 7, item 2): p50/p99 of one submit, from 1 and from 8 concurrent clients.

Why: `submit_job` runs in the caller's request; its cost (validation, tenancy check, naming series,
row + log insert, commit, then release to Queued and the RQ message) is what every caller pays.

Measured on each database backend (SQLite file, MariaDB), on one redis-server started for the run,
with no worker running (the queue just grows), each client a separate process with its own runtime,
connection and Redis client, all released together by a barrier after a few warm-up calls:

- engine: `submit_job("noop", ...)` + `rt.commit()` (the commit runs the after-commit release: the
  Queued transition and the RQ message), as the demo organization's member;
- raw RQ peer: `Queue.enqueue(noop_task.noop)` on the same redis-server;
- HTTP: POST /api/method/dartwing.dartwing_core.api.jobs.submit_job on `dartwing-jobs server` with
  `Authorization: token key:secret` (one httpx client per process, keep-alive). The per-user submit
  rate limit is raised so it never refuses (its Redis counter still runs). Peer: the same
  Starlette/uvicorn stack with one POST route doing the raw `Queue.enqueue` (`raw_enqueue_app`).

    python bench/submit_latency.py              # 1,000 submits from 1 client, 8 x 250 from 8; HTTP 300 / 8 x 50
    python bench/submit_latency.py --quick      # 100 / 8 x 25; HTTP 50 / 8 x 10
    python bench/submit_latency.py --backends mariadb
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    BACKENDS,
    CLI,
    RAW_QUEUE,
    available_backends,
    child_env,
    engine_stores,
    environment,
    free_port,
    noop,
    percentiles,
    print_table,
    ratio,
    start_http,
    stop_processes,
    write_result,
)

SUBMIT_PATH = "/api/method/dartwing.dartwing_core.api.jobs.submit_job"
RAW_PATH = "/enqueue"
WARMUP = 5


def raw_enqueue_app():
    """uvicorn factory for the HTTP peer: POST /enqueue → Queue.enqueue(noop), in the threadpool
    like the engine's server runs its database work."""
    import redis
    from rq import Queue
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    queue = Queue(RAW_QUEUE, connection=redis.Redis.from_url(os.environ["DARTWING_REDIS_URL"]))

    async def enqueue(request):
        await request.json()
        job = await run_in_threadpool(queue.enqueue, noop, result_ttl=0)
        return JSONResponse({"message": {"job_id": job.id, "status": "queued"}})

    return Starlette(routes=[Route(RAW_PATH, enqueue, methods=["POST"])])


def _client(kind: str, target: dict[str, Any], count: int, index: int, barrier: Any, results: Any) -> None:
    """One client process: build its own connection, warm up, wait at the barrier, time `count` calls."""
    call = _caller(kind, target, index)
    for _ in range(WARMUP):
        call()
    barrier.wait()
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
    results.put(latencies)


def _caller(kind: str, target: dict[str, Any], index: int):
    counter = iter(range(10**9))
    if kind == "engine":
        from dartwing.dartwing_core.background_jobs import submit_job
        from dartwing.dartwing_core.standalone import configure
        from dartwing.dartwing_core.standalone.seed import DEMO_ORGANIZATION, DEMO_USER

        rt = configure(**target)
        rt.set_user(DEMO_USER)

        def submit() -> None:
            submit_job("noop", DEMO_ORGANIZATION, {"client": index, "i": next(counter)})
            rt.commit()

        return submit
    if kind == "raw":
        import redis
        from rq import Queue

        queue = Queue(RAW_QUEUE, connection=redis.Redis.from_url(target["redis_url"]))
        return lambda: queue.enqueue(noop, result_ttl=0)
    import httpx

    client = httpx.Client(base_url=target["base_url"], timeout=60)
    headers = {"Authorization": target.get("token", "")}
    body = {"job_type": "noop", "organization": target.get("organization"), "parameters": {}}

    def post() -> None:
        body["parameters"] = {"client": index, "i": next(counter)}
        response = client.post(target["path"], json=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")

    return post


def run_clients(kind: str, target: dict[str, Any], clients: int, per_client: int) -> dict[str, float]:
    """Latency percentiles (ms) over every call of `clients` processes doing `per_client` calls each."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(clients + 1), ctx.Queue()
    processes = [
        ctx.Process(target=_client, args=(kind, target, per_client, index, barrier, results))
        for index in range(clients)
    ]
    for proc in processes:
        proc.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    latencies: list[float] = []
    for _ in processes:
        latencies += results.get(timeout=600)
    wall = time.perf_counter() - started
    for proc in processes:
        proc.join(30)
        if proc.exitcode != 0:
            raise RuntimeError(f"{kind} client exited with {proc.exitcode}")
    return {**percentiles(latencies), "calls_per_second": len(latencies) / wall}


def measure_backend(rt: Any, args: Any) -> list[tuple[str, int, dict[str, float]]]:
    """[(what, clients, stats)] for the engine and its peers on one backend."""
    from dartwing.dartwing_core.standalone.http.auth import issue_credentials
    from dartwing.dartwing_core.standalone.seed import DEMO_ORGANIZATION, DEMO_USER

    stores = {"home": str(rt.config.home), "db_url": rt.config.db_url, "redis_url": rt.redis_url}
    key, secret = issue_credentials(rt, DEMO_USER)
    rt.commit()
    env = child_env(rt, DARTWING_SUBMIT_RATE_PER_USER=str(10**9))
    engine_port, raw_port = free_port(), free_port()
    servers = [
        start_http([*CLI, "server", "--port", str(engine_port)], env, engine_port, "/api/openapi.json"),
        start_http(
            [sys.executable, "-m", "uvicorn", "--factory", "submit_latency:raw_enqueue_app"]
            + ["--port", str(raw_port), "--log-level", "warning"],
            env,
            raw_port,
        ),
    ]
    http = {
        "base_url": f"http://127.0.0.1:{engine_port}",
        "path": SUBMIT_PATH,
        "token": f"token {key}:{secret}",
        "organization": DEMO_ORGANIZATION,
    }
    http_raw = {"base_url": f"http://127.0.0.1:{raw_port}", "path": RAW_PATH}
    rows = []
    try:
        for clients, per_client, per_http in (
            (1, args.calls, args.http_calls),
            (8, args.calls // 8, args.http_calls // 8),
        ):
            rows.append(("raw RQ Queue.enqueue", clients, run_clients("raw", stores, clients, per_client)))
            rows.append(
                ("engine submit_job + commit", clients, run_clients("engine", stores, clients, per_client))
            )
            rows.append(
                ("HTTP raw enqueue (peer)", clients, run_clients("http", http_raw, clients, per_http))
            )
            rows.append(("HTTP submit_job (engine)", clients, run_clients("http", http, clients, per_http)))
    finally:
        stop_processes(servers)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls by 1 client; 8 clients make 1/8 each")
    parser.add_argument("--http-calls", type=int, default=400, help="as --calls, over HTTP (default 400)")
    parser.add_argument("--quick", action="store_true", help="--calls 100 --http-calls 80")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,mariadb")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.http_calls = 100, 80

    results, table = [], []
    for backend in available_backends(args.backends.split(",")):
        with engine_stores(backend, "latency") as rt:
            env = environment(
                workers=0,
                worker_class="none (submit only)",
                database=rt.config.db_url,
                redis_url=rt.redis_url,
            )
            rows = measure_backend(rt, args)
        peers = {(what.split(" ")[0] == "HTTP", clients): s for what, clients, s in rows if "raw" in what}
        for what, clients, stats in rows:
            peer = peers[(what.split(" ")[0] == "HTTP", clients)]
            table.append(
                [backend, what, clients, stats["n"], stats["p50"], stats["p90"], stats["p99"], stats["max"]]
                + [stats["calls_per_second"], f"{ratio(stats['p50'], peer['p50']):.1f}x"]
            )
        results.append(
            {
                "backend": backend,
                "environment": env,
                "rows": [{"what": what, "clients": clients, **stats} for what, clients, stats in rows],
            }
        )
        print_table(
            f"Submit latency on {backend} (ms per call; clients are processes)",
            ["backend", "what", "clients", "n", "p50", "p90", "p99", "max", "calls/s", "p50 vs raw"],
            [row for row in table if row[0] == backend],
            env,
        )
    write_result("submit_latency", {"results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
