"""The gateway's ASGI app: a python-socketio AsyncServer with authenticated `org:<organization>` rooms.

Socket events (any namespace the config accepts: `/` and `/<site>`):

- connect — credentials required (auth payload `token`, `Authorization` header or `sid` cookie);
  the API host must know the caller, otherwise the connection is refused.
- `join_room` with `"org:<organization>"` or `{"room": "org:<organization>"}` — admitted only when
  the API host says the caller is an active member (or an administrator); otherwise an `error`
  event `{"event": "join_room", "room", "reason"}` and no membership. Acknowledged with
  `{"room", "joined", "reason"}`.
- `leave_room` with the same argument.
- `doc_subscribe` with `("Background Job", "<job_id>")` (Frappe v15's call, so a client has one code
  path on a v15 site URL and here) or `{"doctype", "docname"}` — joins `doc:Background Job/<job_id>`
  only when the API host lets the caller read the job (`get_job_status` as the caller: a member of
  its organization, or an administrator); an unknown or another tenant's job gets an `error` event
  `{"event": "doc_subscribe", "room", "reason"}` and no membership. Acknowledged like `join_room`
  (v15 acknowledges nothing; a client may ignore the answer). `doc_unsubscribe` leaves.
- `job_status` with `"<job_id>"` or `{"job_id": ...}` — acknowledged with the API's
  `get_job_status` answer for the caller (`{"message": {...}}`, or `{"error", "http_status"}`), so
  a client that reconnects can catch up on the jobs it follows.

Every `recheck_seconds` (at most 60) each joined room is asked again; a socket whose membership
ended leaves the room and gets an `error` event (`"event": "membership_check"`); one whose
credentials stopped working is disconnected. `GET /healthz` answers 200 once the relay is
subscribed to Redis (503 before), with the number of connected clients and relayed events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import socketio

from .auth import ApiClient, AuthRefused, AuthUnavailable, Credentials, credentials_from
from .config import RealtimeConfig
from .relay import JOB_ROOM_PREFIX, ROOM_PREFIX, Envelope, Relay

log = logging.getLogger("dartwing.realtime")

MAX_ROOMS_PER_SOCKET = 100
MAX_ROOM_LENGTH = 144  # "org:" + an Organization name (Frappe's 140-character names)
MAX_JOB_ID_LENGTH = 140
_RECHECK_CONCURRENCY = 20
JOB_DOCTYPE = "Background Job"


@dataclass
class Session:
    """One Socket.IO connection (a sid in one namespace) and what it was admitted to."""

    namespace: str
    credentials: Credentials
    user: str
    site: str | None
    rooms: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # join/leave/recheck in arrival order


def _argument(data: Any, key: str) -> str | None:
    """A handler's one argument: the value itself, or `{key: value}`."""
    if isinstance(data, dict):
        data = data.get(key)
    return data.strip() if isinstance(data, str) else None


def _job_room(args: tuple) -> tuple[str | None, str | None]:
    """(job id, room) from doc_subscribe's `(doctype, docname)` or `{"doctype", "docname"}`; the job
    id is None unless the document is a Background Job with a name of a job's length."""
    if len(args) == 1 and isinstance(args[0], dict):
        args = (args[0].get("doctype"), args[0].get("docname"))
    doctype, docname = (tuple(args) + (None, None))[:2]
    if doctype != JOB_DOCTYPE or not isinstance(docname, str):
        return None, None
    job_id = docname.strip()
    if not job_id or len(job_id) > MAX_JOB_ID_LENGTH:
        return None, None
    return job_id, f"{JOB_ROOM_PREFIX}{job_id}"


