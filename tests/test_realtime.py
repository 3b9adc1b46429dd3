"""The realtime gateway as a Flutter client sees it: real gateway processes (`dartwing-jobs realtime`),
the real API server, real workers, a real redis-server and python-socketio clients over websocket.

The gateway never touches the database (it asks the API server), so these run on the SQLite store
only; the API server and the workers are tested on MariaDB elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import socketio
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B, free_port, stop_processes, wait_for
from sio_listener import Listener, submit_progress_job

from dartwing.dartwing_core.realtime import RealtimeConfig
from dartwing.dartwing_core.realtime.app import Gateway
from dartwing.dartwing_core.realtime.auth import Credentials, credentials_from
from dartwing.dartwing_core.realtime.relay import parse_envelope
from dartwing.dartwing_core.standalone import admin

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

THROTTLE = 0.25  # DARTWING_PROGRESS_THROTTLE_SECONDS's default, which the workers use
ROOM_A, ROOM_B = f"org:{ORG_A}", f"org:{ORG_B}"


class Gateways:
    """`dartwing-jobs realtime` processes; stopped (by PID) at teardown."""

    def __init__(self, rt, api_url: str):
        self.env = {**os.environ, **rt.config.environ()}
        self.api_url = api_url
        self.processes: list[subprocess.Popen] = []

    def start(self, *extra: str) -> str:
        port = free_port()
        cmd = [sys.executable, "-m", "dartwing.dartwing_core.standalone.cli", "realtime"]
        cmd += ["--port", str(port), "--api-url", self.api_url, *extra]
        self.processes.append(subprocess.Popen(cmd, env=self.env, stderr=subprocess.DEVNULL))
        url = f"http://127.0.0.1:{port}"

        def subscribed():
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(subscribed, timeout=60, message="the gateway to subscribe to Redis")
        return url

    def stop_all(self) -> None:
        stop_processes(self.processes)


@pytest.fixture
def gateways(rt, api):
    pool = Gateways(rt, str(api.client.base_url))
    yield pool
    pool.stop_all()


def token_of(api, user: str) -> str:
    return api.tokens[user].removeprefix("token ")


async def submit(api, user=ALICE, organization=ORG_A, steps=20, delay=0.05) -> str:
    return await submit_progress_job(api, user, organization, steps=steps, delay=delay)


async def history(api, job_id: str, user=ALICE) -> list[tuple[str | None, str]]:
    response = await asyncio.to_thread(api.call, "GET", "get_job_history", user, params={"job_id": job_id})
    return [(h["from_status"], h["to_status"]) for h in response.json()["message"]]


@sqlite_only
def test_member_follows_a_job_live_in_both_namespaces_and_outsiders_see_nothing(api, gateways, workers):
    workers.start()
    url = gateways.start()

    async def scenario():
        alice = await Listener(url, auth={"token": token_of(api, ALICE)}).connect()
        # Frappe's own client connects to /<site>; the standalone runtime's site is "dartwing".
        alice_site = await Listener(url, auth={"token": api.tokens[ALICE]}, namespace="/dartwing").connect()
        bob = await Listener(url, headers={"Authorization": api.tokens[BOB]}).connect()
        assert await alice.join(ROOM_A) == {"room": ROOM_A, "joined": True, "reason": None}
        assert (await alice_site.join({"room": ROOM_A}))["joined"] is True
        refused = await bob.join(ROOM_A)
        assert refused["joined"] is False and ORG_A in refused["reason"]
        assert (await bob.join(ROOM_B))["joined"] is True

        job_id = await submit(api)
        await alice.until_status(job_id, "Completed")
        await alice_site.until_status(job_id, "Completed")
        await asyncio.sleep(0.3)  # anything late for bob would have arrived by now

        # Every status change, in order, exactly as the job's history records them after submit.
        expected = (await history(api, job_id))[1:]
        assert expected == [("Pending", "Queued"), ("Queued", "Running"), ("Running", "Completed")]
        assert alice.statuses(job_id) == expected
        assert alice_site.statuses(job_id) == expected

        # Progress: 0 first, 100 last, rising, published at most once per throttle interval (the
        # final 100 is always sent), and never before Running or after Completed.
        progress = alice.timed("job_progress", job_id)
        values = [d["progress"] for _, d in progress]
        assert values[0] == 0 and values[-1] == 100 and values == sorted(values)
        assert 3 <= len(values) < 21, values  # 21 updates reported, the throttle let only some out
        stamps = [datetime.fromisoformat(d["updated_at"]).timestamp() for _, d in progress]
        assert all(b - a >= THROTTLE - 0.01 for a, b in zip(stamps[:-2], stamps[1:-1], strict=True)), stamps
        arrivals = [t for t, _ in progress]
        assert all(b - a >= THROTTLE - 0.1 for a, b in zip(arrivals[:-2], arrivals[1:-1], strict=True))
        order = [n for n, _, d in alice.events if d.get("job_id") == job_id]
        first, last = order.index("job_progress"), len(order) - 1 - order[::-1].index("job_progress")
        assert order[:first] == ["job_status_changed"] * 2 and order[last + 1 :] == ["job_status_changed"]
        assert alice_site.of("job_progress", job_id) == alice.of("job_progress", job_id)

        # Bob (a member of B only) was told why, and saw none of A's events.
        assert bob.of("error") == [{"event": "join_room", "room": ROOM_A, "reason": refused["reason"]}]
        assert [n for n, _, _ in bob.events] == ["error"]

        for listener in (alice, alice_site, bob):
            await listener.close()

    asyncio.run(scenario())


@sqlite_only
def test_connections_without_valid_credentials_are_refused(api, gateways):
    url = gateways.start()
    key, secret = token_of(api, ALICE).split(":")

    async def refused(**kwargs) -> bool:
        try:
            listener = await Listener(url, **kwargs).connect()
        except socketio.exceptions.ConnectionError:
            return True
        await listener.close()
        return False

    async def scenario():
        assert await refused()  # no credentials at all
        assert await refused(auth={"token": f"{key}:{secret[::-1]}"})  # wrong secret
        assert await refused(auth={"token": f"{key[::-1]}:{secret}"})  # unknown key
        assert await refused(headers={"Authorization": f"token {key}:nope"})
        assert await refused(auth={"token": "no-colon"})
        assert await refused(headers={"Cookie": "sid=not-a-session"})  # the standalone server has no sessions
        # The same key and secret in each accepted spelling is let in.
        assert not await refused(auth={"token": f"{key}:{secret}"})
        assert not await refused(auth={"token": f"token {key}:{secret}"})
        assert not await refused(headers={"Authorization": f"token {key}:{secret}"})
        # Only org rooms can be joined.
        alice = await Listener(url, auth={"token": f"{key}:{secret}"}).connect()
        answer = await alice.join("all")
        assert answer["joined"] is False and "org:<organization>" in answer["reason"]
        await alice.until(lambda: alice.of("error"), message="the error event")
        await alice.close()

    asyncio.run(scenario())


@sqlite_only
def test_two_gateway_processes_both_deliver_to_their_clients(api, gateways, workers):
    workers.start()
    first, second = gateways.start(), gateways.start()

    async def scenario():
        on_first = await Listener(first, auth={"token": token_of(api, ALICE)}).connect()
        on_second = await Listener(second, auth={"token": token_of(api, ADMIN)}).connect()
        assert (await on_first.join(ROOM_A))["joined"] and (await on_second.join(ROOM_A))["joined"]
        job_id = await submit(api, steps=4, delay=0.05)
        await on_first.until_status(job_id, "Completed")
        await on_second.until_status(job_id, "Completed")
        assert on_first.statuses(job_id) == on_second.statuses(job_id)
        assert on_first.of("job_progress", job_id) == on_second.of("job_progress", job_id)
        assert len(on_first.statuses(job_id)) == 3
        await on_first.close()
        await on_second.close()

    asyncio.run(scenario())


@sqlite_only
def test_a_client_that_reconnects_mid_job_gets_the_final_status(api, gateways, workers):
    workers.start()
    url = gateways.start()
    auth = {"token": token_of(api, ALICE)}

    async def scenario():
        alice = await Listener(url, auth=auth).connect()
        await alice.join(ROOM_A)
        job_id = await submit(api, steps=10, delay=0.1)
        await alice.until(lambda: alice.of("job_progress", job_id), message="the first progress event")
        await alice.close()  # the socket drops mid-job

        def completed():
            view = api.call("GET", "get_job_status", params={"job_id": job_id}).json()["message"]
            return view["status"] == "Completed"

        await asyncio.to_thread(wait_for, completed, 30, 0.1, "the job to complete")
        assert ("Running", "Completed") not in alice.statuses(job_id)  # it was missed while away

        again = await Listener(url, auth=auth).connect()
        await again.join(ROOM_A)
        answer = await again.call("job_status", job_id)
        status = answer["message"]
        assert status["job_id"] == job_id and status["status"] == "Completed" and status["progress"] == 100
        assert status["output_reference"] == "steps:10"
        # Another organization's job, or none at all, answers like the API does: 404 without details.
        assert (await again.call("job_status", {"job_id": "JOB-2000-99999"}))["http_status"] == 404
        await again.close()

    asyncio.run(scenario())


@sqlite_only
def test_a_member_removed_from_the_organization_stops_receiving_its_events(api, gateways, workers, rt):
    workers.start()
    url = gateways.start("--recheck-seconds", "1", "--auth-cache-seconds", "0.5")

    async def scenario():
        alice = await Listener(url, auth={"token": token_of(api, ALICE)}).connect()
        watcher = await Listener(url, auth={"token": token_of(api, ADMIN)}).connect()
        assert (await alice.join(ROOM_A))["joined"] and (await watcher.join(ROOM_A))["joined"]

        admin.add_member(rt, ALICE, ORG_A, status="Inactive")
        rt.commit()
        await alice.until(lambda: alice.of("error"), timeout=10, message="the membership_check error")
        (error,) = alice.of("error")
        assert error["event"] == "membership_check" and error["room"] == ROOM_A

        job_id = await submit(api, user=ADMIN, steps=2, delay=0.01)
        await watcher.until_status(job_id, "Completed")
        await asyncio.sleep(0.3)
        assert alice.of("job_status_changed", job_id) == [] and alice.of("job_progress", job_id) == []
        refused = await alice.join(ROOM_A)
        assert refused["joined"] is False
        await alice.close()
        await watcher.close()

    asyncio.run(scenario())


JOB_DOCTYPE = "Background Job"


async def doc_subscribe(listener: Listener, *args) -> dict:
    """Frappe v15's call: `doc_subscribe(doctype, docname)` (positional), or one dict."""
    return await listener.sio.call("doc_subscribe", args, namespace=listener.namespace, timeout=10)


