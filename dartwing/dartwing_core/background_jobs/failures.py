"""What a handler's exception means for its job: error classes, classification, and backoff.

Handlers raise TransientError for "try again later" and PermanentError for "retrying cannot help".
Anything else is classified by `CLASSIFICATION`, checked in order (first match wins); an exception
no entry matches is treated as transient, because a retry that fails again costs less than a job
dropped for an error nobody anticipated.
"""

from __future__ import annotations

import importlib
import random
import socket
from datetime import timedelta
from enum import Enum


class TransientError(Exception):
    """The handler failed for a reason that may go away: retry with backoff."""


class PermanentError(Exception):
    """The handler failed for a reason a retry cannot fix: send the job to Dead Letter."""


class JobCanceled(Exception):
    """Raised inside a handler at a checkpoint after cancellation was requested."""


class ErrorType(str, Enum):
    TRANSIENT = "Transient"
    PERMANENT = "Permanent"
    TIMEOUT = "Timeout"


def _redis_and_db_connection_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    try:
        import redis.exceptions

        found += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover - redis is a base dependency
        pass
    try:
        import sqlalchemy.exc

        found += [sqlalchemy.exc.OperationalError, sqlalchemy.exc.DisconnectionError]
    except ImportError:  # pragma: no cover
        pass
    for driver in ("pymysql.err", "MySQLdb"):  # Frappe's MariaDB driver; the standalone C driver
        try:
            module = importlib.import_module(driver)
        except ImportError:
            continue
        found += [module.OperationalError, module.InterfaceError]
    return tuple(found)


CLASSIFICATION: tuple[tuple[tuple[type[BaseException], ...], ErrorType], ...] = (
    ((TransientError,), ErrorType.TRANSIENT),
    ((PermanentError,), ErrorType.PERMANENT),
    (
        (ConnectionError, TimeoutError, socket.timeout, socket.gaierror) + _redis_and_db_connection_errors(),
        ErrorType.TRANSIENT,
    ),
    (
        (ValueError, TypeError, KeyError, LookupError, AttributeError, PermissionError, NotImplementedError),
        ErrorType.PERMANENT,
    ),
)


def classify(exc: BaseException) -> ErrorType:
    for classes, error_type in CLASSIFICATION:
        if isinstance(exc, classes):
            return error_type
    return ErrorType.TRANSIENT


# Backoff: base × 2^retry, capped, ±20 % jitter → 1, 2, 4, 8, 16 minutes with the default settings.
BACKOFF_JITTER = 0.2


def backoff_delay(
    retry_count: int,
    *,
    base_seconds: float,
    cap_seconds: float,
    jitter: float = BACKOFF_JITTER,
    rng: random.Random | None = None,
) -> timedelta:
    """Delay before retry number `retry_count + 1` (retry_count = retries already made)."""
    delay = min(base_seconds * (2**retry_count), cap_seconds)
    spread = (rng or random).uniform(-jitter, jitter)
    return timedelta(seconds=delay * (1 + spread))
