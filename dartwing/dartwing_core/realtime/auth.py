"""Who a Socket.IO client is and which rooms it may join, asked of the API host with its own credentials.

The gateway holds no user table and checks no secret itself: it forwards what the client presented
(`Authorization` header, a `token` in the Socket.IO auth payload, or Frappe's `sid` cookie) to the
whitelisted method `dartwing.dartwing_core.api.jobs.check_realtime_room` of the API host — the
standalone server or a Frappe site — which answers `{user, room, allowed, reason}` as that caller.
Whether the caller may follow one job's room is the API's own job read, `get_job_status`, asked as
the caller: 200 admits, 404 (unknown, or another tenant's) does not. 401/403 mean the credentials are
not valid there. Answers are cached for a few seconds per (credentials, site, room), and concurrent
identical questions share one request, so a burst of reconnects costs one call per distinct caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

import httpx

log = logging.getLogger("dartwing.realtime")

METHOD_PATH = "/api/method/dartwing.dartwing_core.api.jobs."
_PASSTHROUGH_SCHEMES = ("token ", "bearer ", "basic ")


class AuthRefused(Exception):
    """The API host does not accept these credentials (HTTP 401 or 403)."""


class AuthUnavailable(Exception):
    """The API host could not be asked (network error, timeout, unexpected answer)."""


@dataclass(frozen=True)
class Credentials:
    """What the client presented, exactly as it will be forwarded (never logged)."""

    authorization: str | None = None
    sid: str | None = None

    def headers(self) -> dict[str, str]:
        if self.authorization:
            return {"Authorization": self.authorization}
        return {"Cookie": f"sid={self.sid}"}

    @property
    def fingerprint(self) -> str:
        """A cache key that does not keep the secret in memory twice."""
        raw = f"{self.authorization or ''}\0{self.sid or ''}".encode()
        return hashlib.sha256(raw).hexdigest()


def normalize_token(value: str) -> str | None:
    """`key:secret` or `token key:secret` (also Bearer/Basic, passed through) → an Authorization value."""
    value = value.strip()
    if not value:
        return None
    if value.lower().startswith(_PASSTHROUGH_SCHEMES):
        return value
    return f"token {value}" if ":" in value else None


def credentials_from(environ: dict[str, Any], auth: Any) -> Credentials | None:
    """The client's credentials, in order: auth payload `token`, `Authorization` header, `sid` cookie."""
    if isinstance(auth, dict):
        token = auth.get("token")
        if isinstance(token, str) and token.strip():
            normalized = normalize_token(token)
            return Credentials(authorization=normalized) if normalized else None
    header = (environ.get("HTTP_AUTHORIZATION") or "").strip()
    if header:
        return Credentials(authorization=header)
    cookie_header = environ.get("HTTP_COOKIE") or ""
    if cookie_header:
        try:
            cookies = SimpleCookie(cookie_header)
        except CookieError:
            return None
        morsel = cookies.get("sid")
        if morsel is not None and morsel.value and morsel.value != "Guest":
            return Credentials(sid=morsel.value)
    return None


@dataclass(frozen=True)
class RoomCheck:
    user: str
    room: str | None
    allowed: bool
    reason: str | None


