"""What the job's own room costs: a progress update published to `org:<organization>` only (before)
against `org:<organization>` + `doc:Background Job/<job>` (now, `events.publish_progress`).

Each operation is what a handler's `update_progress` does to the stores: one UPDATE of the job row,
the event(s), the commit (whose after-commit callbacks send the events). Peers, alternated in rounds in
the same run on the same stores (a seeded StandaloneRuntime on the run's own redis-server):

- standalone, org room only: `rt.publish_realtime` once (one callback: a plain PUBLISH);
- standalone, org + doc rooms: `publish_progress` (two callbacks: one MULTI/PUBLISH/PUBLISH/EXEC);
- Frappe v15's flush, as redis-py calls it: one PUBLISH per event and room, one round trip each
  (`frappe.realtime.flush_realtime_log`), 1 against 2 PUBLISH calls, without the database.

    python bench/realtime_publish_cost.py            # 5 rounds x 2,000 operations per peer
    python bench/realtime_publish_cost.py --quick    # 3 rounds x 300
    python bench/realtime_publish_cost.py --backends sqlite mariadb
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs import schema, submit_job
from dartwing.dartwing_core.background_jobs.events import JOB_PROGRESS, org_room, publish_progress
from dartwing.dartwing_core.standalone.runtime import EVENTS_CHANNEL
from dartwing.dartwing_core.standalone.seed import DEMO_ORGANIZATION

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    available_backends,
    engine_stores,
    environment,
    print_table,
    ratio,
    write_result,
)


def _message(job_id: str, step: int) -> dict:
    return {"job_id": job_id, "status": "Running", "progress": step % 100, "progress_message": None,
            "updated_at": datetime.now().isoformat()}


def _update(rt, job_id: str, step: int) -> None:
    bj = schema.background_job
    rt.execute(sa.update(bj).where(bj.c.name == job_id).values(progress=step % 100))


def org_only(rt, job_id: str, n: int) -> float:
    start = time.perf_counter()
    for step in range(n):
        _update(rt, job_id, step)
        rt.publish_realtime(JOB_PROGRESS, _message(job_id, step), org_room(DEMO_ORGANIZATION))
        rt.commit()
    return (time.perf_counter() - start) / n


def org_and_doc(rt, job_id: str, n: int) -> float:
    start = time.perf_counter()
    for step in range(n):
        _update(rt, job_id, step)
        message = _message(job_id, step)
        publish_progress(rt, job_id=job_id, organization=DEMO_ORGANIZATION, status=message["status"],
                         progress=message["progress"], progress_message=None, updated_at=datetime.now())
        rt.commit()
    return (time.perf_counter() - start) / n


def frappe_flush(publishes: int):
    def run(rt, job_id: str, n: int) -> float:
        envelope = '{"event": "job_progress", "message": {}, "room": "org:x", "namespace": "site"}'
        start = time.perf_counter()
        for _ in range(n):
            for _ in range(publishes):
                rt.redis.publish(EVENTS_CHANNEL, envelope)
        return (time.perf_counter() - start) / n

    return run


PEERS = {
    "standalone, org room only": org_only,
    "standalone, org + doc rooms": org_and_doc,
    "v15 flush, 1 PUBLISH": frappe_flush(1),
    "v15 flush, 2 PUBLISH": frappe_flush(2),
}


def measure(backend: str, rounds: int, n: int) -> dict[str, float]:
    """Median over rounds of each peer's mean µs per operation."""
    with engine_stores(backend, "publish-cost") as rt:
        job_id = submit_job("noop", DEMO_ORGANIZATION, {"bench": "publish-cost"}).name
        rt.commit()
        for peer in PEERS.values():  # warm-up
            peer(rt, job_id, max(10, n // 10))
        samples: dict[str, list[float]] = {name: [] for name in PEERS}
        for _ in range(rounds):
            for name, peer in PEERS.items():
                samples[name].append(peer(rt, job_id, n) * 1e6)
        env = environment(database=str(rt.engine.url), redis_url=rt.redis_url)
    return {name: statistics.median(values) for name, values in samples.items()}, env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--ops", type=int)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "mariadb"])
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 5)
    n = args.ops or (300 if args.quick else 2000)
    results = {}
    for backend in available_backends(args.backends):
        medians, env = measure(backend, rounds, n)
        rows = [[name, round(us, 1)] for name, us in medians.items()]
        rows.append(["ratio org+doc / org only", round(ratio(medians["standalone, org + doc rooms"],
                                                             medians["standalone, org room only"]), 3)])
        rows.append(["ratio 2 / 1 PUBLISH", round(ratio(medians["v15 flush, 2 PUBLISH"],
                                                        medians["v15 flush, 1 PUBLISH"]), 3)])
        print_table(f"Progress update publish cost, {backend} ({rounds} rounds x {n} ops, median of "
                    "per-round means)", ["peer", "µs per update"], rows, env)
        results[backend] = {"us_per_update": medians, "environment": env, "rounds": rounds, "ops": n}
    write_result("realtime_publish_cost", results)


if __name__ == "__main__":
    main()
