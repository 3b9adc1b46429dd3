"""realtime/handlers.js, the app's handlers for Frappe's own Socket.IO server, mounted the way Frappe
mounts them (tests/realtime_js/harness.js: a namespace per site, Frappe's authentication checks,
the `events` channel relayed to rooms) in front of the real standalone API server, real workers and
the run's own redis-server, with python-socketio clients over websocket and one Node
socket.io-client (the client Frappe's Desk uses).

The clients send what a client of a bench's Socket.IO server must send (see authenticate.js): the
site's URL as Origin, a Cookie header, and `Authorization: token key:secret` (or a `sid` cookie).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import socketio
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B
from node_harness import HARNESS_DIR
from sio_listener import Listener, submit_progress_job

from dartwing.dartwing_core.standalone import admin

ROOT = Path(__file__).resolve().parent.parent
SITE = "dartwing"  # the standalone runtime's namespace: its envelopes say {"namespace": "dartwing"}
NAMESPACE = f"/{SITE}"
ROOM_A, ROOM_B = f"org:{ORG_A}", f"org:{ORG_B}"
COOKIE = "system_user=no"  # authenticate.js refuses a handshake without any Cookie header

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class Client(Listener):
    """A Socket.IO client on the site's namespace, with the headers Frappe's authenticate.js reads."""

    def __init__(self, url: str, origin: str, *, token: str | None, cookie: str | None = COOKIE, **kw):
        headers = {"Origin": kw.pop("origin_header", origin)}
        if cookie:
            headers["Cookie"] = cookie
        if token:
            headers["Authorization"] = token
        super().__init__(
            url, headers=headers, namespace=kw.pop("namespace", NAMESPACE), also=("job_status", "connect_error")
        )


async def refusal(url: str, origin: str, **kwargs) -> str | None:
    """The connect_error's message, or None when the connection was accepted."""
    client = Client(url, origin, **kwargs)
    try:
        await client.connect()
    except socketio.exceptions.ConnectionError as exc:
        return json.dumps(client.of("connect_error")) or str(exc)
    await client.close()
    return None


async def submit(api, user=ALICE, organization=ORG_A, steps=4, delay=0.02) -> str:
    return await submit_progress_job(api, user, organization, steps=steps, delay=delay)


@sqlite_only
def test_members_follow_jobs_in_their_room_and_nobody_else_does(api, node, workers):
    workers.start()
    url = node.server(SITE)[0]
    origin = str(api.client.base_url)  # the site's URL: where handlers.js asks, as the client

    async def scenario():
        alice = await Client(url, origin, token=api.tokens[ALICE]).connect()
        watcher = await Client(url, origin, token=api.tokens[ADMIN]).connect()
        bob = await Client(url, origin, token=api.tokens[BOB]).connect()

        assert await alice.call("join_room", ROOM_A) == {"room": ROOM_A, "joined": True, "reason": None}
        assert (await watcher.call("join_room", {"room": ROOM_A}))["joined"] is True
        refused = await bob.call("join_room", ROOM_A)
        assert refused["joined"] is False and refused["room"] == ROOM_A and ORG_A in refused["reason"]
        assert (await bob.call("join_room", ROOM_B))["joined"] is True
        not_org = await alice.call("join_room", "all")
        assert not_org == {
            "room": "all",
            "joined": False,
            "reason": "only rooms named org:<organization> can be joined",
        }

        # A real job, run by a real worker: every transition after commit reaches the room.
        job_id = await submit(api)
        await alice.until(lambda: ("Running", "Completed") in alice.statuses(job_id), message="Completed")
        assert alice.statuses(job_id) == [
            ("Pending", "Queued"),
            ("Queued", "Running"),
            ("Running", "Completed"),
        ]
        progress = [d["progress"] for d in alice.of("job_progress", job_id)]
        assert progress and progress[-1] == 100 and progress == sorted(progress)
        assert set(alice.of("job_progress", job_id)[-1]) >= {"job_id", "status", "progress", "updated_at"}

        # job_status as the caller: her own job; another tenant's job is "not found", like the API.
        mine = await alice.call("job_status", job_id)
        assert mine["message"]["job_id"] == job_id and mine["message"]["status"] == "Completed"
        theirs = await bob.call("job_status", {"job_id": job_id})
        assert theirs["http_status"] == 404 and "message" not in theirs
        assert (await bob.call("job_status", ""))["http_status"] == 400

        # After leave_room, nothing more arrives (the watcher, still in the room, sees the next job).
        assert await alice.call("leave_room", ROOM_A) == {"room": ROOM_A, "joined": False, "reason": None}
        seen = len(alice.events)
        second = await submit(api)
        await watcher.until(lambda: ("Running", "Completed") in watcher.statuses(second), message="second")
        await asyncio.sleep(0.3)
        assert alice.events[seen:] == []

        # Bob, a member of B only, got his refusals as error events and none of A's events.
        await asyncio.sleep(0.2)
        assert bob.of("error") == [{"event": "join_room", "room": ROOM_A, "reason": refused["reason"]}]
        assert [n for n, _, _ in bob.events] == ["error"]
        assert alice.of("error") == [{"event": "join_room", "room": "all", "reason": not_org["reason"]}]
        for client in (alice, watcher, bob):
            await client.close()

    asyncio.run(scenario())


