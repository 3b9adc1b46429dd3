"""The lease heartbeat: while a handler runs, a helper thread stamps `heartbeat_at` on its row.

The thread lives exactly as long as the handler call (it is joined before the outcome is written),
writes in its own short transactions, and is fenced by the attempt like every worker write. If the
process dies, the stamps stop and the orphan sweep recovers the job.
"""

from __future__ import annotations

import logging
import threading

from .records import update_own_attempt
from .runtime import Runtime

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, rt: Runtime, job_name: str, attempt: int, interval: float):
        self._rt = rt
        self._job_name = job_name
        self._attempt = attempt
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with self._rt.background_session():
            while not self._stop.wait(self._interval):
                self.beat()

    def beat(self) -> bool:
        """Stamp the row now; False if this attempt no longer owns it (or the write failed)."""
        rt = self._rt
        try:
            owned = update_own_attempt(rt, self._job_name, self._attempt, heartbeat_at=rt.now())
            rt.commit()
            return owned
        except Exception as exc:  # noqa: BLE001 - a missed beat is retried at the next interval
            rt.rollback()
            log.warning("heartbeat of %s failed: %s", self._job_name, exc)
            return False
