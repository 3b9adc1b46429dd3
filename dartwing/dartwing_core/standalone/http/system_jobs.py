"""The seed-004 REST surface, `/api/system/background-jobs`, mapped onto the same engine.

That earlier worker had no tenants and five lowercase statuses. Here the caller's organization is
the `organization` field, or — when omitted — the one organization the caller is an active member
of (400 when that is ambiguous). POSTing a JSON list instead of one object submits them all at once
(`submit_jobs`: all or nothing, rejected items listed by index in the 400's `errors`). Authentication is `Authorization: Bearer <api_key>:<api_secret>`.

Status mapping (engine → seed 004): Pending, Queued → queued; Running → processing; Completed →
completed; Failed, Timed Out, Dead Letter → failed; Canceled → cancelled. A `?status=` filter takes
the seed-004 names and expands them back.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dartwing.dartwing_core.background_jobs import get_job_status, list_jobs, submit_job, submit_jobs, tenancy
from dartwing.dartwing_core.background_jobs.bulk import BulkSubmitError
from dartwing.dartwing_core.background_jobs.errors import DartwingError, InvalidInputError
from dartwing.dartwing_core.background_jobs.operations import cancel_job
from dartwing.dartwing_core.background_jobs.status import JobStatus

from ..runtime import StandaloneRuntime
from . import auth, responses
from .params import loads, parse_body, read_body

SEED_STATUS = {
    JobStatus.PENDING: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "processing",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.TIMED_OUT: "failed",
    JobStatus.DEAD_LETTER: "failed",
    JobStatus.CANCELED: "cancelled",
}
ENGINE_STATUSES = {
    seed: [s.value for s, mapped in SEED_STATUS.items() if mapped == seed]
    for seed in set(SEED_STATUS.values())
}
# run_at / delay: a delayed job (the engine's own names; seed 004 had none).
CREATE_FIELDS = {"job_type", "priority", "payload", "max_retries", "organization", "run_at", "delay"}


def seed_view(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": job["job_id"],
        "job_type": job["job_type"],
        "organization": job["organization"],
        "status": SEED_STATUS[JobStatus(job["status"])],
        "engine_status": job["status"],
        "priority": (job["priority"] or "Normal").lower(),
        "progress": job["progress"],
        "result": job["result"],
        "error_message": job["error_message"],
        "retry_count": job["retry_count"],
        "max_retries": job["max_retries"],
        "next_retry_at": job["next_retry_at"],
        "run_at": job["run_at"],
        "created_at": job["creation"],
        "started_at": job["started_at"],
        "completed_at": job["completed_at"],
    }


def _seed_specs(rt: StandaloneRuntime, items: Any) -> tuple[list[Any], dict[int, dict[str, Any]]]:
    """The engine's specs for a list of seed-004 create bodies, and this surface's own errors by index
    (an unknown field; no organization and no single membership to default to)."""
    if not isinstance(items, list):
        raise InvalidInputError("a bulk create body must be a JSON list")
    specs, errors = [], {}
    default: list[Any] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            specs.append(item)  # the engine reports it
            continue
        try:
            unknown = sorted(set(item) - CREATE_FIELDS)
            if unknown:
                raise InvalidInputError(f"unknown field(s): {', '.join(unknown)}")
            if not item.get("organization") and not default:
                default.append(_organization_for(rt, rt.current_user(), None))
        except InvalidInputError as exc:
            errors[index] = {"index": index, "error": type(exc).__name__, "message": str(exc)}
            specs.append({})  # rejected by the engine too, so the batch fails with this error in place
            continue
        fields = {("parameters" if key == "payload" else key): value for key, value in item.items()}
        specs.append({**fields, "organization": item.get("organization") or default[0]})
    return specs, errors


def _aware_run_at(rt: StandaloneRuntime, job: dict[str, Any]) -> dict[str, Any]:
    """A new delayed job's run time with its offset, as get_job_status answers it."""
    return {"run_at": rt.aware(job["run_at"])} if job.get("run_at") else {}


