"""Job Schedule controller: a Desk save is held to the engine's checks (schedules.checked_fields:
the submit's own on job type, organization, membership and parameters, plus cron and time zone), and
the run fields stay the engine's."""

import frappe
from frappe.model.document import Document

from dartwing.dartwing_core.background_jobs.errors import DartwingError
from dartwing.dartwing_core.background_jobs.runtime import get_runtime
from dartwing.dartwing_core.background_jobs.schedules import EDITABLE_FIELDS, checked_fields
from dartwing.dartwing_core.doctype._indexes import add_composite_indexes

ENGINE_FIELDS = ("last_run_at", "last_job", "last_error")
TIMING_FIELDS = ("cron_expression", "timezone", "enabled")


class JobSchedule(Document):
    def validate(self):
        before = self.get_doc_before_save()
        try:
            values = checked_fields(
                get_runtime(), frappe.session.user, self.organization, {f: self.get(f) for f in EDITABLE_FIELDS}
            )
        except DartwingError as exc:
            frappe.msgprint(str(exc), title="Job Schedule", indicator="red")
            raise
        if before is not None:
            if before.enabled and all(values[f] == before.get(f) for f in TIMING_FIELDS):
                values["next_run_at"] = before.next_run_at  # timing unchanged: keep the planned run
            for field in ENGINE_FIELDS:
                self.set(field, before.get(field))
        self.update(values)

    def on_trash(self):
        frappe.db.delete("Job Schedule Run", {"job_schedule": self.name})


def on_doctype_update():
    add_composite_indexes("Job Schedule")
