"""Job Type controller: the handler must import and be callable, and the numbers must make sense."""

import frappe
from frappe import _
from frappe.model.document import Document

from dartwing.dartwing_core.background_jobs.execution import resolve_handler
from dartwing.dartwing_core.background_jobs.rate_limits import MAX_COUNT, MAX_PERIOD_SECONDS
from dartwing.dartwing_core.background_jobs.status import parse_priority
from dartwing.dartwing_core.background_jobs.submission import MAX_RETRIES_LIMIT, MAX_TIMEOUT_SECONDS

LIMITS = {
    "default_timeout": (1, MAX_TIMEOUT_SECONDS),
    "max_retries": (0, MAX_RETRIES_LIMIT),
    "deduplication_window": (0, 30 * 24 * 3600),
    "max_concurrent_per_org": (0, 100_000),
    "rate_limit_count": (0, MAX_COUNT),
    "rate_limit_period": (1, MAX_PERIOD_SECONDS),
}


class JobType(Document):
    def validate(self):
        try:
            resolve_handler(self.handler_method)
        except (ImportError, TypeError, ValueError) as exc:
            frappe.throw(_("Handler {0} cannot be used: {1}").format(self.handler_method, exc))
        for field, (low, high) in LIMITS.items():
            value = self.get(field) or 0
            if not low <= value <= high:
                frappe.throw(
                    _("{0} must be between {1} and {2}").format(self.meta.get_label(field), low, high)
                )
        try:
            parse_priority(self.default_priority)
        except ValueError as exc:
            frappe.throw(str(exc))
