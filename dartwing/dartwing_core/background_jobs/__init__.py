"""Dartwing's guaranteed background job engine.

Public API for server code; see DESIGN.md §4–5. This package imports no frappe at module level:
it runs the same inside a bench and as a plain Python service.
"""

from .context import JobContext
from .errors import (
    AuthenticationError,
    DartwingError,
    DuplicateJobError,
    InvalidInputError,
    InvalidTransitionError,
    JobNotFoundError,
    NotPermittedError,
    RateLimitedError,
)
from .failures import JobCanceled, PermanentError, TransientError
from .queries import get_job_history, get_job_status, list_jobs
from .status import JobStatus, Priority
from .submission import submit_job

__all__ = [
    "AuthenticationError",
    "DartwingError",
    "DuplicateJobError",
    "InvalidInputError",
    "InvalidTransitionError",
    "JobCanceled",
    "JobContext",
    "JobNotFoundError",
    "JobStatus",
    "NotPermittedError",
    "PermanentError",
    "Priority",
    "RateLimitedError",
    "TransientError",
    "get_job_history",
    "get_job_status",
    "list_jobs",
    "submit_job",
]
