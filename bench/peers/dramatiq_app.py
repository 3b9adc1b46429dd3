"""The dramatiq peer: one no-op actor on a Redis broker, dramatiq's default middleware, no result
backend (its Results middleware keeps results in Redis, not a database; the issue's table
measured dramatiq without it).

Environment: DARTWING_BENCH_REDIS_URL (the run's own redis-server). Not a benchmark.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

QUEUE = "bench-dramatiq"
NAMESPACE = "dramatiq"  # the broker's default key prefix


def make_broker(redis_url: str) -> tuple[RedisBroker, dramatiq.Actor]:
    """A broker on `redis_url` and the no-op actor bound to it."""
    broker = RedisBroker(url=redis_url, namespace=NAMESPACE)

    def noop() -> None:
        """Does nothing."""

    return broker, dramatiq.actor(noop, actor_name="noop", queue_name=QUEUE, broker=broker)


broker, noop = make_broker(os.environ.get("DARTWING_BENCH_REDIS_URL", "redis://127.0.0.1:0/0"))
dramatiq.set_broker(broker)
