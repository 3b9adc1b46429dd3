"""Bulk submit (issue 16): `submit_jobs` in batches against a loop of `submit_job` and raw RQ.

Why: a caller with thousands of jobs paid four statements and a commit per job. The targets: at least
10x the rate of single submits, and at least raw RQ's own `Queue.enqueue_many` rate.

All in one process, on one database and the run's own redis-server, no worker running (the queues
just grow), as the demo organization's member, jobs of the seeded `noop` type (no dedup window):

- single: `submit_job` + `rt.commit()` per job (what N API calls cost);
- single, one commit: N `submit_job` calls in one transaction, then one commit;
- bulk: `submit_jobs` of `--batch` specs + `rt.commit()` per batch (names, multi-row INSERTs, and
  after the commit one pipelined enqueue);
- raw RQ: `Queue.enqueue_many` of `--batch` no-op jobs (`Queue.prepare_data`) on one pipeline per batch.

The peers run in alternated order in each of `--repeats` rounds (rotated by one each round), so drift
on a shared machine hits them alike; the table gives each one's median rate, its spread (min-max) and
the median of the per-round ratios.

    python bench/bulk_submit.py                  # MariaDB, 5,000 jobs per peer per round, 5 rounds
    python bench/bulk_submit.py --quick          # 1,000 jobs, 3 rounds
    python bench/bulk_submit.py --backends sqlite,mariadb --batch 1000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    available_backends,
    engine_stores,
    enqueue_raw_many,
    environment,
    print_table,
    ratio,
    submit_noop_batches,
    submit_noops,
    write_result,
)

PEERS = ("single", "single, one commit", "bulk", "raw RQ enqueue_many")


def _peers(rt: Any, batch: int) -> dict[str, Callable[[int, int], None]]:
    """Each peer as `run(first, count)`: submit `count` jobs numbered from `first`."""

    def single(first: int, count: int) -> None:
        submit_noops(rt, count, start=first)

    def single_one_commit(first: int, count: int) -> None:
        submit_noops(rt, count, commit_every=count, start=first)

    def bulk(first: int, count: int) -> None:
        submit_noop_batches(rt, count, batch, start=first)

    def raw(_first: int, count: int) -> None:
        enqueue_raw_many(rt, count, batch)

    return dict(zip(PEERS, (single, single_one_commit, bulk, raw), strict=True))


def measure(rt: Any, jobs: int, batch: int, repeats: int) -> dict[str, list[float]]:
    """Jobs per second of each peer in each round, the rounds' peer order rotated by one each time."""
    peers = _peers(rt, batch)
    counter = 0
    for name, run in peers.items():  # warm up: compile statements (a whole batch's), open connections
        run(counter, 50 if name.startswith("single") else batch)
        counter += batch
    rates: dict[str, list[float]] = {name: [] for name in PEERS}
    for round_ in range(repeats):
        order = PEERS[round_ % len(PEERS) :] + PEERS[: round_ % len(PEERS)]
        for name in order:
            started = time.perf_counter()
            peers[name](counter, jobs)
            rates[name].append(jobs / (time.perf_counter() - started))
            counter += jobs
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per peer per round")
    parser.add_argument("--batch", type=int, default=500, help="specs per submit_jobs / enqueue_many call")
    parser.add_argument("--repeats", type=int, default=5, help="alternated rounds")
    parser.add_argument("--quick", action="store_true", help="--jobs 1000 --repeats 3")
    parser.add_argument("--backends", default="mariadb", help="sqlite,mariadb (default mariadb)")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.repeats = 1000, 3

    results = []
    for backend in available_backends(args.backends.split(",")):
        with engine_stores(backend, "bulk") as rt:
            env = environment(
                workers=0,
                worker_class="none (submit only, one process)",
                database=rt.config.db_url,
                redis_url=rt.redis_url,
                jobs_per_round=args.jobs,
                batch=args.batch,
                rounds=args.repeats,
            )
            rates = measure(rt, args.jobs, args.batch, args.repeats)
        bulk = rates["bulk"]
        rows = []
        for name in PEERS:
            per_round = [ratio(b, r) for b, r in zip(bulk, rates[name], strict=True)]
            rows.append(
                [backend, name, statistics.median(rates[name]), min(rates[name]), max(rates[name])]
                + [f"{statistics.median(per_round):.2f}x"]
            )
        print_table(
            f"Bulk submit on {backend} (jobs/s; {args.repeats} alternated rounds of {args.jobs} jobs)",
            ["backend", "peer", "median jobs/s", "min", "max", "bulk / peer (median of rounds)"],
            rows,
            env,
        )
        results.append({"backend": backend, "environment": env, "rates": rates})
    write_result("bulk_submit", {"results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
