"""Browser sessions for the dashboard, made from an API token.

Signing in posts `api_key:api_secret` once; the server checks it like any API call (auth.authenticate)
and answers with a random session id in an HttpOnly, SameSite=Strict cookie scoped to /dashboard, so
page scripts never hold the secret. Redis keeps the session (under the SHA-256 of its id, so a
Redis dump holds no usable cookie) with its user and a CSRF token, expiring after SESSION_SECONDS.
A write through a session must echo the CSRF token in the X-CSRF-Token header: another site can
neither read it nor send a custom header without a CORS preflight this server never grants.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from dartwing.dartwing_core.background_jobs.errors import AuthenticationError, NotPermittedError

from ..runtime import StandaloneRuntime

COOKIE = "dartwing_session"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 8 * 3600
COOKIE_PATH = "/dashboard"


def _key(rt: StandaloneRuntime, session_id: str) -> str:
    return f"{rt.namespace}:dashboard-session:{hashlib.sha256(session_id.encode()).hexdigest()}"


def start(rt: StandaloneRuntime, user: str) -> tuple[str, str]:
    """A new session for `user`: (session id for the cookie, CSRF token)."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    rt.redis.set(_key(rt, session_id), json.dumps({"user": user, "csrf": csrf}), ex=SESSION_SECONDS)
    return session_id, csrf


def lookup(rt: StandaloneRuntime, session_id: str | None) -> dict[str, str]:
    """{user, csrf} of a live session; AuthenticationError otherwise."""
    raw = rt.redis.get(_key(rt, session_id)) if session_id and len(session_id) <= 128 else None
    if raw is None:
        raise AuthenticationError("Not signed in, or the session expired: sign in with an API key and secret")
    return json.loads(raw)


def check_csrf(session: dict[str, str], given: str | None) -> None:
    if not given or not hmac.compare_digest(session["csrf"], given):
        raise NotPermittedError("Missing or wrong X-CSRF-Token header")


def end(rt: StandaloneRuntime, session_id: str | None) -> None:
    if session_id and len(session_id) <= 128:
        rt.redis.delete(_key(rt, session_id))
