"""FrappeTestCase tests, run inside a real bench: `bench --site <site> run-tests --app dartwing`.

Under plain pytest (no bench) the module is skipped: Frappe is not importable there.
"""

import unittest

try:
    import frappe
    from frappe.tests.utils import FrappeTestCase
except ImportError as exc:  # plain pytest in CI: the PyPI 'frappe' name is an empty placeholder
    raise unittest.SkipTest(f"Frappe is not available: {exc}") from None

from dartwing.dartwing_core.api import jobs as api
from dartwing.dartwing_core.background_jobs import (
    JobNotFoundError,
    NotPermittedError,
    get_job_status,
    submit_job,
)
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.background_jobs.scheduler import every_five_minutes, every_minute
from dartwing.dartwing_core.permissions import background_job_query

ORG_A, ORG_B = "_Test Dartwing Org A", "_Test Dartwing Org B"
USER_A, USER_B = "dartwing-a@example.com", "dartwing-b@example.com"


def _ensure(doctype, name, **fields):
    if not frappe.db.exists(doctype, name):
        frappe.get_doc({"doctype": doctype, **fields}).insert(ignore_permissions=True)


def _member(user, organization):
    if not frappe.db.exists("User", user):
        frappe.get_doc(
            {
                "doctype": "User",
                "email": user,
                "first_name": user.split("@")[0],
                "send_welcome_email": 0,
                "roles": [{"role": "Job User"}],
            }
        ).insert(ignore_permissions=True)
    person = frappe.db.get_value("Person", {"frappe_user": user})
    if not person:
        person = (
            frappe.get_doc({"doctype": "Person", "first_name": user.split("@")[0], "frappe_user": user})
            .insert(ignore_permissions=True)
            .name
        )
    if not frappe.db.exists("Org Member", {"person": person, "organization": organization}):
        frappe.get_doc(
            {"doctype": "Org Member", "person": person, "organization": organization, "status": "Active"}
        ).insert(ignore_permissions=True)


class TestBackgroundJobs(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for org in (ORG_A, ORG_B):
            _ensure("Organization", org, organization_name=org, status="Active")
        _member(USER_A, ORG_A)
        _member(USER_B, ORG_B)
        frappe.db.commit()

    def tearDown(self):
        frappe.set_user("Administrator")

    def _submit(self, user, org, **params):
        frappe.set_user(user)
        job = submit_job("echo", org, {"test": frappe.generate_hash(length=8), **params})
        frappe.db.commit()  # the after-commit hand-off queues it
        return job

    def test_submit_then_worker_completes_it(self):
        job = self._submit(USER_A, ORG_A)
        self.assertEqual(get_job_status(job.name).status, "Queued")
        frappe.set_user("Administrator")
        self.assertEqual(run_job(job.name, 0), "Completed")  # what `bench worker` runs for the message
        view = get_job_status(job.name)
        self.assertEqual(view.status, "Completed")
        self.assertEqual(view.progress, 100)
        log = frappe.get_all(
            "Job Execution Log",
            filters={"background_job": job.name},
            pluck="to_status",
            order_by="timestamp asc, name asc",
        )
        self.assertEqual(log, ["Pending", "Queued", "Running", "Completed"])

    def test_tenancy_across_two_organizations(self):
        job_a = self._submit(USER_A, ORG_A)
        frappe.set_user(USER_B)
        with self.assertRaises(NotPermittedError):
            submit_job("echo", ORG_A, {"x": 1})
        with self.assertRaises(JobNotFoundError):
            get_job_status(job_a.name)
        self.assertNotIn(job_a.name, frappe.get_list("Background Job", pluck="name"))
        self.assertFalse(frappe.has_permission("Background Job", doc=job_a.name, user=USER_B))
        self.assertIn(frappe.db.escape(ORG_B), background_job_query(USER_B))
        frappe.set_user(USER_A)
        self.assertIn(job_a.name, frappe.get_list("Background Job", pluck="name"))

    def test_api_endpoints(self):
        frappe.set_user(USER_A)
        submitted = api.submit_job(job_type="echo", organization=ORG_A, parameters='{"api": 1}')
        frappe.db.commit()
        job_id = submitted["job_id"]
        self.assertEqual(api.get_job_status(job_id=job_id)["status"], "Queued")
        self.assertIn(job_id, [j["job_id"] for j in api.list_jobs(organization=ORG_A, limit=100)])
        self.assertEqual(api.cancel_job(job_id=job_id)["status"], "Canceled")
        self.assertEqual([h["to_status"] for h in api.get_job_history(job_id=job_id)][-1], "Canceled")
        self.assertIn("job_count_by_status", api.get_job_metrics())
        self.assertTrue(api.check_realtime_room(room=f"org:{ORG_A}")["allowed"])
        self.assertFalse(api.check_realtime_room(room=f"org:{ORG_B}")["allowed"])
        with self.assertRaises(NotPermittedError):
            api.retry_job(job_id=job_id)
        frappe.set_user("Administrator")
        self.assertEqual(api.retry_job(job_id=job_id)["status"], "Queued")

    def test_desk_edits_follow_the_transition_table(self):
        job = self._submit(USER_A, ORG_A)
        frappe.set_user("Administrator")
        doc = frappe.get_doc("Background Job", job.name)
        doc.status = "Completed"  # Queued → Completed skips Running
        self.assertRaises(frappe.ValidationError, doc.save)

    def test_job_type_handler_must_import(self):
        doc = frappe.get_doc(
            {"doctype": "Job Type", "type_name": "_test_broken", "handler_method": "no.such.module.fn"}
        )
        self.assertRaises(frappe.ValidationError, doc.insert)

    def test_scheduler_functions(self):
        self._submit(USER_A, ORG_A)
        self.assertEqual(set(every_minute()), {"retries", "orphans", "delayed", "outbox", "schedules", "rate_limited"})
        self.assertIn("metrics", every_five_minutes())
