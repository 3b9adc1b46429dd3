"""A Socket.IO test client (python-socketio) and a job submitter shared by the gateway's and
handlers.js's tests."""

from __future__ import annotations

import asyncio
import time

import socketio


class Listener:
    """A python-socketio AsyncClient over websocket that records what it receives, with the time."""

    def __init__(self, url: str, *, auth=None, headers=None, namespace: str = "/", also=()):
        self.url, self.auth, self.headers, self.namespace = url, auth, headers or {}, namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, float, dict]] = []
        for name in ("job_progress", "job_status_changed", "error", *also):
            self.sio.on(name, self._recorder(name), namespace=namespace)

    def _recorder(self, name):
        def record(data):
            self.events.append((name, time.monotonic(), data))

        return record

    async def connect(self) -> Listener:
        await self.sio.connect(
            self.url,
            transports=["websocket"],
            auth=self.auth,
            headers=self.headers,
            namespaces=[self.namespace],
            wait_timeout=10,
        )
        return self

    async def call(self, event: str, data):
        return await self.sio.call(event, data, namespace=self.namespace, timeout=10)

    async def join(self, room) -> dict:
        return await self.call("join_room", room)

    def of(self, name: str, job_id: str | None = None) -> list[dict]:
        return [d for n, _, d in self.events if n == name and (job_id is None or d.get("job_id") == job_id)]

    def timed(self, name: str, job_id: str) -> list[tuple[float, dict]]:
        return [(t, d) for n, t, d in self.events if n == name and d.get("job_id") == job_id]

    def statuses(self, job_id: str) -> list[tuple[str, str]]:
        return [(d["from_status"], d["to_status"]) for d in self.of("job_status_changed", job_id)]

    async def until(self, predicate, timeout: float = 30, message: str = "events") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {message}; got {self.events}")
            await asyncio.sleep(0.02)

    async def until_status(self, job_id: str, status: str, timeout: float = 30) -> None:
        await self.until(
            lambda: any(to == status for _, to in self.statuses(job_id)), timeout, f"{job_id} {status}"
        )

    async def close(self) -> None:
        await self.sio.disconnect()


async def submit_progress_job(api, user: str, organization: str, *, steps: int, delay: float) -> str:
    """Submit a `progress_demo` job over HTTP as `user` (unique parameters: no dedup); its job id."""
    body = {
        "job_type": "progress_demo",
        "organization": organization,
        "parameters": {"steps": steps, "delay": delay, "nonce": time.time_ns()},
    }
    response = await asyncio.to_thread(api.call, "POST", "submit_job", user, json=body)
    assert response.status_code == 200, response.text
    return response.json()["message"]["job_id"]
