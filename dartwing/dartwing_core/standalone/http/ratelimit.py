"""Fixed-window rate limits kept in Redis, so every server process shares the same counters."""

from __future__ import annotations

import time

import redis

from dartwing.dartwing_core.background_jobs.errors import RateLimitedError


def hit(client: redis.Redis, scope: str, identity: str, limit: int, window_seconds: int = 60) -> None:
    """Count one request for `identity`; RateLimitedError (with Retry-After) past `limit` per window."""
    if limit <= 0:
        return
    now = time.time()
    window_start = int(now // window_seconds) * window_seconds
    key = f"dartwing:rl:{scope}:{identity}:{window_start}"
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, window_seconds + 1)
    count, _ = pipe.execute()
    if count > limit:
        retry_after = max(1, int(window_start + window_seconds - now + 0.999))
        raise RateLimitedError(
            f"Rate limit of {limit} {scope} requests per {window_seconds}s exceeded", retry_after
        )
