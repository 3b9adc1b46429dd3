"""Realtime gateway: relays job events from the Redis `events` channel to Socket.IO rooms `org:<org>`
(joined with `join_room`) and `doc:Background Job/<job>` (joined with `doc_subscribe`, as on Frappe v15).

    engine (worker, API) --after commit--> Redis PUBLISH events {event, message, room, namespace}
                                                   |
                  +--------------------------------+--------------------------------+
                  |                                                                 |
        gateway process 1 (SUBSCRIBE events)                          gateway process 2 (SUBSCRIBE events)
        emits to *its own* sockets in the room                        emits to *its own* sockets in the room

Modules: `config` (settings), `auth` (credentials and the cached calls to the API host), `relay`
(the Redis subscriber and the envelope), `app` (the python-socketio ASGI app, socket handlers and
membership re-check; `serve` runs it on uvicorn). `dartwing-jobs realtime` starts one process.

Fan-out across gateway processes — why each process subscribes to `events` itself rather than
using python-socketio's `AsyncRedisManager`:

- The events already arrive through Redis pub/sub, from Frappe's `publish_realtime` and from the
  standalone runtime, in Frappe's envelope. Every process subscribing to that channel and emitting
  to its local sockets is one Redis hop: the publisher's PUBLISH reaches each gateway directly.
- With the Redis manager, a gateway's `emit` is itself published on the manager's own channel and
  re-emitted by every process. If every gateway relayed `events` through it, each event would be
  delivered once per gateway process (duplicates); avoiding that needs a single elected relay
  process — a second hop on every event and a single point of failure.
- The manager's other feature, emitting to or moving sockets held by another process, is never
  needed here: a socket joins rooms only through its own `join_room` or `doc_subscribe`, handled by
  the process that holds it, and the re-check runs in that same process.
- This is what Frappe's own Socket.IO server does (each node process subscribes to `events`).

So gateways share nothing but Redis, can be added or removed at any time, and need no sticky
sessions as long as clients use the websocket transport (the Flutter client does); with HTTP
long-polling, put each gateway on its own upstream or use sticky sessions (e.g. nginx `ip_hash`).
"""

from __future__ import annotations

from .config import RealtimeConfig

__all__ = ["RealtimeConfig", "create_app", "serve"]


def create_app(config: RealtimeConfig):
    from .app import create_app as _create_app

    return _create_app(config)


def serve(config: RealtimeConfig, **kwargs) -> None:
    from .app import serve as _serve

    _serve(config, **kwargs)
