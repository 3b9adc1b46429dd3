"""Reading an API call's parameters the way Frappe does: query string, then a JSON or form body.

Anything the endpoint does not take is refused (400) instead of silently ignored, so a typo in a
parameter name is an error the client sees. Bodies are capped (413) before they are parsed.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from dartwing.dartwing_core.background_jobs.errors import DartwingError, InvalidInputError

MAX_BODY_BYTES = int(os.environ.get("DARTWING_MAX_BODY_BYTES") or 1024 * 1024)
# Frappe's own routing parameters, accepted and dropped like Frappe does.
_IGNORED = frozenset({"cmd", "_"})


class PayloadTooLargeError(DartwingError):
    http_status_code = 413


class UnsupportedMediaTypeError(DartwingError):
    http_status_code = 415


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"request body over {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"request body over {MAX_BODY_BYTES} bytes")
    return body


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise InvalidInputError("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise InvalidInputError("a JSON request body must be an object of parameters")
        return data
    if media in ("application/x-www-form-urlencoded", ""):
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise InvalidInputError("request body is not UTF-8") from None
    raise UnsupportedMediaTypeError(f"unsupported Content-Type {media!r}: send JSON or a URL-encoded form")


async def call_arguments(request: Request, function: Callable[..., Any]) -> dict[str, Any]:
    """Merge query and body parameters and check them against `function`'s signature."""
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        params.update(parse_body(await read_body(request), request.headers.get("content-type", "")))
    accepted = set(inspect.signature(function).parameters)
    for key in _IGNORED:
        params.pop(key, None)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise InvalidInputError(
            f"unknown parameter(s): {', '.join(unknown)}; accepted: {', '.join(sorted(accepted))}"
        )
    return params
