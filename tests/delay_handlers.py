"""Handlers the delay and snooze tests register as Job Types (tests/ is on the path)."""

from dartwing.dartwing_core.background_jobs import schema
from dartwing.dartwing_core.background_jobs.runtime import get_runtime


def _set_own_row(context, **values) -> None:
    """Write the handler's own job row on a connection of its own, as an operator or a sweep would."""
    bj = schema.background_job
    with get_runtime().own_transaction():
        get_runtime().execute(bj.update().where(bj.c.name == context.job_name).values(**values))


def cancel_requested_then_snooze(context):
    _set_own_row(context, cancel_requested=1)
    context.snooze(60)


def lease_lost_then_snooze(context):
    _set_own_row(context, attempt=context.attempt + 1)  # as if the orphan sweep had taken the job
    context.snooze(60)


def write_then_snooze(context):
    org = schema.organization
    get_runtime().execute(org.update().where(org.c.name == "Org A").values(max_concurrent_jobs=42))
    context.snooze(60)
