"""The ASGI app of `dartwing-jobs server`: the job API at Frappe's URLs, OpenAPI, Prometheus and the
operators' dashboard (/dashboard, dashboard.py).

Every call authenticates its token, runs the api.service function as that user in the runtime's
per-thread transaction (committed on success, rolled back on error), and answers in Frappe's
envelope. The engine does all validation and tenancy checks; this layer only parses HTTP, applies
rate limits and maps exceptions to statuses.
"""

from __future__ import annotations

import os
import time
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dartwing.dartwing_core.api import service
from dartwing.dartwing_core.background_jobs.errors import DartwingError, NotPermittedError

from ..runtime import StandaloneRuntime
from . import auth, dashboard, openapi, prometheus, protocol, ratelimit, responses, system_jobs
from .params import call_arguments

METHOD_PREFIX = "dartwing.dartwing_core.api.jobs."
METHOD_PATH = "/api/method/" + METHOD_PREFIX


class MethodNotFoundError(DartwingError):
    http_status_code = 404


def _limit(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def endpoint_methods(path: str) -> set[str] | None:
    """The HTTP methods an API method's URL answers (HEAD with GET), None for any other path."""
    methods = service.ENDPOINTS.get(path[len(METHOD_PATH) :]) if path.startswith(METHOD_PATH) else None
    if methods is None:
        return None
    return set(methods) | ({"HEAD"} if "GET" in methods else set())


def create_app(rt: StandaloneRuntime) -> Starlette:
    submits_per_user = _limit("DARTWING_SUBMIT_RATE_PER_USER", 100)
    submits_per_org = _limit("DARTWING_SUBMIT_RATE_PER_ORG", 0)  # 0: no per-organization limit
    limiter = ratelimit.RateLimiter(rt.redis)

    def limit_submits(user: str, *organizations: Any) -> None:
        """Submit rate limits: per user, and per organization when configured. They count requests:
        a bulk submit is one, for each organization it names (MAX_BULK_JOBS bounds its size)."""
        limiter.hit("submit", user, submits_per_user)
        for organization in sorted({org for org in organizations if isinstance(org, str)}):
            if submits_per_org:
                limiter.hit("submit-org", organization, submits_per_org)

    def run_as(user: str, function, kwargs: dict[str, Any]) -> Any:
        rt.set_user(user)
        try:
            result = function(**kwargs)
            rt.commit()
            responses.STORES.ended(time.time())
            return result
        except BaseException:
            rt.rollback()
            raise
        finally:
            rt.set_user(rt.config.user)

    async def api_method(request: Request) -> Response:
        method = request.path_params["method"]
        name = method[len(METHOD_PREFIX) :] if method.startswith(METHOD_PREFIX) else ""
        try:
            if name not in service.ENDPOINTS:
                raise MethodNotFoundError(f"Method {method} not found")
            # HEAD is GET without the body (the server drops it), on the endpoints that answer GET.
            verb = "GET" if request.method == "HEAD" else request.method
            if verb not in service.ENDPOINTS[name]:
                raise NotPermittedError(f"Not permitted: {name} accepts {', '.join(service.ENDPOINTS[name])}")
            user = await run_in_threadpool(auth.authenticate, rt, request.headers.get("authorization"))
            function = getattr(service, name)
            kwargs = await call_arguments(request, function)
            if name == "submit_job":
                await run_in_threadpool(limit_submits, user, kwargs.get("organization"))
            elif name == "submit_jobs":
                jobs = kwargs.get("jobs") if isinstance(kwargs.get("jobs"), list) else []
                organizations = [job.get("organization") for job in jobs if isinstance(job, dict)]
                await run_in_threadpool(limit_submits, user, *organizations)
            return responses.message(await run_in_threadpool(run_as, user, function, kwargs))
        except DartwingError as exc:
            return responses.error(exc)
        except Exception as exc:  # noqa: BLE001 - answer 500 in Frappe's shape, log the details
            return responses.unexpected(exc, method)

    async def openapi_document(request: Request) -> Response:
        return responses.json_response(openapi.document(str(request.base_url).rstrip("/")))

    async def metrics(request: Request) -> Response:
        body, content_type = await run_in_threadpool(prometheus.render, rt)
        return Response(body, media_type=content_type)

    routes = [
        *system_jobs.routes(rt, run_as, limit_submits),
        *dashboard.routes(rt, run_as),
        Route("/api/method/{method:path}", api_method, methods=["GET", "POST"]),
        Route("/api/openapi.json", openapi_document, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]

    async def http_error(request: Request, exc: HTTPException) -> Response:
        # Starlette's own 404 / 405, in the same shape as every other error.
        response = responses.error(exc, exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    return Starlette(
        routes=routes,
        middleware=[Middleware(protocol.ProtocolGuard, routes=routes, methods_for=endpoint_methods)],
        exception_handlers={HTTPException: http_error},
    )


def from_environment() -> Starlette:
    """App factory for multi-process uvicorn: each process builds its runtime from the environment."""
    from .. import configure

    return create_app(configure())
