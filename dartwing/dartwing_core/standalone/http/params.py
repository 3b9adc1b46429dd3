"""Reading an API call's parameters the way Frappe does: query string, then a JSON or form body.

Anything the endpoint does not take is refused (400) instead of silently ignored, so a typo in a
parameter name is an error the client sees. Bodies are capped (413) before they are parsed. JSON is
read strictly (400): no NaN or Infinity (nor numbers that only a float's infinity could hold), and no
nesting deeper than MAX_JSON_DEPTH, which the engine's hashing and storage would otherwise recurse
into. A `parameters`, `jobs` or `on_complete` value sent as JSON text is held to the same rules.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from dartwing.dartwing_core.background_jobs.errors import DartwingError, InvalidInputError

MAX_BODY_BYTES = int(os.environ.get("DARTWING_MAX_BODY_BYTES") or 1024 * 1024)
MAX_JSON_DEPTH = 32  # levels of objects and arrays, the request body's own object included
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


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInputError(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> None:
    raise InvalidInputError(f"{name} is not valid JSON: numbers must be finite")


def _depth(value: Any) -> int:
    """Nesting depth of objects and arrays, counted without recursion; stops once past the limit."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_JSON_DEPTH:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def loads(text: str | bytes, what: str = "request body") -> Any:
    """Strict json.loads: InvalidInputError for malformed JSON, non-finite numbers or deep nesting."""
    too_deep = InvalidInputError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise too_deep from None
    except InvalidInputError:
        raise
    except ValueError:
        raise InvalidInputError(f"{what} is not valid JSON") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise too_deep
    return data


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """The body's parameters; an empty body has none (a JSON body of only blanks is invalid JSON)."""
    if not body:
        return {}
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        data = loads(body)
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
    for name in ("parameters", "jobs", "on_complete"):  # JSON text, as a form body carries it
        if isinstance(params.get(name), str) and params[name].strip():
            params[name] = loads(params[name], name)
    return params
