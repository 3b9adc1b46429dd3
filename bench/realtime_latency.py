"""End-to-end latency of realtime progress events: from `update_progress` returning in a handler to
the Socket.IO client's callback, through the real pieces (worker → Redis `events` → gateway → client).

Setup, all started here on the embedded default in a temporary home and stopped at the end:
`dartwing-jobs server` (the gateway asks it who a client is), one `dartwing-jobs realtime` gateway,
2 non-forking workers, and `--clients` python-socketio clients over websocket spread over `--orgs`
organizations (each client a member of one, joined to its room). One job per organization reports
`--updates` progress steps; the handler (`probe`, below) notes when each `update_progress` returned,
every client notes when each event arrived. The progress throttle is set to 0 for the workers so
every update is published (the throttle is a rate limit, not part of the path being measured).

    python bench/realtime_latency.py            # 100 clients, 10 orgs, 10 jobs x 100 updates
    python bench/realtime_latency.py --quick    # 20 clients, 4 orgs, 4 jobs x 30 updates

Prints p50/p90/p99/max over every (event, client) delivery and over events (first delivery), and
writes bench/results/realtime_latency.json. Target (issue 6): p99 < 50 ms on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import socketio

from dartwing.dartwing_core.background_jobs import get_job_status, submit_job
from dartwing.dartwing_core.background_jobs.context import JobContext
from dartwing.dartwing_core.background_jobs.runtime import get_runtime
from dartwing.dartwing_core.standalone import admin, configure
from dartwing.dartwing_core.standalone.embedded_redis import EmbeddedRedis
from dartwing.dartwing_core.standalone.http.auth import issue_credentials
from dartwing.dartwing_core.standalone.seed import seed

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from common import (  # noqa: E402
    CLI,
    environment,
    free_port,
    percentiles,
    print_table,
    stop_processes,
    wait_until,
    write_result,
)

RETURNS_KEY = "bench:realtime:returned"  # Redis list of [job_id, progress, unix time] per update


def probe(context: JobContext) -> dict:
    """Bench handler: `updates` progress steps `interval` seconds apart, each return time noted."""
    updates, interval = int(context.parameters["updates"]), float(context.parameters["interval"])
    redis = get_runtime().redis
    for step in range(1, updates + 1):
        progress = round(step * 100 / updates, 4)
        context.update_progress(progress)
        redis.rpush(RETURNS_KEY, json.dumps([context.job_id, progress, time.time()]))
        time.sleep(interval)
    return {"updates": updates}


class Client:
    """One socket, member of one organization; records (job_id, progress) → arrival time."""

    def __init__(self, url: str, token: str, room: str):
        self.url, self.token, self.room = url, token, room
        self.sio = socketio.AsyncClient(reconnection=False)
        self.arrivals: dict[tuple[str, float], float] = {}
        self.sio.on("job_progress", self._on_progress)

    async def _on_progress(self, data: dict) -> None:
        self.arrivals[(data["job_id"], float(data["progress"]))] = time.time()

    async def start(self) -> None:
        await self.sio.connect(
            self.url, transports=["websocket"], auth={"token": self.token}, wait_timeout=20
        )
        answer = await self.sio.call("join_room", self.room, timeout=20)
        if not answer.get("joined"):
            raise RuntimeError(f"could not join {self.room}: {answer}")


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--updates", type=int, default=100, help="progress updates per job (one job per org)")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between a job's updates")
    parser.add_argument("--quick", action="store_true", help="20 clients, 4 orgs, 30 updates")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.orgs, args.updates = 20, 4, 30

    home = Path(tempfile.mkdtemp(prefix="dartwing-realtime-bench-"))
    rt = configure(home=home, create_schema=True)
    seed(rt)
    admin.upsert_job_type(rt, "latency_probe", "realtime_latency.probe", deduplication_window=0)
    tokens: dict[str, list[str]] = {}
    for index in range(args.orgs):
        org = f"Latency Org {index}"
        admin.add_organization(rt, org)
        tokens[org] = []
        for member in range(args.clients // args.orgs):
            user = f"member{member}@org{index}.example"
            admin.add_user(rt, user, ("Job User",))
            admin.add_member(rt, user, org)
            tokens[org].append(":".join(issue_credentials(rt, user)))
    rt.commit()

    env = {
        **os.environ,
        **rt.config.environ(),
        "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")]),
        "DARTWING_PROGRESS_THROTTLE_SECONDS": "0",
    }
    api_port, gateway_port = free_port(), free_port()
    processes = [start(["server", "--port", str(api_port)], env)]
    processes.append(
        start(["realtime", "--port", str(gateway_port), "--api-url", f"http://127.0.0.1:{api_port}"], env)
    )
    processes += [start(["worker", "--no-forking", "--log-level", "WARNING"], env) for _ in range(2)]
    gateway = f"http://127.0.0.1:{gateway_port}"
    try:
        wait_until(lambda: _healthy(f"{gateway}/healthz"), 30, "the gateway to subscribe to Redis")
        clients = [
            Client(gateway, token, f"org:{org}") for org, org_tokens in tokens.items() for token in org_tokens
        ]
        deliveries, first_arrivals, wall = asyncio.run(_run(rt, clients, args))
    finally:
        stop_processes(processes)
        EmbeddedRedis(home).stop()

    rows = [
        ("per delivery (event x client)", percentiles(deliveries)),
        ("per event (first client)", percentiles(first_arrivals)),
    ]
    env_info = environment(workers=2, worker_class="SimpleWorker (non-forking)", database=rt.config.db_url)
    env_info.update(clients=len(clients), organizations=args.orgs, updates_per_job=args.updates)
    print_table(
        "Realtime latency: update_progress returned -> client callback (ms)",
        ["measured", "n", "p50", "p90", "p99", "max"],
        [[name, s["n"], s["p50"], s["p90"], s["p99"], s["max"]] for name, s in rows],
        env_info,
    )
    p99 = rows[0][1]["p99"]
    print(f"p99 {p99:.1f} ms (target < 50 ms): {'met' if p99 < 50 else 'NOT met'}; wall {wall:.1f}s")
    write_result(
        "realtime_latency", {"environment": env_info, **{name: s for name, s in rows}, "wall_seconds": wall}
    )
    return 0


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


async def _run(rt, clients: list[Client], args) -> tuple[list[float], list[float], float]:
    await asyncio.gather(*(client.start() for client in clients))
    started = time.monotonic()
    parameters = {"updates": args.updates, "interval": args.interval}
    jobs = {}
    for org in sorted({client.room[4:] for client in clients}):
        jobs[submit_job("latency_probe", org, parameters, priority="High").name] = org
        rt.commit()

    def finished() -> bool:
        done = all(get_job_status(name).status == "Completed" for name in jobs)
        rt.rollback()
        return done

    while not finished():
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # the last events are in flight
    wall = time.monotonic() - started
    returned = {
        (job_id, float(progress)): at
        for job_id, progress, at in (json.loads(raw) for raw in rt.redis.lrange(RETURNS_KEY, 0, -1))
    }
    deliveries, firsts = [], {}
    missing = 0
    for client in clients:
        for key, at_return in returned.items():
            if jobs[key[0]] != client.room[4:]:
                continue
            arrived = client.arrivals.get(key)
            if arrived is None:
                missing += 1
                continue
            deliveries.append((arrived - at_return) * 1000)
            firsts[key] = min(firsts.get(key, arrived), arrived)
    await asyncio.gather(*(client.sio.disconnect() for client in clients))
    if missing:
        raise SystemExit(f"{missing} deliveries never arrived")
    return deliveries, [(firsts[key] - returned[key]) * 1000 for key in firsts], wall


if __name__ == "__main__":
    raise SystemExit(main())
