"""The contract site over HTTP, for a Socket.IO server that asks the site (as v15's does) who a
socket is and whether it may join a room. Host-only, like contract_site.py.

`GET|POST /api/method/<cmd>` runs one request through `frappe.app.handle` in a fresh site context
(frappe.init + connect per request, in the serving thread). Who the caller is, is Frappe's business
(v15 `frappe.auth.validate_auth`), stood for here by credentials the test issues:
`Authorization: token key:secret` must match an issued token (otherwise 401, AuthenticationError);
a `sid` (query parameter, as v15's realtime server sends it, or cookie) names an issued session, and
an unknown one makes the caller Guest, as v15 resumes an expired session; no credentials: Guest.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

METHOD_PREFIX = "/api/method/"


class SiteServer:
    """Serves `site` (a ContractSite) on 127.0.0.1 in a background thread; `url` is its address."""

    def __init__(self, site):
        self.site = site
        self._tokens: dict[str, str] = {}
        self._sessions: dict[str, str] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> SiteServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def issue_token(self, user: str) -> str:
        """An `Authorization` value for `user` (v15: the User's api_key and api_secret)."""
        value = f"token {secrets.token_hex(8)}:{secrets.token_hex(8)}"
        self._tokens[value] = user
        return value

    def start_session(self, user: str) -> str:
        """A session id for `user` (v15: a login's `sid` cookie)."""
        sid = secrets.token_hex(16)
        self._sessions[sid] = user
        return sid

    def user_of(self, authorization: str | None, sid: str | None) -> str | None:
        """The caller; None when the token is not one this site issued (HTTP 401)."""
        if authorization:
            return self._tokens.get(authorization.strip())
        return self._sessions.get(sid or "", "Guest")

    def serve(self, http_method: str, cmd: str, form: dict, user: str) -> tuple[int, dict]:
        import frappe
        from frappe.app import handle

        self.site.connect()
        try:
            return handle(http_method, cmd, form, user=user)
        finally:
            frappe.destroy()


def _handler_for(server: SiteServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._answer("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._answer("POST")

        def _answer(self, http_method: str) -> None:
            url = urlsplit(self.path)
            form = dict(parse_qsl(url.query))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                form.update(parse_qsl(self.rfile.read(length).decode()))
            if not url.path.startswith(METHOD_PREFIX) or len(url.path) == len(METHOD_PREFIX):
                return self._send(404, {"exc_type": "DoesNotExistError"})
            user = server.user_of(self.headers.get("Authorization"), form.pop("sid", None) or self._cookie_sid())
            if user is None:
                return self._send(401, {"exc_type": "AuthenticationError"})
            status, body = server.serve(http_method, url.path[len(METHOD_PREFIX):], form, user)
            self._send(status, body)

        def _cookie_sid(self) -> str | None:
            try:
                morsel = SimpleCookie(self.headers.get("Cookie") or "").get("sid")
            except CookieError:
                return None
            return morsel.value if morsel else None

        def _send(self, status: int, body: dict) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet in tests
            pass

    return Handler
