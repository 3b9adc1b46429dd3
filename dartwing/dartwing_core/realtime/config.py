"""Settings of the realtime gateway: where it listens, which Redis it reads, which API host it asks.

Resolution order for each setting: command-line option, then environment variable, then default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_PORT = 9010
DEFAULT_API_URL = "http://127.0.0.1:8000"  # `dartwing-jobs server`'s default address
MAX_RECHECK_SECONDS = 60.0  # a removed member stops receiving an organization's events within this


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


@dataclass(frozen=True)
class RealtimeConfig:
    redis_url: str  # the Redis whose `events` channel the engine (or Frappe) publishes to
    api_url: str = DEFAULT_API_URL  # standalone server or Frappe site answering check_realtime_room
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    path: str = "socket.io"  # Socket.IO endpoint; nginx maps /dartwing-socket.io/ onto it
    # The Frappe site served in the default namespace: sent to the API host as X-Frappe-Site-Name and,
    # when set, only this site's events reach the default namespace (and only `/` and `/<site>` are
    # accepted). None: one site or the standalone server; every namespace is accepted.
    site: str | None = None
    auth_cache_seconds: float = 10.0  # how long an identity / membership answer is reused
    recheck_seconds: float = 30.0  # how often every joined room's membership is asked again
    api_timeout_seconds: float = 5.0
    cors_allowed_origins: tuple[str, ...] = field(default_factory=tuple)  # empty: same origin only

    def __post_init__(self) -> None:
        if not 0 < self.recheck_seconds <= MAX_RECHECK_SECONDS:
            raise ValueError(f"recheck_seconds must be in (0, {MAX_RECHECK_SECONDS:g}]")
        if self.auth_cache_seconds < 0 or self.auth_cache_seconds > self.recheck_seconds:
            raise ValueError("auth_cache_seconds must be between 0 and recheck_seconds")
        if self.api_timeout_seconds <= 0:
            raise ValueError("api_timeout_seconds must be positive")

    @classmethod
    def resolve(
        cls,
        *,
        redis_url: str,
        api_url: str | None = None,
        host: str | None = None,
        port: int | None = None,
        path: str | None = None,
        site: str | None = None,
        auth_cache_seconds: float | None = None,
        recheck_seconds: float | None = None,
        cors_allowed_origins: tuple[str, ...] | None = None,
    ) -> RealtimeConfig:
        env = os.environ
        origins = cors_allowed_origins or tuple(
            o.strip() for o in (env.get("DARTWING_REALTIME_CORS_ORIGINS") or "").split(",") if o.strip()
        )
        return cls(
            redis_url=redis_url,
            api_url=(api_url or env.get("DARTWING_API_URL") or DEFAULT_API_URL).rstrip("/"),
            host=host or env.get("DARTWING_REALTIME_HOST") or "127.0.0.1",
            port=port or int(env.get("DARTWING_REALTIME_PORT") or DEFAULT_PORT),
            path=(path or env.get("DARTWING_REALTIME_PATH") or "socket.io").strip("/"),
            site=site or env.get("DARTWING_SITE") or None,
            auth_cache_seconds=(
                auth_cache_seconds
                if auth_cache_seconds is not None
                else _float("DARTWING_REALTIME_AUTH_CACHE_SECONDS", 10.0)
            ),
            recheck_seconds=(
                recheck_seconds
                if recheck_seconds is not None
                else _float("DARTWING_REALTIME_RECHECK_SECONDS", 30.0)
            ),
            cors_allowed_origins=origins,
        )

    def accepts_namespace(self, namespace: str) -> bool:
        """`/` always; `/<site>` for the configured site, or for any site when none is configured."""
        if namespace == "/":
            return True
        name = namespace[1:]
        if not name or "/" in name:
            return False
        return self.site is None or name == self.site

    def site_for(self, namespace: str) -> str | None:
        """The site a namespace speaks for: `/<site>` names it; `/` is the configured one (or none)."""
        return self.site if namespace == "/" else namespace[1:]
