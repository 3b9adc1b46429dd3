"""HTTP rules shared by every route, applied before routing: over-long URLs get 414, and OPTIONS
gets 204 with the `Allow` header of the path's methods (Starlette alone answers 405): the methods
`methods_for` names for it (an API method's own), else those of the routes the path matches.

uvicorn reads a request's head into a buffer of HEAD_BUFFER_BYTES (`h11_max_incomplete_event_size`,
set by `dartwing-jobs server`) and answers 400 itself past it; the buffer is kept well above
MAX_URL_BYTES so that an over-long URL reaches this check and gets its 414.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from dartwing.dartwing_core.background_jobs.errors import DartwingError

from . import responses

MAX_URL_BYTES = 16 * 1024
HEAD_BUFFER_BYTES = 4 * 1024 * 1024


class UriTooLongError(DartwingError):
    http_status_code = 414


class ProtocolGuard:
    """ASGI middleware holding the rules above."""

    def __init__(
        self,
        app: ASGIApp,
        routes: list[BaseRoute],
        methods_for: Callable[[str], set[str] | None] = lambda path: None,
    ):
        self.app = app
        self.routes = routes
        self.methods_for = methods_for

    def _allowed_methods(self, scope: Scope) -> set[str]:
        own = self.methods_for(scope["path"])
        if own is not None:
            return own
        allowed: set[str] = set()
        for route in self.routes:
            match, _ = route.matches(scope)
            if match != Match.NONE:
                allowed |= set(getattr(route, "methods", None) or ())
        return allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = len(scope.get("raw_path") or scope["path"].encode()) + len(
                scope.get("query_string", b"")
            )
            if length > MAX_URL_BYTES:
                error = UriTooLongError(f"URL of {length} bytes; the limit is {MAX_URL_BYTES}")
                await responses.error(error)(scope, receive, send)
                return
            if scope["method"] == "OPTIONS" and (allowed := self._allowed_methods(scope)):
                allow = ", ".join(sorted(allowed | {"OPTIONS"}))
                await Response(status_code=204, headers={"Allow": allow})(scope, receive, send)
                return
        await self.app(scope, receive, send)