def _organization_for(rt: StandaloneRuntime, user: str, given: Any) -> str:
    if given:
        return given
    memberships = tenancy.member_organizations(rt, user)
    if len(memberships) != 1:
        raise InvalidInputError(
            f"organization is required: the caller is a member of {len(memberships)} organizations"
        )
    return memberships[0]


def routes(rt: StandaloneRuntime, run_as, limit_submits) -> list[Route]:
    async def authenticated(request: Request) -> str:
        return await run_in_threadpool(
            auth.authenticate, rt, request.headers.get("authorization"), scheme="bearer"
        )

    async def handle(request: Request, work) -> Response:
        try:
            user = await authenticated(request)
            body = await read_body(request) if request.method == "POST" else b""
            return responses.json_response(
                await run_in_threadpool(run_as, user, work, {"request": request, "body": body})
            )
        except DartwingError as exc:
            return responses.error(exc)
        except Exception as exc:  # noqa: BLE001 - answer 500 in the same shape, log the details
            return responses.unexpected(exc, request.url.path)

    def list_view(request: Request, body: bytes) -> list[dict[str, Any]]:
        wanted = request.query_params.get("status")
        if wanted and wanted not in ENGINE_STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(sorted(ENGINE_STATUSES))}")
        jobs = list_jobs(
            status=ENGINE_STATUSES[wanted] if wanted else None,
            limit=request.query_params.get("limit", 50),
            start=request.query_params.get("offset", 0),
        )
        return [seed_view(job) for job in jobs]

    def one(request: Request, body: bytes) -> dict[str, Any]:
        return seed_view(get_job_status(request.path_params["job_id"]))

    def create(request: Request, body: bytes) -> dict[str, Any]:
        data = parse_body(body, request.headers.get("content-type", "application/json"))
        unknown = sorted(set(data) - CREATE_FIELDS)
        if unknown:
            raise InvalidInputError(f"unknown field(s): {', '.join(unknown)}")
        organization = _organization_for(rt, rt.current_user(), data.get("organization"))
        limit_submits(rt.current_user(), organization)
        job = submit_job(
            data.get("job_type"),
            organization,
            data.get("payload"),
            priority=data.get("priority"),
            max_retries=data.get("max_retries"),
            run_at=data.get("run_at"),
            delay=data.get("delay"),
        )
        return seed_view(get_job_status(job.name))

    def create_many(request: Request, body: bytes) -> list[dict[str, Any]]:
        specs, own_errors = _seed_specs(rt, loads(body))
        limit_submits(
            rt.current_user(), *(spec.get("organization") for spec in specs if isinstance(spec, dict))
        )
        try:
            jobs = submit_jobs(specs)
        except BulkSubmitError as exc:
            raise BulkSubmitError([own_errors.get(e["index"], e) for e in exc.errors]) from None
        empty = dict.fromkeys(("result", "error_message", "next_retry_at", "run_at", "started_at", "completed_at"))
        return [seed_view({**empty, **job, "job_id": job.name, **_aware_run_at(rt, job)}) for job in jobs]

    def cancel(request: Request, body: bytes) -> dict[str, Any]:
        cancel_job(request.path_params["job_id"])
        return seed_view(get_job_status(request.path_params["job_id"]))

    async def collection(request: Request) -> Response:
        if request.method != "POST":
            return await handle(request, list_view)
        return await handle(request, create_or_create_many)

    def create_or_create_many(request: Request, body: bytes) -> Any:
        json_body = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if json_body == "application/json" and body.lstrip().startswith(b"["):
            return create_many(request, body)
        return create(request, body)

    async def item(request: Request) -> Response:
        return await handle(request, one)

    async def item_cancel(request: Request) -> Response:
        return await handle(request, cancel)

    prefix = "/api/system/background-jobs"
    return [
        Route(prefix, collection, methods=["GET", "POST"]),
        Route(prefix + "/{job_id}", item, methods=["GET"]),
        Route(prefix + "/{job_id}/cancel", item_cancel, methods=["POST"]),
    ]