@sqlite_only
def test_doc_subscribe_follows_one_job_as_on_frappe_v15_and_other_tenants_stay_out(api, gateways, workers):
    url = gateways.start()
    wrong_document = "only Background Job documents can be subscribed to"

    async def scenario():
        job_id = await submit(api, steps=4, delay=0.05)
        left = await submit(api, steps=2, delay=0.01)
        bobs_job = await submit(api, user=BOB, organization=ORG_B, steps=2, delay=0.01)
        room = f"doc:{JOB_DOCTYPE}/{job_id}"
        alice = await Listener(url, headers={"Authorization": api.tokens[ALICE]}, namespace="/dartwing").connect()
        watcher = await Listener(url, auth={"token": token_of(api, ADMIN)}).connect()
        bob = await Listener(url, auth={"token": token_of(api, BOB)}).connect()

        assert await doc_subscribe(alice, JOB_DOCTYPE, job_id) == {"room": room, "joined": True, "reason": None}
        for followed in (job_id, left):
            assert (await doc_subscribe(watcher, {"doctype": JOB_DOCTYPE, "docname": followed}))["joined"] is True
        theirs = await doc_subscribe(bob, JOB_DOCTYPE, job_id)  # another tenant's job: as if unknown
        assert theirs == {"room": room, "joined": False, "reason": f"job {job_id} not found"}
        unknown = await doc_subscribe(bob, JOB_DOCTYPE, "JOB-2000-99999")
        assert unknown["joined"] is False and unknown["reason"] == "job JOB-2000-99999 not found"
        wrongs = ((ORG_A,), ("User", ALICE), (JOB_DOCTYPE, ""), (JOB_DOCTYPE, "x" * 141), ({"docname": job_id},))
        for wrong in wrongs:
            assert await doc_subscribe(bob, *wrong) == {"room": None, "joined": False, "reason": wrong_document}
        assert (await doc_subscribe(bob, JOB_DOCTYPE, bobs_job))["joined"] is True
        # doc_unsubscribe leaves before the job runs: none of its events reach Alice.
        assert (await doc_subscribe(alice, JOB_DOCTYPE, left))["joined"] is True
        assert await alice.sio.call("doc_unsubscribe", (JOB_DOCTYPE, left), namespace="/dartwing") == {
            "room": f"doc:{JOB_DOCTYPE}/{left}",
            "joined": False,
            "reason": None,
        }

        workers.start()
        await alice.until_status(job_id, "Completed")
        await watcher.until_status(job_id, "Completed")
        await bob.until_status(bobs_job, "Completed")
        await watcher.until_status(left, "Completed")
        await asyncio.sleep(0.3)  # anything late for Alice or Bob would have arrived by now
        assert alice.statuses(job_id) == [("Queued", "Running"), ("Running", "Completed")]  # once each
        progress = [d["progress"] for d in alice.of("job_progress", job_id)]
        assert progress[0] == 0 and progress[-1] == 100 and progress == sorted(progress)
        assert watcher.of("job_progress", job_id) == alice.of("job_progress", job_id)
        assert {d["job_id"] for _, _, d in alice.events} == {job_id}  # a doc room carries one job's events
        assert {d["job_id"] for n, _, d in bob.events if n != "error"} == {bobs_job}
        assert bob.of("error") == [
            {"event": "doc_subscribe", "room": room, "reason": theirs["reason"]},
            {"event": "doc_subscribe", "room": unknown["room"], "reason": unknown["reason"]},
        ] + [{"event": "doc_subscribe", "room": None, "reason": wrong_document}] * len(wrongs)
        for listener in (alice, watcher, bob):
            await listener.close()

    asyncio.run(scenario())


