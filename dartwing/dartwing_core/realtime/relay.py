"""The Redis side of the gateway: read the `events` channel and hand each organization event on.

The engine's runtimes publish after commit, on the Redis channel `events`, the envelope Frappe v15's
`frappe.realtime.emit_via_redis` writes: `{"event", "message", "room", "namespace"}` (namespace is
the site name in a bench, `dartwing` standalone). Every gateway process subscribes on its own and
emits to the clients connected to it (see the package docstring for why not a Socket.IO manager).
Only the engine's rooms are relayed, `org:<organization>` and `doc:Background Job/<job>`: Frappe puts
its own Desk traffic (`all`, `user:…`, `doctype:…`, other DocTypes' `doc:…`, `task_progress:…`) on the
same channel, and none of it is for mobile clients.

Pub/sub is at-most-once: an event published while a gateway is reconnecting to Redis is lost for
that gateway's clients. The row is the truth; a client that reconnects asks `job_status`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dartwing.dartwing_core.background_jobs.events import ORG_ROOM_PREFIX, doc_room

log = logging.getLogger("dartwing.realtime")

EVENTS_CHANNEL = "events"
ROOM_PREFIX = ORG_ROOM_PREFIX
JOB_ROOM_PREFIX = doc_room("")
RELAYED_PREFIXES = (ROOM_PREFIX, JOB_ROOM_PREFIX)
# Socket.IO's own event names: an envelope naming one of them is never relayed.
RESERVED_EVENTS = frozenset({"connect", "connect_error", "disconnect", "disconnecting", "error"})


@dataclass(frozen=True)
class Envelope:
    event: str
    message: Any
    room: str
    namespace: str | None  # the publishing site (Frappe) or "dartwing" (standalone); None if absent


def parse_envelope(raw: bytes | str) -> Envelope | None:
    """The envelope if it is an organization or job event this gateway relays; None otherwise."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    event, room, namespace = data.get("event"), data.get("room"), data.get("namespace")
    if not isinstance(event, str) or not event or event in RESERVED_EVENTS:
        return None
    if not isinstance(room, str) or not any(room.startswith(p) and len(room) > len(p) for p in RELAYED_PREFIXES):
        return None
    if not isinstance(namespace, str) or not namespace.strip("/"):
        namespace = None
    return Envelope(event, data.get("message"), room, namespace.strip("/") if namespace else None)


class Relay:
    """Subscribes to `events` and awaits `deliver(envelope)` for each relayed event, in order.

    Reconnects with backoff when Redis goes away; `ready` is set while subscribed.
    """

    def __init__(self, redis_url: str, deliver: Callable[[Envelope], Awaitable[None]]):
        self._redis_url = redis_url
        self._deliver = deliver
        self.ready = asyncio.Event()
        self.relayed = 0

    async def run(self) -> None:
        backoff = 0.1
        while True:
            client = aioredis.Redis.from_url(self._redis_url, health_check_interval=30)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(EVENTS_CHANNEL)
                self.ready.set()
                if backoff > 0.1:
                    log.info("realtime relay: subscribed to %r again", EVENTS_CHANNEL)
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None or message.get("type") != "message":
                        continue
                    envelope = parse_envelope(message["data"])
                    if envelope is None:
                        continue
                    try:
                        await self._deliver(envelope)
                        self.relayed += 1
                    except Exception:  # noqa: BLE001 - one bad event must not stop the relay
                        log.exception(
                            "realtime relay: could not deliver %s to %s", envelope.event, envelope.room
                        )
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.ready.clear()
                log.warning("realtime relay: Redis unavailable (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.ready.clear()
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except (RedisError, OSError):
                    pass
