"""Whitelisted job endpoints: `/api/method/dartwing.dartwing_core.api.jobs.<name>` in a bench.

Thin wrappers over `api.service` (the standalone server serves the same functions at the same
URLs). Engine errors carry `http_status_code`, which Frappe v15 answers with; their message is also
put in `_server_messages` so clients get a readable reason next to `exc_type`.
"""

from __future__ import annotations

import frappe
from frappe.rate_limiter import rate_limit

from dartwing.dartwing_core.api import service
from dartwing.dartwing_core.background_jobs.errors import DartwingError

SUBMITS_PER_MINUTE = 100
# Frappe's rate_limit keys on a form_dict field; we put the session user there ourselves, so the
# limit is per user (a client-sent value of this field is overwritten, never trusted).
_RATE_KEY = "_dartwing_rate_limit_user"


def _call(function, **kwargs):
    try:
        return function(**kwargs)
    except DartwingError as exc:
        frappe.msgprint(str(exc), title="Background Jobs", indicator="red")
        if isinstance(getattr(exc, "errors", None), list):  # a bulk submit's rejected items, by index
            frappe.local.response["errors"] = exc.errors
        raise


@frappe.whitelist(methods=["POST"])
def submit_job(
    job_type=None,
    organization=None,
    parameters=None,
    priority=None,
    depends_on=None,
    timeout=None,
    max_retries=None,
    run_at=None,
    delay=None,
):
    frappe.form_dict[_RATE_KEY] = frappe.session.user
    return _submit_within_rate_limit(
        job_type=job_type,
        organization=organization,
        parameters=parameters,
        priority=priority,
        depends_on=depends_on,
        timeout=timeout,
        max_retries=max_retries,
        run_at=run_at,
        delay=delay,
    )


@frappe.whitelist(methods=["POST"])
def submit_jobs(jobs=None, on_complete=None):
    """Up to MAX_BULK_JOBS jobs, all or nothing, and an optional on_complete callback job; the rate
    limit counts the request once."""
    frappe.form_dict[_RATE_KEY] = frappe.session.user
    return _submit_many_within_rate_limit(jobs=jobs, on_complete=on_complete)


@rate_limit(key=_RATE_KEY, limit=SUBMITS_PER_MINUTE, seconds=60, ip_based=False)
def _submit_within_rate_limit(**kwargs):
    return _call(service.submit_job, **kwargs)


@rate_limit(key=_RATE_KEY, limit=SUBMITS_PER_MINUTE, seconds=60, ip_based=False)
def _submit_many_within_rate_limit(**kwargs):
    return _call(service.submit_jobs, **kwargs)


@frappe.whitelist(methods=["GET", "POST"])
def get_job_status(job_id=None):
    return _call(service.get_job_status, job_id=job_id)


@frappe.whitelist(methods=["GET", "POST"])
def list_jobs(organization=None, status=None, job_type=None, limit=20, start=0):
    return _call(
        service.list_jobs,
        organization=organization,
        status=status,
        job_type=job_type,
        limit=limit,
        start=start,
    )


@frappe.whitelist(methods=["POST"])
def cancel_job(job_id=None, force=None):
    return _call(service.cancel_job, job_id=job_id, force=force)


@frappe.whitelist(methods=["POST"])
def retry_job(job_id=None):
    return _call(service.retry_job, job_id=job_id)


@frappe.whitelist(methods=["POST"])
def retry_matching(filters=None, batch_size=None):
    return _call(service.retry_matching, filters=filters, batch_size=batch_size)


@frappe.whitelist(methods=["POST"])
def delete_job(job_id=None):
    return _call(service.delete_job, job_id=job_id)


@frappe.whitelist(methods=["GET", "POST"])
def get_job_metrics(organization=None):
    return _call(service.get_job_metrics, organization=organization)


@frappe.whitelist(methods=["GET", "POST"])
def get_job_history(job_id=None):
    return _call(service.get_job_history, job_id=job_id)


@frappe.whitelist(methods=["GET", "POST"])
def explain_job(job_id=None):
    return _call(service.explain_job, job_id=job_id)


@frappe.whitelist(methods=["GET", "POST"])
def check_realtime_room(room=None):
    """Used by the realtime gateway, with the client's own credentials."""
    return _call(service.check_realtime_room, room=room)


@frappe.whitelist(methods=["POST"])
def create_schedule(
    job_type=None,
    organization=None,
    cron_expression=None,
    parameters=None,
    priority=None,
    timezone=None,
    enabled=None,
    catch_up=None,
    description=None,
):
    return _call(
        service.create_schedule,
        job_type=job_type,
        organization=organization,
        cron_expression=cron_expression,
        parameters=parameters,
        priority=priority,
        timezone=timezone,
        enabled=enabled,
        catch_up=catch_up,
        description=description,
    )


@frappe.whitelist(methods=["POST"])
def update_schedule(
    schedule=None,
    job_type=None,
    cron_expression=None,
    parameters=None,
    priority=None,
    timezone=None,
    enabled=None,
    catch_up=None,
    description=None,
):
    return _call(
        service.update_schedule,
        schedule=schedule,
        job_type=job_type,
        cron_expression=cron_expression,
        parameters=parameters,
        priority=priority,
        timezone=timezone,
        enabled=enabled,
        catch_up=catch_up,
        description=description,
    )


@frappe.whitelist(methods=["POST"])
def enable_schedule(schedule=None):
    return _call(service.enable_schedule, schedule=schedule)


@frappe.whitelist(methods=["POST"])
def disable_schedule(schedule=None):
    return _call(service.disable_schedule, schedule=schedule)


@frappe.whitelist(methods=["POST"])
def delete_schedule(schedule=None):
    return _call(service.delete_schedule, schedule=schedule)


@frappe.whitelist(methods=["GET", "POST"])
def get_schedule(schedule=None):
    return _call(service.get_schedule, schedule=schedule)


@frappe.whitelist(methods=["GET", "POST"])
def list_schedules(organization=None, enabled=None, job_type=None, limit=20, start=0):
    return _call(
        service.list_schedules,
        organization=organization,
        enabled=enabled,
        job_type=job_type,
        limit=limit,
        start=start,
    )
