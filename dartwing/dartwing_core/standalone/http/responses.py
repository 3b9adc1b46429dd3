"""Responses in Frappe's shapes: `{"message": ...}` on success; `exc_type`, `exception` and
`_server_messages` with the exception's `http_status_code` on error.

A call that fails because the database or Redis does not answer (down, restarting, partitioned,
or a deadlock the client may simply retry) gets 503 with Retry-After, not 500, and the outage is
logged once (STORES), however many calls fail before one succeeds again.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from time import time as wall_clock
from typing import Any

import redis
import sqlalchemy as sa
from starlette.responses import Response

from dartwing.dartwing_core.background_jobs.errors import DartwingError

from ...background_jobs.outages import Outage

log = logging.getLogger("dartwing.http")
STORES = Outage("the database or Redis", "API calls answer 503 until one succeeds", log)
RETRY_AFTER_SECONDS = 5


class ServiceUnavailableError(DartwingError):
    http_status_code = 503
    retry_after = RETRY_AFTER_SECONDS


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return True
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()  # the engine's datetimes carry their offset (Runtime.aware)
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(payload: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, default=_default, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def message(result: Any) -> Response:
    return json_response({"message": result})


def error(exc: BaseException, status_code: int | None = None) -> Response:
    status = status_code or getattr(exc, "http_status_code", 500)
    text = str(exc) if status < 500 else "Internal server error"
    server_message = json.dumps({"message": text, "title": "Background Jobs", "indicator": "red"})
    payload = {
        "exc_type": type(exc).__name__,
        "exception": f"{type(exc).__module__}.{type(exc).__name__}: {text}",
        "_server_messages": json.dumps([server_message]),
    }
    if isinstance(getattr(exc, "errors", None), list):  # a bulk submit's rejected items, by index
        payload["errors"] = exc.errors
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return json_response(payload, status, headers)


def unexpected(exc: BaseException, where: str) -> Response:
    """503 for an outage of the stores; else a 500 in Frappe's shape for an error no rule expected
    (the details go to the log only)."""
    if _is_outage(exc):
        STORES.began(exc, wall_clock())
        return error(ServiceUnavailableError("the job store is unavailable; try again shortly"))
    log.error("unhandled error in %s", where, exc_info=exc)
    return error(exc, 500)