@sqlite_only
def test_a_member_removed_from_the_organization_leaves_its_jobs_doc_rooms(api, gateways, rt):
    url = gateways.start("--recheck-seconds", "1", "--auth-cache-seconds", "0.5")

    async def scenario():
        job_id = await submit(api, steps=2, delay=0.01)
        alice = await Listener(url, auth={"token": token_of(api, ALICE)}).connect()
        assert (await doc_subscribe(alice, JOB_DOCTYPE, job_id))["joined"] is True
        admin.add_member(rt, ALICE, ORG_A, status="Inactive")
        rt.commit()
        await alice.until(lambda: alice.of("error"), timeout=10, message="the membership_check error")
        assert alice.of("error") == [
            {"event": "membership_check", "room": f"doc:{JOB_DOCTYPE}/{job_id}", "reason": f"job {job_id} not found"}
        ]
        assert (await doc_subscribe(alice, JOB_DOCTYPE, job_id))["joined"] is False
        await alice.close()

    asyncio.run(scenario())


# --- the pieces on their own (no processes) ----------------------------------------------------


def test_credentials_come_from_the_auth_payload_the_header_or_the_sid_cookie():
    assert credentials_from({}, {"token": "k:s"}) == Credentials(authorization="token k:s")
    assert credentials_from({}, {"token": "token k:s"}) == Credentials(authorization="token k:s")
    assert credentials_from({}, {"token": "nonsense"}) is None
    header = {"HTTP_AUTHORIZATION": "token k:s", "HTTP_COOKIE": "sid=abc"}
    assert credentials_from(header, None) == Credentials(authorization="token k:s")
    assert credentials_from(header, {"token": "x:y"}) == Credentials(authorization="token x:y")
    assert credentials_from({"HTTP_COOKIE": "full_name=A; sid=abc123"}, {}) == Credentials(sid="abc123")
    assert credentials_from({"HTTP_COOKIE": "sid=Guest"}, None) is None
    assert credentials_from({}, None) is None
    assert Credentials(sid="abc").headers() == {"Cookie": "sid=abc"}