class ApiClient:
    """Calls the API host's job methods as the client; caches identity and room answers briefly."""

    def __init__(self, api_url: str, *, cache_seconds: float, timeout: float):
        self._http = httpx.AsyncClient(
            base_url=api_url, timeout=timeout, limits=httpx.Limits(max_connections=50)
        )
        self._cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str | None, str | None], tuple[float, RoomCheck | Exception]] = {}
        self._inflight: dict[tuple[str, str | None, str | None], asyncio.Future] = {}
        self.requests = 0  # calls made to the API host (for tests and logs)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(self, method: str, creds: Credentials, site: str | None, params: dict) -> Any:
        headers = creds.headers()
        if site:
            headers["X-Frappe-Site-Name"] = site
        self.requests += 1
        try:
            response = await self._http.get(METHOD_PATH + method, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise AuthUnavailable(f"API host unreachable: {type(exc).__name__}") from exc
        if response.status_code in (401, 403):
            raise AuthRefused(_reason(response) or "not authenticated")
        return response

    async def check_room(self, creds: Credentials, site: str | None, room: str | None) -> RoomCheck:
        """Who the caller is and, when `room` is given, whether they may join it (cached briefly)."""
        return await self._cached((creds.fingerprint, site, room), lambda: self._ask_room(creds, site, room))

    async def check_job(self, creds: Credentials, site: str | None, job_id: str, room: str) -> RoomCheck:
        """Whether the caller may follow job `job_id` in `room`: may they read it (cached briefly)."""
        return await self._cached((creds.fingerprint, site, room), lambda: self._ask_job(creds, site, job_id, room))

    async def _cached(self, key, ask: Callable[[], Awaitable[RoomCheck]]) -> RoomCheck:
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return _unwrap(cached[1])
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key, ask))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return _unwrap(await asyncio.shield(task))

    async def _fetch(self, key, ask: Callable[[], Awaitable[RoomCheck]]):
        try:
            outcome: RoomCheck | Exception = await ask()
        except AuthRefused as exc:  # cached like an answer; AuthUnavailable is not: ask again next time
            outcome = exc
        if self._cache_seconds > 0:
            self._cache[key] = (time.monotonic() + self._cache_seconds, outcome)
        return outcome

    async def _ask_room(self, creds: Credentials, site: str | None, room: str | None) -> RoomCheck:
        response = await self._get("check_realtime_room", creds, site, {"room": room} if room else {})
        if response.status_code != 200:
            raise AuthUnavailable(f"check_realtime_room answered HTTP {response.status_code}")
        try:
            message = response.json()["message"]
            return RoomCheck(
                user=str(message["user"]),
                room=message.get("room"),
                allowed=bool(message.get("allowed")),
                reason=message.get("reason"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthUnavailable("check_realtime_room gave an unexpected answer") from exc

    async def _ask_job(self, creds: Credentials, site: str | None, job_id: str, room: str) -> RoomCheck:
        response = await self._get("get_job_status", creds, site, {"job_id": job_id})
        if response.status_code == 200:
            return RoomCheck(user="", room=room, allowed=True, reason=None)
        if response.status_code in (400, 404):  # the API says "not found" for another tenant's job too
            return RoomCheck(user="", room=room, allowed=False, reason=f"job {job_id} not found")
        raise AuthUnavailable(f"get_job_status answered HTTP {response.status_code}")

    async def job_status(self, creds: Credentials, site: str | None, job_id: str) -> dict[str, Any]:
        """`get_job_status` as the caller (never cached): `{"message": ...}` or `{"error", "http_status"}`."""
        try:
            response = await self._get("get_job_status", creds, site, {"job_id": job_id})
        except AuthRefused as exc:
            return {"error": str(exc), "http_status": 401}
        except AuthUnavailable as exc:
            return {"error": str(exc), "http_status": 503}
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 200 and isinstance(body, dict) and "message" in body:
            return {"message": body["message"]}
        return {
            "error": _reason(response) or f"HTTP {response.status_code}",
            "http_status": response.status_code,
            "exc_type": body.get("exc_type") if isinstance(body, dict) else None,
        }

    def prune(self) -> None:
        """Forget expired answers (called from the gateway's periodic re-check)."""
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._cache.items() if expires <= now]:
            self._cache.pop(key, None)


def _unwrap(outcome: RoomCheck | Exception) -> RoomCheck:
    if isinstance(outcome, Exception):
        raise AuthRefused(str(outcome))
    return outcome


def _reason(response: httpx.Response) -> str | None:
    """A readable reason from Frappe's error envelope (`exception`, `_server_messages`, `message`)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for key in ("exception", "message", "exc_type"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value.split(":", 1)[-1].strip() if key == "exception" else value
    return None
