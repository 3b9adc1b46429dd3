"""The submit rate limit: a moving window in the run's own Redis, and what it does when Redis is gone."""

from __future__ import annotations

import time

import pytest
import redis

from dartwing.dartwing_core.background_jobs.errors import RateLimitedError
from dartwing.dartwing_core.standalone.http.ratelimit import RateLimiter


@pytest.fixture
def client(redis_server):
    conn = redis.Redis.from_url(redis_server.url)
    conn.flushdb()  # our own redis-server
    yield conn
    conn.close()


def _wait_until_phase(window: float, phase: float) -> None:
    """Sleep until the wall clock is `phase` seconds into a fixed window of `window` seconds."""
    time.sleep((phase - time.time() % window) % window)


def test_a_burst_across_a_window_boundary_stays_within_the_limit(client):
    limiter = RateLimiter(client)
    _wait_until_phase(2, 1.4)  # just before a 2 s fixed window ends
    for _ in range(5):
        limiter.hit("submit", "alice", 5, window_seconds=2)
    _wait_until_phase(2, 0.2)  # just after the next one began: a fixed window would start afresh
    with pytest.raises(RateLimitedError) as refused:
        limiter.hit("submit", "alice", 5, window_seconds=2)
    assert refused.value.retry_after >= 1
    limiter.hit("submit", "bob", 5, window_seconds=2)  # each identity has its own window


def test_retry_after_says_when_the_oldest_request_leaves_the_window(client):
    limiter = RateLimiter(client)
    limiter.hit("submit", "carol", 1, window_seconds=30)
    with pytest.raises(RateLimitedError) as refused:
        limiter.hit("submit", "carol", 1, window_seconds=30)
    assert 29 <= refused.value.retry_after <= 30


def test_with_redis_down_the_limit_counts_in_the_process_and_never_errors(redis_server, client):
    now = [0.0]
    limiter = RateLimiter(client, clock=lambda: now[0])
    limiter.hit("submit", "dave", 3)
    redis_server.stop()
    try:
        for _ in range(3):  # the fallback counts afresh: three more pass, the fourth is refused
            limiter.hit("submit", "dave", 3)
        with pytest.raises(RateLimitedError):
            limiter.hit("submit", "dave", 3)
    finally:
        redis_server.start()
    now[0] += 60  # past the retry interval: Redis (restarted empty) is asked and counts again
    for _ in range(3):
        limiter.hit("submit", "dave", 3)
    with pytest.raises(RateLimitedError):
        limiter.hit("submit", "dave", 3)