class Gateway:
    def __init__(self, config: RealtimeConfig):
        self.config = config
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            namespaces="*",
            cors_allowed_origins=list(config.cors_allowed_origins) or None,
            logger=False,
            engineio_logger=False,
        )
        self.api: ApiClient | None = None
        self.sessions: dict[str, Session] = {}
        self.relay = Relay(config.redis_url, self.deliver)
        self._tasks: list[asyncio.Task] = []
        self.sio.on("connect", self.on_connect, namespace="*")
        self.sio.on("disconnect", self.on_disconnect, namespace="*")
        self.sio.on("join_room", self.on_join_room, namespace="*")
        self.sio.on("leave_room", self.on_leave_room, namespace="*")
        self.sio.on("job_status", self.on_job_status, namespace="*")
        self.sio.on("doc_subscribe", self.on_doc_subscribe, namespace="*")
        self.sio.on("doc_unsubscribe", self.on_doc_unsubscribe, namespace="*")

    # --- lifecycle -----------------------------------------------------------------------------
    def asgi_app(self) -> socketio.ASGIApp:
        return socketio.ASGIApp(
            self.sio,
            other_asgi_app=self._http,
            socketio_path=self.config.path,
            on_startup=self.startup,
            on_shutdown=self.shutdown,
        )

    async def startup(self) -> None:
        self.api = ApiClient(
            self.config.api_url,
            cache_seconds=self.config.auth_cache_seconds,
            timeout=self.config.api_timeout_seconds,
        )
        self._tasks = [
            asyncio.create_task(self.relay.run(), name="dartwing-relay"),
            asyncio.create_task(self._recheck_forever(), name="dartwing-recheck"),
        ]

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.api is not None:
            await self.api.aclose()

    # --- relay ---------------------------------------------------------------------------------
    def namespaces_for(self, envelope: Envelope) -> list[str]:
        """`/` (for the configured site's events, or all when none is set) and `/<namespace>`."""
        site = self.config.site
        targets = ["/"] if site is None or envelope.namespace in (None, site) else []
        if envelope.namespace and (site is None or envelope.namespace == site):
            targets.append(f"/{envelope.namespace}")
        return targets

    async def deliver(self, envelope: Envelope) -> None:
        for namespace in self.namespaces_for(envelope):
            await self.sio.emit(envelope.event, envelope.message, to=envelope.room, namespace=namespace)

    # --- socket events -------------------------------------------------------------------------
    async def on_connect(self, namespace: str, sid: str, environ: dict, auth: Any = None) -> None:
        if not self.config.accepts_namespace(namespace):
            raise socketio.exceptions.ConnectionRefusedError(f"unknown namespace {namespace}")
        credentials = credentials_from(environ, auth)
        if credentials is None:
            raise socketio.exceptions.ConnectionRefusedError(
                "authentication required: auth {token: 'key:secret'}, "
                "an 'Authorization: token key:secret' header or a sid cookie"
            )
        site = self.config.site_for(namespace)
        try:
            identity = await self.api.check_room(credentials, site, None)
        except AuthRefused as exc:
            raise socketio.exceptions.ConnectionRefusedError(f"not authenticated: {exc}") from None
        except AuthUnavailable as exc:
            log.warning("refusing a connection: %s", exc)
            raise socketio.exceptions.ConnectionRefusedError("authentication service unavailable") from None
        if not identity.user or identity.user == "Guest":
            raise socketio.exceptions.ConnectionRefusedError("not authenticated")
        self.sessions[sid] = Session(namespace, credentials, identity.user, site)

    async def on_disconnect(self, namespace: str, sid: str, reason: Any = None) -> None:
        self.sessions.pop(sid, None)

    async def _refuse(self, sid: str, session: Session, event: str, room: str | None, reason: str) -> dict:
        payload = {"event": event, "room": room, "reason": reason}
        await self.sio.emit("error", payload, to=sid, namespace=session.namespace)
        return {"room": room, "joined": False, "reason": reason}

    async def on_join_room(self, namespace: str, sid: str, data: Any = None) -> dict | None:
        session = self.sessions.get(sid)
        if session is None:
            return None
        room = _argument(data, "room")
        if not room or not room.startswith(ROOM_PREFIX) or len(room) > MAX_ROOM_LENGTH:
            return await self._refuse(
                sid, session, "join_room", room, "only rooms named org:<organization> can be joined"
            )
        return await self._admit(namespace, sid, session, "join_room", room)

    async def on_doc_subscribe(self, namespace: str, sid: str, *args: Any) -> dict | None:
        session = self.sessions.get(sid)
        if session is None:
            return None
        job_id, room = _job_room(args)
        if job_id is None:
            return await self._refuse(
                sid, session, "doc_subscribe", None, "only Background Job documents can be subscribed to"
            )
        return await self._admit(namespace, sid, session, "doc_subscribe", room)

    def _check(self, session: Session, room: str):
        """The API host's answer for `room`: organization membership, or reading the room's job."""
        if room.startswith(JOB_ROOM_PREFIX):
            job_id = room[len(JOB_ROOM_PREFIX):]
            return self.api.check_job(session.credentials, session.site, job_id, room)
        return self.api.check_room(session.credentials, session.site, room)

    async def _admit(self, namespace: str, sid: str, session: Session, event: str, room: str) -> dict | None:
        """Join `room` if the API host allows it; otherwise an `error` event and no membership."""
        async with session.lock:
            if room in session.rooms:
                return {"room": room, "joined": True, "reason": None}
            if len(session.rooms) >= MAX_ROOMS_PER_SOCKET:
                return await self._refuse(sid, session, event, room, "too many rooms on one socket")
            try:
                check = await self._check(session, room)
            except AuthRefused:
                await self._refuse(sid, session, event, room, "credentials are no longer valid")
                await self.sio.disconnect(sid, namespace=namespace)
                return None
            except AuthUnavailable:
                return await self._refuse(sid, session, event, room, "membership could not be checked; try again")
            if not check.allowed:
                return await self._refuse(sid, session, event, room, check.reason or "not allowed")
            if sid not in self.sessions:  # disconnected while we asked
                return None
            await self.sio.enter_room(sid, room, namespace=namespace)
            session.rooms.add(room)
        return {"room": room, "joined": True, "reason": None}

    async def on_leave_room(self, namespace: str, sid: str, data: Any = None) -> dict | None:
        return await self._leave(sid, _argument(data, "room"))

    async def on_doc_unsubscribe(self, namespace: str, sid: str, *args: Any) -> dict | None:
        return await self._leave(sid, _job_room(args)[1])

    async def _leave(self, sid: str, room: str | None) -> dict | None:
        session = self.sessions.get(sid)
        if session is None:
            return None
        async with session.lock:
            if room in session.rooms:
                await self.sio.leave_room(sid, room, namespace=session.namespace)
                session.rooms.discard(room)
        return {"room": room, "joined": False, "reason": None}

    async def on_job_status(self, namespace: str, sid: str, data: Any = None) -> dict | None:
        session = self.sessions.get(sid)
        if session is None:
            return None
        job_id = _argument(data, "job_id")
        if not job_id or len(job_id) > MAX_JOB_ID_LENGTH:
            return {"error": "job_status takes a job id", "http_status": 400}
        return await self.api.job_status(session.credentials, session.site, job_id)

    # --- membership re-check -------------------------------------------------------------------
    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.recheck_seconds)
            try:
                await self.recheck()
            except Exception:  # noqa: BLE001 - the timer must keep running
                log.exception("membership re-check failed")

    async def recheck(self) -> None:
        """Ask again for every joined room; drop memberships that ended and sockets whose login did."""
        self.api.prune()
        limit = asyncio.Semaphore(_RECHECK_CONCURRENCY)

        async def one(sid: str, session: Session, room: str) -> None:
            async with limit:
                try:
                    check = await self._check(session, room)
                except AuthRefused:
                    if self.sessions.get(sid) is session:
                        await self._refuse(
                            sid, session, "membership_check", room, "credentials are no longer valid"
                        )
                        await self.sio.disconnect(sid, namespace=session.namespace)
                    return
                except AuthUnavailable as exc:  # keep the membership; ask again on the next tick
                    log.warning("membership re-check of %s postponed: %s", room, exc)
                    return
            if check.allowed:
                return
            async with session.lock:
                if room not in session.rooms or self.sessions.get(sid) is not session:
                    return
                await self.sio.leave_room(sid, room, namespace=session.namespace)
                session.rooms.discard(room)
            await self._refuse(sid, session, "membership_check", room, check.reason or "membership ended")

        await asyncio.gather(
            *(
                one(sid, session, room)
                for sid, session in list(self.sessions.items())
                for room in list(session.rooms)
            )
        )

    # --- plain HTTP ----------------------------------------------------------------------------
    async def _http(self, scope: dict, receive, send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/healthz":
            ready = self.relay.ready.is_set()
            status = 200 if ready else 503
            body = {
                "relay": "subscribed" if ready else "connecting",
                "clients": len(self.sessions),
                "relayed": self.relay.relayed,
            }
        else:
            status, body = 404, {"error": "not found"}
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def create_app(config: RealtimeConfig) -> socketio.ASGIApp:
    return Gateway(config).asgi_app()


def serve(config: RealtimeConfig, *, log_level: str = "warning") -> None:
    """Run one gateway process on uvicorn (websocket protocol: wsproto)."""
    import uvicorn

    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        ws="wsproto",
        lifespan="on",
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )
