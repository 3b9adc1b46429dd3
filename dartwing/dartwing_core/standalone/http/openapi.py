"""The OpenAPI 3.1 document of the job API (served at /api/openapi.json).

Built from api.service: the endpoint list and each function's parameters, so the document cannot
drift from what the server accepts. The schemas state the engine's own limits, imported from where
the engine enforces them. An optional argument sent as JSON null takes its default (as in Frappe);
an empty string is refused.
"""

from __future__ import annotations

import inspect
from typing import Any

from dartwing import __version__
from dartwing.dartwing_core.api import service
from dartwing.dartwing_core.background_jobs.bulk import MAX_BULK_JOBS, SPEC_FIELDS
from dartwing.dartwing_core.background_jobs.bulk_operations import ACTIONS, MAX_BATCH, MAX_OLDER_THAN_HOURS
from dartwing.dartwing_core.background_jobs.cron import MAX_CRON_LENGTH, MAX_TIMEZONE_LENGTH
from dartwing.dartwing_core.background_jobs.delays import MAX_DELAY_SECONDS
from dartwing.dartwing_core.background_jobs.dependencies import MAX_PARENTS
from dartwing.dartwing_core.background_jobs.job_browser import ERROR_TYPES, MAX_TEXT_LENGTH
from dartwing.dartwing_core.background_jobs.queries import MAX_LIST_LIMIT, MAX_LIST_START, MAX_NAME_LENGTH
from dartwing.dartwing_core.background_jobs.schedule_tick import GRACE_SECONDS
from dartwing.dartwing_core.background_jobs.schedules import (
    MAX_DESCRIPTION_LENGTH,
    MAX_SCHEDULES_PER_ORGANIZATION,
    SCHEDULE_ID_PATTERN,
    CatchUp,
)
from dartwing.dartwing_core.background_jobs.status import JobStatus, Priority
from dartwing.dartwing_core.background_jobs.submission import MAX_RETRIES_LIMIT, MAX_TIMEOUT_SECONDS

JOB_ID = {"type": "string", "pattern": r"^JOB-\d{4}-\d{5,}$", "examples": ["JOB-2026-00001"]}
NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
# What inputs.flag reads as a boolean: JSON booleans and the spellings HTML forms send.
FLAG = {"anyOf": [{"type": "boolean"}, {"enum": [0, 1, "0", "1", "true", "false", "True", "False"]}]}

