"""Canonical JSON and the parameters hash that dedup relies on.

Two submits that mean the same thing must hash the same, whatever the key order or the Python types
used to spell a value; a value that cannot be serialised deterministically is rejected, not hashed
by its `repr`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from .errors import InvalidInputError


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        # normalize() makes 1.50 and 1.5 equal; 'f' keeps it out of exponent notation.
        return format(value.normalize(), "f")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=canonical_json)  # elements are encoded by json itself afterwards
    raise InvalidInputError(
        f"parameters contain a value that is not JSON-serialisable: {type(value).__name__}"
    )


# One encoder for every call (json.dumps with options builds a new one each time: a bulk submit
# encodes twice per job).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), default=_encode, ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, dates/Decimal/UUID/sets spelled one way."""
    try:
        return _CANONICAL.encode(value)
    except ValueError as exc:  # NaN / Infinity, or a circular structure
        raise InvalidInputError(f"parameters are not valid JSON: {exc}") from None


def parameters_hash(job_type: str, organization: str, params_json: str) -> str:
    """SHA-256 over job type, organization and canonical parameters."""
    payload = canonical_json([job_type, organization, params_json])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
