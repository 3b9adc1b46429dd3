"""The operators' dashboard of `dartwing-jobs server`: /dashboard and its JSON and event routes.

The page is static (dashboard_static/: HTML, JS and CSS, no build step); everything it shows comes
from /dashboard/api/*, which call the engine as the viewer like the job API does (run_as), so every
panel is scoped to the viewer's organizations and every action is permitted or refused by the engine.
A viewer is identified by an API token (`Authorization: token key:secret`, as for the API) or by a
session cookie made from one (sessions.py); a write through a session needs its CSRF token.
/dashboard/api/events streams the job events of the viewer's organizations (Server-Sent Events from
the Redis `events` channel the engine publishes to), and the page refreshes what they touch.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dartwing.dartwing_core.background_jobs import schema, tenancy
from dartwing.dartwing_core.background_jobs.activity import job_activity
from dartwing.dartwing_core.background_jobs.bulk_operations import act_on_jobs, act_on_matching
from dartwing.dartwing_core.background_jobs.errors import DartwingError, InvalidInputError
from dartwing.dartwing_core.background_jobs.events import organization_of
from dartwing.dartwing_core.background_jobs.job_browser import FILTER_KEYS, browse_jobs, job_detail
from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics
from dartwing.dartwing_core.background_jobs.status import JobStatus

from ..runtime import EVENTS_CHANNEL, StandaloneRuntime
from ..worker import describe_workers
from . import auth, responses, sessions
from .params import parse_body, read_body

STATIC = Path(__file__).with_name("dashboard_static")
MAX_PICKLIST = 500
EVENT_KEEPALIVE_SECONDS = 15
SCOPE_REFRESH_SECONDS = 60
MAX_EVENTS_PER_SECOND = 20  # beyond this the page is told to refresh, not sent every event
# The activity charts read their window's log rows (a day's, for the day chart); live refreshes and
# open tabs of one viewer share one overview and chart answer for this long.
OVERVIEW_CACHE_SECONDS = 15


def routes(rt: StandaloneRuntime, run_as) -> list[BaseRoute]:
    recent: dict[tuple[str, ...], tuple[float, Any]] = {}
    recent_lock = threading.Lock()  # requests run in a thread pool

    def cached(key: tuple[str, ...], read):
        """`read()`'s answer for `key` (which names the viewer), at most OVERVIEW_CACHE_SECONDS old."""
        now = time.monotonic()
        with recent_lock:
            for stale in [k for k, (at, _) in recent.items() if now - at > OVERVIEW_CACHE_SECONDS]:
                del recent[stale]
            hit = recent.get(key)
        if hit is not None:
            return hit[1]
        value = read()
        with recent_lock:
            recent[key] = (now, value)
        return value

    async def viewer(request: Request, *, writes: bool = False) -> str:
        header = request.headers.get("authorization")
        if header:
            return await run_in_threadpool(auth.authenticate, rt, header)
        session = await run_in_threadpool(sessions.lookup, rt, request.cookies.get(sessions.COOKIE))
        if writes:
            sessions.check_csrf(session, request.headers.get(sessions.CSRF_HEADER))
        return session["user"]

    def endpoint(work, *, writes: bool = False):
        async def handle(request: Request) -> Response:
            try:
                user = await viewer(request, writes=writes)
                body = parse_body(await read_body(request), request.headers.get("content-type", "")) if writes else {}
                return responses.message(await run_in_threadpool(run_as, user, work, {"request": request, "body": body}))
            except DartwingError as exc:
                return responses.error(exc)
            except Exception as exc:  # noqa: BLE001 - answer 500 in the API's shape, log the details
                return responses.unexpected(exc, request.url.path)

        return handle

    def whoami(request: Request, body: dict) -> dict[str, Any]:
        user = rt.current_user()
        visible = tenancy.visible_organizations(rt, user)
        if visible is None:
            org = schema.organization
            visible = [r["name"] for r in rt.execute(sa.select(org.c.name).order_by(org.c.name).limit(MAX_PICKLIST))]
        jt = schema.job_type
        types = [r["name"] for r in rt.execute(sa.select(jt.c.name).order_by(jt.c.name).limit(MAX_PICKLIST))]
        return {
            "user": user,
            "admin": tenancy.is_admin(rt, user),
            "organizations": visible,
            "job_types": types,
            "statuses": [s.value for s in JobStatus],
        }

    def overview(request: Request, body: dict) -> dict[str, Any]:
        organization = _only(request.query_params, ("organization",)).get("organization")
        return cached(("overview", rt.current_user(), str(organization)), lambda: get_job_metrics(organization))

    def activity(request: Request, body: dict) -> dict[str, Any]:
        params = _only(request.query_params, ("window", "organization"))
        window, organization = params.get("window", "hour"), params.get("organization")
        return cached(
            ("activity", rt.current_user(), str(window), str(organization)),
            lambda: job_activity(window, organization),
        )

    def workers(request: Request, body: dict) -> list[dict[str, Any]]:
        rows = describe_workers(rt)
        bj = schema.background_job
        stmt = sa.select(bj.c.name, bj.c.organization, bj.c.job_type, bj.c.progress, bj.c.worker).where(
            bj.c.status == JobStatus.RUNNING.value, bj.c.worker.in_([row["name"] for row in rows] or [""])
        )
        visible = tenancy.visible_organizations(rt, rt.current_user())
        if visible is not None:
            stmt = stmt.where(bj.c.organization.in_(visible or [""]))
        running = {r["worker"]: r for r in rt.execute(stmt)}
        for row in rows:
            job = running.get(row["name"])
            message = row.pop("current_message")
            # Another organization's job is shown only as "busy".
            row["current_job"] = dict(job, job_id=job["name"]) if job else None
            row["busy"] = bool(message)
            for key in ("birth_date", "last_heartbeat"):
                row[key] = rt.aware(row[key]) if row[key] else None
        return rows

    def jobs(request: Request, body: dict) -> dict[str, Any]:
        params = request.query_params
        allowed = (*FILTER_KEYS, "cursor", "limit")
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise InvalidInputError(f"unknown parameter(s): {', '.join(unknown)}")
        filters: dict[str, Any] = {key: params.get(key) for key in FILTER_KEYS if key != "status"}
        filters["status"] = params.getlist("status") or None
        return browse_jobs(filters, params.get("cursor"), params.get("limit"))

    def one_job(request: Request, body: dict) -> dict[str, Any]:
        return job_detail(request.path_params["job_id"])

    def action(request: Request, body: dict) -> dict[str, Any]:
        unknown = sorted(set(body) - {"action", "job_ids", "filters", "batch_size"})
        if unknown:
            raise InvalidInputError(f"unknown field(s): {', '.join(unknown)}")
        if ("job_ids" in body) == ("filters" in body):
            raise InvalidInputError("send either job_ids (a selection) or filters (every matching job)")
        if "job_ids" in body:
            return act_on_jobs(body.get("action"), body["job_ids"])
        return act_on_matching(body.get("action"), body["filters"], batch_size=body.get("batch_size"))

    async def sign_in(request: Request) -> Response:
        try:
            data = parse_body(await read_body(request), request.headers.get("content-type", ""))
            token = data.get("token")
            if not isinstance(token, str) or len(token) > 256:
                raise InvalidInputError("token must be api_key:api_secret")
            user = await run_in_threadpool(auth.authenticate, rt, f"token {token.strip()}")
            session_id, csrf = await run_in_threadpool(sessions.start, rt, user)
            response = responses.message({"csrf": csrf, **await run_in_threadpool(run_as, user, whoami, {"request": request, "body": {}})})
            response.set_cookie(
                sessions.COOKIE,
                session_id,
                max_age=sessions.SESSION_SECONDS,
                path=sessions.COOKIE_PATH,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
            return response
        except DartwingError as exc:
            return responses.error(exc)
        except Exception as exc:  # noqa: BLE001
            return responses.unexpected(exc, request.url.path)

    async def session_info(request: Request) -> Response:
        try:
            session = await run_in_threadpool(sessions.lookup, rt, request.cookies.get(sessions.COOKIE))
            info = await run_in_threadpool(run_as, session["user"], whoami, {"request": request, "body": {}})
            return responses.message({"csrf": session["csrf"], **info})
        except DartwingError as exc:
            return responses.error(exc)
        except Exception as exc:  # noqa: BLE001
            return responses.unexpected(exc, request.url.path)

    async def sign_out(request: Request) -> Response:
        try:
            await viewer(request, writes=True)
        except DartwingError as exc:
            return responses.error(exc)
        await run_in_threadpool(sessions.end, rt, request.cookies.get(sessions.COOKIE))
        response = responses.message({"signed_out": True})
        response.delete_cookie(sessions.COOKIE, path=sessions.COOKIE_PATH)
        return response

    async def events(request: Request) -> Response:
        try:
            user = await viewer(request)
        except DartwingError as exc:
            return responses.error(exc)

        def scope() -> list[str] | None:
            return run_as(user, lambda: tenancy.visible_organizations(rt, user), {})

        return StreamingResponse(
            _event_stream(rt, request, scope, await run_in_threadpool(scope)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def dead_letter_page(request: Request) -> Response:
        return RedirectResponse("/dashboard/#jobs?status=Dead+Letter", status_code=308)

    return [
        Route("/dashboard", lambda request: RedirectResponse("/dashboard/", status_code=308), methods=["GET"]),
        Route("/dashboard/", page, methods=["GET"]),
        Route("/dlq", dead_letter_page, methods=["GET"]),
        Route("/dashboard/session", sign_in, methods=["POST"]),
        Route("/dashboard/session", session_info, methods=["GET"]),
        Route("/dashboard/logout", sign_out, methods=["POST"]),
        Route("/dashboard/api/me", endpoint(whoami), methods=["GET"]),
        Route("/dashboard/api/overview", endpoint(overview), methods=["GET"]),
        Route("/dashboard/api/activity", endpoint(activity), methods=["GET"]),
        Route("/dashboard/api/workers", endpoint(workers), methods=["GET"]),
        Route("/dashboard/api/jobs", endpoint(jobs), methods=["GET"]),
        Route("/dashboard/api/jobs/{job_id}", endpoint(one_job), methods=["GET"]),
        Route("/dashboard/api/actions", endpoint(action, writes=True), methods=["POST"]),
        Route("/dashboard/api/events", events, methods=["GET"]),
        Mount("/dashboard/static", app=StaticFiles(directory=STATIC), name="dashboard-static"),
    ]


def _only(params, keys: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(params) - set(keys))
    if unknown:
        raise InvalidInputError(f"unknown parameter(s): {', '.join(unknown)}")
    return dict(params)


async def _event_stream(rt: StandaloneRuntime, request: Request, scope, visible: list[str] | None):
    """`job` events ({job_id, organization, status}) of the visible organizations, a keep-alive comment
    every EVENT_KEEPALIVE_SECONDS, and a `refresh` event instead of a flood."""
    client = aioredis.from_url(rt.redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(EVENTS_CHANNEL)
    checked = last_sent = time.monotonic()
    window_start, sent_in_window, flooded = time.monotonic(), 0, False
    try:
        yield "retry: 3000\n\n"
        while not await request.is_disconnected():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            now = time.monotonic()
            if now - checked > SCOPE_REFRESH_SECONDS:  # a membership may have ended meanwhile
                visible, checked = await run_in_threadpool(scope), now
            if now - window_start >= 1:
                if flooded:
                    yield "event: refresh\ndata: {}\n\n"
                window_start, sent_in_window, flooded = now, 0, False
            if message is None:
                if now - last_sent > EVENT_KEEPALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    last_sent = now
                continue
            event = _visible_event(message.get("data"), visible)
            if event is None:
                continue
            if sent_in_window >= MAX_EVENTS_PER_SECOND:
                flooded = True
                continue
            sent_in_window += 1
            last_sent = now
            yield f"event: job\ndata: {json.dumps(event)}\n\n"
    except asyncio.CancelledError:
        pass
    finally:
        await pubsub.aclose() if hasattr(pubsub, "aclose") else await pubsub.close()
        await client.aclose() if hasattr(client, "aclose") else await client.close()


def _visible_event(data: Any, visible: list[str] | None) -> dict[str, Any] | None:
    try:
        envelope = json.loads(data)
        organization = organization_of(envelope["room"])
        message = envelope["message"]
    except (TypeError, ValueError, KeyError):
        return None
    if organization is None or (visible is not None and organization not in visible):
        return None
    return {
        "event": envelope.get("event"),
        "job_id": message.get("job_id"),
        "organization": organization,
        "status": message.get("to_status") or message.get("status"),
        "progress": message.get("progress"),
    }
