"""Following a job through Frappe v15's own Socket.IO server: `doc_subscribe("Background Job", <job>)`
at the site URL, checked by the site's `frappe.realtime.can_subscribe_doc` (the app's has_permission
hook: tenant-scoped), with events from a real job run by a real worker under the contract host.

The server is tests/realtime_js/harness.js in its version-15 mode; the site answers over HTTP
(frappe_host/site_server.py); the clients are socket.io-client 4.7.2 (tests/realtime_js/client.js).
"""

from __future__ import annotations

import time

import frappe
import pytest
from site_server import SiteServer

from dartwing.dartwing_core.background_jobs import submit_job
from dartwing.dartwing_core.desk_list_updates import readers

from .conftest import ALICE, BOB, OPERATOR, ORG_A, ORG_B

JOB_DOCTYPE = "Background Job"


@pytest.fixture
def site_server(site):
    server = SiteServer(site).start()
    yield server
    server.stop()


@pytest.fixture
def v15_server(site, node):
    """harness.js as Frappe v15's realtime server for the contract site: (namespace URL, its output)."""
    url, out = node.server(site.site, DARTWING_HARNESS_FRAPPE="15")
    return f"{url}/{site.site}", out


def _headers(site_server: SiteServer, **extra: str) -> dict[str, str]:
    """What v15's middleware requires: the site's URL as Origin and some Cookie header."""
    return {"Origin": site_server.url, "Cookie": "system_user=yes", **extra}


def _decision(out, kind: str, room: str, user: str) -> dict:
    return out.wait_for(lambda line: line.get(kind) == room and line.get("user") == user, message=f"{kind} {room}")


def test_members_follow_their_organizations_job_in_its_doc_room_and_other_tenants_get_nothing(
    site, site_server, v15_server, node
):
    frappe.set_user(ALICE)
    job = submit_job("progress_demo", ORG_A, {"steps": 3, "delay": 0.05})
    frappe.db.commit()
    url, server_out = v15_server
    room = f"doc:{JOB_DOCTYPE}/{job.name}"
    subscribe = [["doc_subscribe", JOB_DOCTYPE, job.name], ["doctype_subscribe", JOB_DOCTYPE]]

    alice = node.client(url, _headers(site_server, Authorization=site_server.issue_token(ALICE)), subscribe)
    bob = node.client(url, _headers(site_server, Authorization=site_server.issue_token(BOB)), subscribe)
    operator = node.client(url, _headers(site_server, Cookie=f"sid={site_server.start_session(OPERATOR)}"))
    for client in (alice, bob, operator):
        client.wait_for(lambda line: "connected" in line, message="the connection")
    assert _decision(server_out, "joined", room, ALICE)["status"] == 200
    assert _decision(server_out, "refused", room, BOB)["status"] == 403  # has_permission hook: not his tenant
    # Bob may join the DocType's room (a role check), the room Frappe's own list_update goes to.
    _decision(server_out, "joined", f"doctype:{JOB_DOCTYPE}", BOB)

    site.run_burst_worker()
    alice.wait_for(
        lambda line: line.get("event") == "job_status_changed" and line["args"][0]["to_status"] == "Completed",
        message="Completed",
    )
    changes = [(m["from_status"], m["to_status"]) for (m,) in alice.events("job_status_changed")]
    assert changes == [("Queued", "Running"), ("Running", "Completed")]  # Queued went out before she joined
    progress = [m["progress"] for (m,) in alice.events("job_progress")]
    assert progress[-1] == 100 and progress == sorted(progress)
    assert {m["job_id"] for (m,) in alice.events("job_progress") + alice.events("job_status_changed")} == {job.name}
    # Desk's list refreshes reach the job's readers in their user rooms: its member and the operator.
    updates = [{"doctype": JOB_DOCTYPE, "name": job.name}] * 2
    assert alice.events("list_update") == [[u] for u in updates]
    operator.wait_for(lambda line: len(operator.events("list_update")) == 2, message="the operator's updates")

    time.sleep(0.5)  # anything still on its way to Bob
    assert [line for line in bob.lines if "event" in line] == []
    assert operator.events("job_progress") == operator.events("job_status_changed") == []  # never subscribed


def test_connections_without_valid_credentials_are_refused_and_guests_join_nothing(
    site, site_server, v15_server, node
):
    frappe.set_user(ALICE)
    job = submit_job("echo", ORG_A, {})
    frappe.db.commit()
    url, server_out = v15_server
    subscribe = [["doc_subscribe", JOB_DOCTYPE, job.name]]

    nothing = node.client(url, _headers(site_server), subscribe)
    forged = node.client(url, _headers(site_server, Authorization="token nobody:nothing"), subscribe)
    no_cookie = node.client(url, {"Origin": site_server.url, "Authorization": site_server.issue_token(ALICE)})
    elsewhere = node.client(url, _headers(site_server, Origin="http://elsewhere.example",
                                          Authorization=site_server.issue_token(ALICE)))
    refusals = [
        client.wait_for(lambda line: "connect_error" in line, message="the refusal")["connect_error"]
        for client in (nothing, forged, no_cookie, elsewhere)
    ]
    assert "No authentication method" in refusals[0]
    assert "Unauthorized" in refusals[1]
    assert "No cookie" in refusals[2]
    assert "Invalid origin" in refusals[3]

    # v15 resumes an unknown session as Guest: connected, but the site lets Guest read no job.
    guest = node.client(url, _headers(site_server, Cookie="sid=expired"), subscribe)
    guest.wait_for(lambda line: "connected" in line, message="the Guest connection")
    assert _decision(server_out, "refused", f"doc:{JOB_DOCTYPE}/{job.name}", "Guest")["status"] == 403


def test_list_update_readers_are_the_active_members_and_the_administrators(site):
    assert readers(ORG_A) == {ALICE, OPERATOR, "Administrator"}
    assert readers(ORG_B) == {BOB, OPERATOR, "Administrator"}
    frappe.db.sql("update `tabOrg Member` set status='Inactive' where organization=%s", (ORG_A,))
    assert ALICE in readers(ORG_A)  # read once per request or job
    frappe.db.commit()
    frappe.destroy()
    site.connect()  # the next request or job reads them again
    assert readers(ORG_A) == {OPERATOR, "Administrator"}
    assert readers("Org C'; drop table `tabUser`; --") == {OPERATOR, "Administrator"}  # a bound value
