"""Responses in Frappe's shapes: `{"message": ...}` on success; `exc_type`, `exception` and
`_server_messages` with the exception's `http_status_code` on error."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from starlette.responses import Response

from dartwing.dartwing_core.background_jobs.errors import RateLimitedError

log = logging.getLogger("dartwing.http")


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
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
    return json_response(payload, status, headers)


def unexpected(exc: BaseException, where: str) -> Response:
    """A 500 in Frappe's shape for an error no rule expected; the details go to the log only."""
    log.error("unhandled error in %s", where, exc_info=exc)
    return error(exc, 500)
