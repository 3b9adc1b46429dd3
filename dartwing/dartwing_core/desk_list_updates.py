"""Desk list refreshes for Background Job, sent only to the users who may read the job.

Engine writes bypass the ORM, whose `notify_update` would send `list_update`, so the Frappe runtime
sends it. Not through `frappe.publish_realtime`: v15 routes every `list_update` to room
`doctype:<doctype>`, which `can_subscribe_doctype` opens to anyone with read permission on the DocType
(a role check, not a row check), so every tenant's Job Users would learn each job's name. Desk's list
view listens for `list_update` on its whole socket, and each v15 socket is in its user's room
`user:<user>`, so the event goes there, once per reader: the organization's active members and the
administrators (tenancy.py's rule, as `has_organization_permission` applies it to the row). The
readers are read in the transaction that changes the job; the events go out after its commit, in one
Redis round trip.
"""

from __future__ import annotations

from contextlib import suppress

import frappe
import redis
from frappe.utils.background_jobs import get_redis_connection_without_auth

from dartwing.dartwing_core.background_jobs.events import JOB_DOCTYPE
from dartwing.dartwing_core.background_jobs.tenancy import ACTIVE, ADMIN_ROLES, ADMIN_USER

_READERS = """
select p.frappe_user from `tabOrg Member` om join `tabPerson` p on p.name = om.person
where om.organization = %(organization)s and om.status = %(active)s and p.frappe_user is not null
union all
select hr.parent from `tabHas Role` hr where hr.parenttype = 'User' and hr.role in %(roles)s
"""


def readers(organization: str) -> set[str]:
    """Users who may read a job of `organization`: its active members and the administrators.

    Read once per organization per request or job (`frappe.local` lives as long as one): a job's
    claim and finish, or a request's many submits, would otherwise each read the same list.
    """
    cache = getattr(frappe.local, "dartwing_list_readers", None)
    if cache is None:
        cache = frappe.local.dartwing_list_readers = {}
    found = cache.get(organization)
    if found is None:
        rows = frappe.db.sql(
            _READERS, {"organization": organization, "active": ACTIVE, "roles": tuple(sorted(ADMIN_ROLES))}
        )
        found = cache[organization] = {row[0] for row in rows} | {ADMIN_USER}
    return found


def send_list_update(job_id: str, organization: str) -> None:
    """After the current commit, `list_update {doctype, name}` to each reader's user room."""
    users = sorted(readers(organization))
    message = {"doctype": JOB_DOCTYPE, "name": job_id}
    site = frappe.local.site

    def publish() -> None:
        with suppress(redis.exceptions.ConnectionError):  # best effort, as Frappe's own publishing
            pipe = get_redis_connection_without_auth().pipeline(transaction=False)
            for user in users:
                envelope = {"event": "list_update", "message": message, "room": f"user:{user}", "namespace": site}
                pipe.publish("events", frappe.as_json(envelope))
            pipe.execute()

    frappe.db.after_commit.add(publish)
