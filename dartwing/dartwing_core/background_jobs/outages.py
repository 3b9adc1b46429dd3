"""One log line when a service a long-running process needs stops answering, and one when it
answers again, however many retries or requests fail in between."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("dartwing.outages")


class Outage:
    """Whether `what` is known to be down; thread-safe, so concurrent requests log it once."""

    def __init__(self, what: str, meanwhile: str, logger: logging.Logger = log) -> None:
        self.what = what
        self.meanwhile = meanwhile
        self.log = logger
        self.since: float | None = None
        self._lock = threading.Lock()

    def began(self, exc: BaseException, now: float) -> None:
        with self._lock:
            if self.since is not None:
                return
            self.since = now
        self.log.warning("%s unreachable (%s): %s", self.what, _brief(exc), self.meanwhile)

    def ended(self, now: float) -> None:
        if self.since is None:  # the common case, without the lock
            return
        with self._lock:
            since, self.since = self.since, None
        if since is not None:
            self.log.warning("%s answers again after %.0fs", self.what, now - since)


def _brief(exc: BaseException) -> str:
    """The error in one short line: the driver's own error for a SQLAlchemy one, without its SQL."""
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {str(cause).splitlines()[0][:200] if str(cause) else ''}"


def quietly(action: Callable[[], Any], logger: logging.Logger = log) -> None:
    """Run a recovery step (a rollback, a reconnect) during an outage: it may fail too, and the next
    attempt of the loop that called it tells whether the service is back."""
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - recovery is best effort
        logger.debug("recovery step failed: %r", exc)
