"""Request rate limits over a moving window (the `limits` library), kept in Redis so that every
server process shares the same counts.

A moving window counts the requests of the last `window_seconds`, wherever the clock's minute
boundary falls, so no burst across a boundary gets past the limit (a fixed window lets through
twice the limit there).

When Redis is unreachable the limit fails over, not open and not shut: each server process counts
in its own memory until Redis answers again (it is asked again every REDIS_RETRY_SECONDS). A submit
is never refused, nor answered with an error, because Redis is down; the price is that during an
outage each process admits up to the limit on its own, so N processes admit up to N times it.
"""

from __future__ import annotations

import logging
import math
import time

import redis
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from dartwing.dartwing_core.background_jobs.errors import RateLimitedError

log = logging.getLogger("dartwing.http")

KEY_PREFIX = "dartwing:rl"
REDIS_RETRY_SECONDS = 5.0


class RateLimiter:
    """Moving-window limits per (scope, identity), in Redis with a per-process fallback."""

    def __init__(self, client: redis.Redis, clock=time.monotonic):
        storage = RedisStorage("redis://", connection_pool=client.connection_pool, key_prefix=KEY_PREFIX)
        self._shared = MovingWindowRateLimiter(storage)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._clock = clock
        self._redis_down_until: float | None = None

    def _limiter(self) -> MovingWindowRateLimiter:
        if self._redis_down_until is not None and self._clock() < self._redis_down_until:
            return self._local
        return self._shared

    def _allowed(self, item: RateLimitItemPerSecond, scope: str, identity: str) -> tuple[bool, float]:
        """(allowed, reset time of the window) from Redis, or from this process while Redis is down."""
        limiter = self._limiter()
        try:
            allowed = limiter.hit(item, scope, identity)
            reset = 0.0 if allowed else limiter.get_window_stats(item, scope, identity).reset_time
        except redis.exceptions.RedisError as exc:
            if self._redis_down_until is None:
                log.warning("rate limits count per process: Redis unreachable (%s)", exc)
            self._redis_down_until = self._clock() + REDIS_RETRY_SECONDS
            return self._allowed(item, scope, identity)
        if limiter is self._shared and self._redis_down_until is not None:
            log.warning("rate limits are shared again: Redis answers")
            self._redis_down_until = None
        return allowed, reset

    def hit(self, scope: str, identity: str, limit: int, window_seconds: int = 60) -> None:
        """Count one request for `identity`; RateLimitedError (with Retry-After) past `limit` in the
        last `window_seconds`."""
        if limit <= 0:
            return
        item = RateLimitItemPerSecond(limit, window_seconds)
        allowed, reset = self._allowed(item, scope, identity)
        if not allowed:
            retry_after = max(1, math.ceil(reset - time.time()))
            raise RateLimitedError(
                f"Rate limit of {limit} {scope} requests per {window_seconds}s exceeded", retry_after
            )
