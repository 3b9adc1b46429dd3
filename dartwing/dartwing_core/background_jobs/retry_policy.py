"""The retry policy, in one place: what a handler's exception means, and when a failed job runs again.

Handlers raise TransientError for "try again later" and PermanentError for "retrying cannot help".
Anything else is classified by `classification()`, checked in order (first match wins); an exception
no entry matches is treated as transient, because a retry that fails again costs less than a job
dropped for an error nobody anticipated. `delay_before_retry` decides between a retry (after the backoff)
and Dead Letter; outcomes.py records that decision, and the minute sweep (sweeps.py) queues a retry
once it is due. The numbers are settings (settings.py): base 60 s, cap 16 min, ±20 % jitter.
"""

from __future__ import annotations

import random
import socket
import sys
from datetime import timedelta
from enum import Enum
from typing import Any


class TransientError(Exception):
    """The handler failed for a reason that may go away: retry with backoff."""


class PermanentError(Exception):
    """The handler failed for a reason a retry cannot fix: send the job to Dead Letter."""


class ErrorType(str, Enum):
    TRANSIENT = "Transient"
    PERMANENT = "Permanent"
    TIMEOUT = "Timeout"


# Connection errors of the Redis client and the database layers, by module. Only modules this process
# has loaded are consulted: an exception of a module never imported cannot reach `classify`, and
# importing SQLAlchemy or a second MariaDB driver only to compare would cost a cold Frappe work horse
# tens of milliseconds (bench/cold_start.py).
_CONNECTION_ERRORS_BY_MODULE = (
    ("redis.exceptions", ("ConnectionError", "TimeoutError")),
    ("sqlalchemy.exc", ("OperationalError", "DisconnectionError")),
    ("pymysql.err", ("OperationalError", "InterfaceError")),  # Frappe's MariaDB driver
    ("MySQLdb", ("OperationalError", "InterfaceError")),  # the standalone C driver
)


def _connection_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [ConnectionError, TimeoutError, socket.timeout, socket.gaierror]
    for module_name, class_names in _CONNECTION_ERRORS_BY_MODULE:
        module = sys.modules.get(module_name)
        found += [getattr(module, name) for name in class_names if hasattr(module, name)]
    return tuple(found)


def is_connection_error(exc: BaseException) -> bool:
    """Whether `exc` says a server (Redis, the database) did not answer, rather than refused."""
    return isinstance(exc, _connection_errors())


def classification() -> tuple[tuple[tuple[type[BaseException], ...], ErrorType], ...]:
    """The table `classify` checks in order (first match wins)."""
    return (
        ((TransientError,), ErrorType.TRANSIENT),
        ((PermanentError,), ErrorType.PERMANENT),
        (_connection_errors(), ErrorType.TRANSIENT),
        (
            (ValueError, TypeError, KeyError, LookupError, AttributeError, PermissionError, NotImplementedError),
            ErrorType.PERMANENT,
        ),
    )


def classify(exc: BaseException) -> ErrorType:
    for classes, error_type in classification():
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


def delay_before_retry(
    job: dict[str, Any], error_type: ErrorType, *, base_seconds: float, cap_seconds: float
) -> timedelta | None:
    """How long the failed attempt of `job` waits before its retry, or None for Dead Letter: a
    permanent error, or retries used up (`retry_count == max_retries`, so a job runs at most
    max_retries + 1 times)."""
    if error_type is ErrorType.PERMANENT or int(job["retry_count"]) >= int(job["max_retries"]):
        return None
    return backoff_delay(int(job["retry_count"]), base_seconds=base_seconds, cap_seconds=cap_seconds)
