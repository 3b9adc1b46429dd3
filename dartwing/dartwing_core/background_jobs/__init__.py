"""Dartwing's guaranteed background job engine.

Public API for server code; see DESIGN.md §4–5. This package imports no frappe at module level:
it runs the same inside a bench and as a plain Python service.
"""

from importlib import import_module

# Public name -> the module that defines it. Imported on first access (PEP 562), so that importing one
# engine module, as a Frappe work horse imports `execution` for `run_job`, does not import them all
# (the readers' modules build SQLAlchemy statements at import).
_EXPORTS = {
    **dict.fromkeys(("JobCanceled", "JobContext"), "context"),
    **dict.fromkeys(("MAX_BULK_JOBS", "BulkSubmitError", "submit_jobs"), "bulk"),
    **dict.fromkeys(
        (
            "AuthenticationError",
            "DartwingError",
            "DuplicateJobError",
            "InvalidInputError",
            "InvalidTransitionError",
            "JobNotFoundError",
            "NotPermittedError",
            "RateLimitedError",
        ),
        "errors",
    ),
    **dict.fromkeys(("PermanentError", "TransientError"), "retry_policy"),
    "RetryLater": "snooze",
    **dict.fromkeys(("get_job_history", "get_job_status", "list_jobs"), "queries"),
    **dict.fromkeys(("JobStatus", "Priority"), "status"),
    "submit_job": "submission",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = sorted(_EXPORTS)