@sqlite_only
def test_frappe_authentication_rules_and_the_handlers_without_socket_frappe_request(api, node):
    """Version-15's middleware puts no frappe_request on the socket: handlers.js then asks the site
    (the Origin) itself with the credentials the middleware kept."""
    url = node.server(SITE, DARTWING_HARNESS_NO_FRAPPE_REQUEST="1")[0]
    origin = str(api.client.base_url)
    key, secret = api.tokens[ALICE].removeprefix("token ").split(":")

    async def scenario():
        assert "No authentication method" in await refusal(url, origin, token=None)
        assert "Unauthorized" in await refusal(url, origin, token=f"token {key}:{secret[::-1]}")
        assert "Unauthorized" in await refusal(url, origin, token=None, cookie="sid=not-a-session")
        assert "No cookie" in await refusal(url, origin, token=api.tokens[ALICE], cookie=None)
        assert "Invalid origin" in await refusal(
            url, origin, token=api.tokens[ALICE], origin_header="http://elsewhere.example"
        )
        assert "Invalid namespace" in await refusal(url, origin, token=api.tokens[ALICE], namespace="/other")
        assert await refusal(url, origin, token=api.tokens[ALICE]) is None

        alice = await Client(url, origin, token=api.tokens[ALICE]).connect()
        bob = await Client(url, origin, token=api.tokens[BOB]).connect()
        assert (await alice.call("join_room", ROOM_A))["joined"] is True
        assert (await bob.call("join_room", ROOM_A))["joined"] is False
        # No worker runs: the submit's own commit publishes Pending -> Queued.
        job_id = await submit(api)
        await alice.until(lambda: alice.statuses(job_id), message="the Queued event")
        assert alice.statuses(job_id) == [("Pending", "Queued")]
        assert (await alice.call("job_status", job_id))["message"]["status"] == "Queued"
        assert (await bob.call("job_status", job_id))["http_status"] == 404
        # Without an acknowledgement callback the answer comes as a `job_status` event.
        await bob.sio.emit("job_status", job_id, namespace=NAMESPACE)
        await bob.until(lambda: bob.of("job_status"), message="the job_status event")
        assert bob.of("job_status")[0]["http_status"] == 404
        await asyncio.sleep(0.2)
        assert bob.of("job_status_changed") == []
        await alice.close()
        await bob.close()

    asyncio.run(scenario())


@sqlite_only
def test_a_removed_member_is_dropped_from_the_room_at_the_next_recheck(api, node, rt):
    url = node.server(SITE, DARTWING_REALTIME_RECHECK_SECONDS="0.5")[0]
    origin = str(api.client.base_url)

    async def scenario():
        alice = await Client(url, origin, token=api.tokens[ALICE]).connect()
        watcher = await Client(url, origin, token=api.tokens[ADMIN]).connect()
        assert (await alice.call("join_room", ROOM_A))["joined"] and (
            await watcher.call("join_room", ROOM_A)
        )["joined"]
        admin.add_member(rt, ALICE, ORG_A, status="Inactive")
        rt.commit()
        await alice.until(lambda: alice.of("error"), timeout=5, message="the membership_check error")
        assert alice.of("error") == [
            {"event": "membership_check", "room": ROOM_A, "reason": f"not an active member of {ORG_A}"}
        ]
        job_id = await submit(api, user=ADMIN)
        await watcher.until(lambda: watcher.statuses(job_id), message="the watcher's event")
        await asyncio.sleep(0.3)
        assert alice.of("job_status_changed") == []
        await alice.close()
        await watcher.close()

    asyncio.run(scenario())


@sqlite_only
def test_frappe_desk_socket_io_client_joins_and_asks(api, node):
    """socket.io-client 4.7.2 (Frappe v15's) from Node, with the headers a bench expects."""
    url = node.server(SITE)[0]
    origin = str(api.client.base_url)
    script = r"""
const { io } = require("socket.io-client");
const [url, origin, token, room] = process.argv.slice(1);
const socket = io(url, { transports: ["websocket"], extraHeaders: { Origin: origin, Cookie: "a=b", Authorization: token } });
socket.on("connect_error", (err) => { console.log(JSON.stringify({ connect_error: err.message })); process.exit(0); });
socket.on("connect", async () => {
  const joined = await socket.timeout(5000).emitWithAck("join_room", room);
  const status = await socket.timeout(5000).emitWithAck("job_status", "JOB-2000-99999");
  console.log(JSON.stringify({ joined, status }));
  socket.close();
});
"""
    done = subprocess.run(
        ["node", "-e", script, f"{url}{NAMESPACE}", origin, api.tokens[BOB], ROOM_B],
        cwd=HARNESS_DIR,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["joined"] == {"room": ROOM_B, "joined": True, "reason": None}
    assert answer["status"]["http_status"] == 404


def test_handlers_module_loads_with_plain_node():
    """handlers.js needs nothing but Node: it loads outside the harness, with no node_modules."""
    if not shutil.which("node"):
        pytest.fail("node (18+) is needed to test realtime/handlers.js")
    done = subprocess.run(
        [
            "node",
            "-e",
            "const h = require(process.argv[1]); console.log(typeof h, h.length)",
            str(ROOT / "realtime" / "handlers.js"),
        ],
        capture_output=True,
        text=True,
        timeout=20,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["function", "2"]
