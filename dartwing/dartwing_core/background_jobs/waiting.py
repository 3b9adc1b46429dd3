"""Why a job is not running: what holds it, and until when.

"Why is my job stuck?" is the first question operators and app developers ask. The answer is read
from the same rules that hold a job (release.py: run time, parent and caps; the retry policy's planned time; the
outbox: a Queued row with no RQ message; RQ's registry of live workers), so it cannot drift from
them. Each reason has a stable `reason` code for programs and a `message` for people.
"""

from __future__ import annotations

from typing import Any

from .dependencies import parents_state
from .queries import load_visible_job
from .queueing import queue_for
from .rate_limits import in_window
from .rate_limits import of as rate_limit_of
from .records import fetch_job_type
from .release import caps_of, held_by_time, in_flight, waits_for_run_at
from .runtime import Runtime, get_runtime
from .status import TERMINAL, JobStatus


def explain_wait(job_id: str, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """{job_id, status, waiting, reasons: [{reason, message, ...}]} for a job the caller may see.

    `waiting` is False for a Running job and a finished one; their single reason says so. A job of
    another organization is reported as not found, as everywhere.
    """
    rt = runtime or get_runtime()
    job = load_visible_job(rt, job_id)
    status = job["status"]
    if status == JobStatus.RUNNING.value:
        reasons = [_reason("running", f"Running on {job['worker']} (attempt {job['attempt']})",
                           worker=job["worker"], heartbeat_at=job["heartbeat_at"])]
    elif JobStatus(status) in TERMINAL:
        reasons = [_reason("finished", f"Finished: {status}")]
    elif status == JobStatus.PENDING.value:
        reasons = _pending_reasons(rt, job)
    elif status == JobStatus.QUEUED.value:
        reasons = _queued_reasons(rt, job)
    else:  # Failed / Timed Out: a retry is planned
        reasons = [_retry_reason(rt, job)]
    waiting = reasons[0]["reason"] not in ("running", "finished")
    return {"job_id": job["name"], "status": status, "waiting": waiting, "reasons": reasons}


def _reason(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"reason": code, "message": message, **details}


def _pending_reasons(rt: Runtime, job: dict[str, Any]) -> list[dict[str, Any]]:
    reasons = []
    if waits_for_run_at(rt, job):
        snoozes = int(job.get("snooze_count") or 0)
        reasons.append(_reason(
            "run_at",
            f"Waits for its run time until {rt.aware(job['run_at']).isoformat()}"
            + (f" (snoozed {snoozes} time(s))" if snoozes else ""),
            until=job["run_at"], snooze_count=snoozes,
        ))
    if job.get("depends_on"):
        state = parents_state(rt, job)
        if state.ended is not None:
            parent, status = state.ended
            reasons.append(_reason(
                "parent_ended", f"Its parent {parent} ended {status}: the minute sweep cancels it",
                parent=parent, parent_status=status,
            ))
        for parent, status in state.open:
            reasons.append(_reason(
                "parent", f"Waits for its parent {parent} ({status}) to complete",
                parent=parent, parent_status=status,
            ))
    if held_by_time(job):
        reasons.append(_rate_reason(rt, job))
    org_cap, type_cap, _ = caps_of(rt, job)
    if org_cap and (used := in_flight(rt, job["organization"])) >= org_cap:
        reasons.append(_reason(
            "organization_cap",
            f"Organization {job['organization']} has {used} of its {org_cap} concurrent jobs queued or running",
            limit=org_cap, in_flight=used,
        ))
    if type_cap and (used := in_flight(rt, job["organization"], job["job_type"])) >= type_cap:
        reasons.append(_reason(
            "job_type_cap",
            f"{used} of the {type_cap} {job['job_type']} jobs allowed per organization are queued or running",
            limit=type_cap, in_flight=used,
        ))
    if not reasons:
        reasons.append(_reason("release_due", "Nothing holds it any more: released when a slot frees, by the "
                                              "delay releaser or by the minute sweep"))
    return reasons


def _rate_reason(rt: Runtime, job: dict[str, Any]) -> dict[str, Any]:
    limit = rate_limit_of(fetch_job_type(rt, job["job_type"]) or {})
    until = job["next_retry_at"]
    if limit is None:
        return _reason("rate_limit", "Its Job Type's rate limit was lifted: the minute sweep queues it", until=until)
    used = in_window(rt, job, limit)
    scope = f" in {job['organization']}" if limit.per_org else ""
    when = "now" if until <= rt.now() else f"at {rt.aware(until).isoformat()}"
    return _reason(
        "rate_limit",
        f"{used} of the {limit.count} {job['job_type']} starts allowed per {limit.period}s{scope} are taken;"
        f" in line for the window from {when}",
        limit=limit.count, period=limit.period, per_organization=limit.per_org, in_window=used, until=until,
    )


def _queued_reasons(rt: Runtime, job: dict[str, Any]) -> list[dict[str, Any]]:
    queue = queue_for(job, fetch_job_type(rt, job["job_type"])).value
    if job["rq_job_id"] not in rt.messages_pending([job["rq_job_id"]]):
        return [_reason("message_missing", "Queued, but RQ holds no message for it: the minute sweep sends it "
                                           "again", queue=queue, queued_at=job["queued_at"])]
    workers = rt.workers_on(queue)
    if not workers:
        return [_reason("no_worker", f"In the {queue} queue, but no live worker listens on it",
                        queue=queue, workers=0, queued_at=job["queued_at"])]
    return [_reason("in_queue", f"In the {queue} queue, which {workers} live worker(s) serve, behind the jobs "
                                "queued before it", queue=queue, workers=workers, queued_at=job["queued_at"])]


def _retry_reason(rt: Runtime, job: dict[str, Any]) -> dict[str, Any]:
    due = job["next_retry_at"]
    message = f"{job['status']}; retry {job['retry_count']} of {job['max_retries']} "
    if due is not None and due <= rt.now():
        message += "is due: the minute sweep queues it"
    else:
        message += f"is planned for {rt.aware(due).isoformat()}"
    return _reason("retry_planned", message, until=due, error_message=job["error_message"])