def test_only_organization_events_are_relayed_and_namespaces_follow_the_site():
    def envelope(**fields):
        return parse_envelope(
            __import__("json").dumps({"event": "job_progress", "message": {}, "room": ROOM_A, **fields})
        )

    assert envelope().namespace is None
    assert envelope(namespace="site1.local").namespace == "site1.local"
    assert envelope(room="all") is None and envelope(room="user:x") is None and envelope(room="org:") is None
    assert envelope(room="doc:Background Job/JOB-1").room == "doc:Background Job/JOB-1"
    assert envelope(room="doc:Background Job/") is None and envelope(room="doc:User/alice") is None
    assert envelope(event="disconnect") is None and envelope(event="error") is None
    assert parse_envelope(b"not json") is None

    single = Gateway(RealtimeConfig(redis_url="redis://unused"))
    assert single.namespaces_for(envelope(namespace="dartwing")) == ["/", "/dartwing"]
    assert single.namespaces_for(envelope()) == ["/"]
    bench = Gateway(RealtimeConfig(redis_url="redis://unused", site="site1.local"))
    assert bench.namespaces_for(envelope(namespace="site1.local")) == ["/", "/site1.local"]
    assert bench.namespaces_for(envelope(namespace="site2.local")) == []  # another site's tenants
    assert bench.config.accepts_namespace("/site1.local") and not bench.config.accepts_namespace(
        "/site2.local"
    )


@sqlite_only
def test_the_readme_client_follows_a_job_to_the_end(api, gateways, workers):
    """examples/follow_job.py, which the README shows, run as a user would run it."""
    workers.start()
    url = gateways.start()
    job_id = asyncio.run(submit(api, steps=5, delay=0.2))
    client = Path(__file__).resolve().parent.parent / "examples" / "follow_job.py"
    done = subprocess.run(
        [sys.executable, str(client), url, token_of(api, ALICE), ORG_A, job_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (
        f"Job {job_id} changed to Completed steps:5" in done.stdout
        or f"Job {job_id} is Completed" in done.stdout
    )
    assert "'joined': True" in done.stdout
    code = client.read_text().split('"""', 2)[2].strip()
    readme = (client.parent.parent / "README.md").read_text()
    assert code in readme, "the README shows examples/follow_job.py as it is"