PARAMETERS: dict[str, tuple[dict[str, Any], str]] = {
    "job_type": (NAME, "Job Type name, e.g. progress_demo"),
    "organization": (NAME, "Organization the job belongs to; the caller must be an active member"),
    "parameters": (
        {"oneOf": [{"type": "object"}, {"type": "string"}]},
        "Handler parameters: a JSON object, or its JSON text (64 KiB at most)",
    ),
    "priority": ({"type": "string", "enum": [p.value for p in Priority]}, "Default: the Job Type's"),
    "depends_on": (
        {"oneOf": [JOB_ID, {"type": "array", "items": JOB_ID, "minItems": 1, "maxItems": MAX_PARENTS}]},
        "A job of the same organization that must complete first, or a list of them (fan-in: the job runs"
        " once every one has completed, and is canceled if one ends Dead Letter or Canceled); a form may"
        " send the list as its JSON text",
    ),
    "timeout": (
        {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_SECONDS},
        "Seconds; default: the Job Type's",
    ),
    "max_retries": (
        {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES_LIMIT},
        "Default: the Job Type's",
    ),
    "run_at": (
        {"type": "string", "format": "date-time", "examples": ["2030-01-01T09:00:00+01:00"]},
        "Run the job at this time (ISO 8601 with its offset; a past time runs it now); not with delay",
    ),
    "delay": (
        {"type": "number", "minimum": 0, "maximum": MAX_DELAY_SECONDS},
        "Run the job this many seconds after the submit; not with run_at",
    ),
    "job_id": (JOB_ID, "Background Job id"),
    "status": ({"type": "string", "enum": [s.value for s in JobStatus]}, "Only jobs in this status"),
    "limit": ({"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT, "default": 20}, "Page size"),
    "start": (
        {"type": "integer", "minimum": 0, "maximum": MAX_LIST_START, "default": 0},
        "Offset of the first job",
    ),
    "force": ({**FLAG, "default": False}, "Also stop a running job's RQ work horse"),
    "filters": (
        {
            "type": "object",
            # A filter left null or empty matches anything, as one left out does (forms send "").
            "properties": {
                key: {"anyOf": [schema, {"type": "null"}, {"const": ""}]}
                for key, schema in {
                    "status": {
                        "anyOf": [
                            {"enum": list(ACTIONS["retry"].statuses)},
                            {"type": "array", "items": {"enum": list(ACTIONS["retry"].statuses)}},
                        ]
                    },
                    "organization": NAME,
                    "job_type": NAME,
                    "error_type": {"enum": list(ERROR_TYPES)},
                    "since": {"type": "string", "format": "date-time", "description": "Changed at or after"},
                    "until": {"type": "string", "format": "date-time", "description": "Changed before"},
                    "q": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH,
                          "description": "A job id, or text its parameters contain"},
                    "older_than_hours": {"type": "integer", "minimum": 0, "maximum": MAX_OLDER_THAN_HOURS},
                }.items()
            },
            "additionalProperties": False,
        },
        "Which jobs (Dead Letter ones unless `status` names others); a form may send the object's JSON text",
    ),
    "batch_size": (
        {"type": "integer", "minimum": 1, "maximum": MAX_BATCH, "default": MAX_BATCH},
        "Jobs this call retries at most",
    ),
    "room": (
        {"type": "string", "maxLength": service.MAX_ROOM_LENGTH, "examples": ["org:Demo Org"]},
        "Realtime room to check",
    ),
    "schedule": (
        {"type": "string", "pattern": SCHEDULE_ID_PATTERN.pattern, "examples": ["SCHED-00001"]},
        "Job Schedule id",
    ),
    "cron_expression": (
        {"type": "string", "minLength": 1, "maxLength": MAX_CRON_LENGTH, "examples": ["30 2 * * *", "@hourly"]},
        "Five cron fields (minute hour day-of-month month day-of-week) or a nickname (@hourly, @daily,"
        " @weekly, @monthly, @yearly); no seconds field: schedules fire within about a minute of each"
        " occurrence. An expression croniter refuses, or one that never fires, is a 400",
    ),
    "timezone": (
        {"type": "string", "minLength": 1, "maxLength": MAX_TIMEZONE_LENGTH, "default": "UTC",
         "examples": ["America/New_York"]},
        "IANA time zone the cron expression is read in (an unknown name is a 400); daylight-saving"
        " changes follow ISC cron (README, Schedules)",
    ),
    "enabled": ({**FLAG, "default": True}, "Whether the schedule fires"),
    "catch_up": (
        {"type": "string", "enum": [c.value for c in CatchUp], "default": CatchUp.SKIP.value},
        f"After downtime: Skip runs the latest missed occurrence only if it is at most {GRACE_SECONDS}s late;"
        " Run Once runs it whatever its age. Never more than one job per schedule per tick",
    ),
    "description": (
        {"type": "string", "minLength": 1, "maxLength": MAX_DESCRIPTION_LENGTH},
        "What the schedule is for (shown in lists); leave it out (or send null) for none",
    ),
}
PARAMETERS["jobs"] = (
    {
        "type": "array",
        "maxItems": MAX_BULK_JOBS,
        "items": {
            "type": "object",
            "properties": {
                field: {**PARAMETERS[field][0], "description": PARAMETERS[field][1]}
                for field in sorted(SPEC_FIELDS)
            },
            "required": ["job_type", "organization"],
            "additionalProperties": False,
        },
    },
    f"Job specs, each with submit_job's parameters; at most {MAX_BULK_JOBS}. All or nothing: one rejected"
    " item rejects the batch (400, `errors` lists every rejected item by index)",
)
PARAMETERS["on_complete"] = (
    {
        **PARAMETERS["jobs"][0]["items"],
        "properties": {k: v for k, v in PARAMETERS["jobs"][0]["items"]["properties"].items() if k != "depends_on"},
    },
    "A callback job (a job spec without depends_on, in the organization of every job of the batch) that runs"
    " once every job of the batch has ended, Completed or not; its handler reads their ids and statuses from"
    " `context.dependencies`. The answer's `on_complete` names it",
)
REQUIRED: dict[str, tuple[str, ...]] = {
    "submit_job": ("job_type", "organization"),
    "submit_jobs": ("jobs",),
    "get_job_status": ("job_id",),
    "cancel_job": ("job_id",),
    "retry_job": ("job_id",),
    "delete_job": ("job_id",),
    "get_job_history": ("job_id",),
    "explain_job": ("job_id",),
    "create_schedule": ("job_type", "organization", "cron_expression"),
    "update_schedule": ("schedule",),
    "enable_schedule": ("schedule",),
    "disable_schedule": ("schedule",),
    "delete_schedule": ("schedule",),
    "get_schedule": ("schedule",),
}
ERRORS = {
    "400": "Invalid input (unknown job type, bad priority, parameters not an object or too large, bad id, bad"
    " cron expression or time zone, run_at without an offset or with delay, ...)",
    "401": "Missing or wrong token",
    "403": "Not a member of the organization, not an administrator, or an HTTP method the endpoint refuses",
    "404": "No such job or schedule (also for another organization's)",
    "409": "Duplicate job, a status that does not allow the action, or an organization at its"
    f" {MAX_SCHEDULES_PER_ORGANIZATION} schedules",
    "413": "Request body too large",
    "429": "Rate limit exceeded (see Retry-After)",
}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "exc_type": {"type": "string"},
        "exception": {"type": "string"},
        "_server_messages": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "submit_jobs only: every rejected item",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": ["integer", "null"], "description": "Position in `jobs`"},
                    "error": {"type": "string", "examples": ["InvalidInputError", "DuplicateJobError"]},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def _operation(name: str, http_method: str) -> dict[str, Any]:
    function = getattr(service, name)
    names = list(inspect.signature(function).parameters)
    required = list(REQUIRED.get(name, ()))
    doc = inspect.getdoc(function) or name.replace("_", " ")
    operation: dict[str, Any] = {
        "operationId": f"{name}_{http_method}",
        "summary": doc.splitlines()[0],
        "security": [{"token": []}],
        "responses": {
            "200": {
                "description": "Frappe envelope",
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"message": {}}, "required": ["message"]}
                    }
                },
            },
            **{
                code: {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
                for code, text in ERRORS.items()
            },
        },
    }
    if http_method == "get":
        operation["parameters"] = [
            {
                "name": p,
                "in": "query",
                "required": p in required,
                "description": PARAMETERS[p][1],
                "schema": PARAMETERS[p][0] if p != "parameters" else {"type": "string"},
            }
            for p in names
        ]
    else:
        schema = {
            "type": "object",
            "properties": {p: _body_property(p, p in required) for p in names},
            "required": required,
            "additionalProperties": False,
        }
        operation["requestBody"] = {
            "required": bool(required),
            "content": {"application/json": {"schema": schema}},
        }
    return operation


def _body_property(name: str, required: bool) -> dict[str, Any]:
    schema, description = PARAMETERS[name]
    if required:
        return {**schema, "description": description}
    return {"anyOf": [schema, {"type": "null"}], "description": f"{description} (null: the default)"}


def document(server_url: str) -> dict[str, Any]:
    paths = {
        f"/api/method/dartwing.dartwing_core.api.jobs.{name}": {
            method.lower(): _operation(name, method.lower()) for method in methods
        }
        for name, methods in service.ENDPOINTS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dartwing background jobs",
            "version": __version__,
            "description": "The same URLs and payloads as the Frappe app's whitelisted methods.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "token <api_key>:<api_secret> (dartwing-jobs user add)",
                }
            }
        },
    }
