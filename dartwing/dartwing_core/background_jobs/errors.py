"""Typed errors the engine raises for bad requests.

Each carries the HTTP status both runtimes answer with (`http_status_code`, the attribute Frappe v15
reads), so the standalone server and a Frappe site map the same mistake to the same response.
Raising one of these always means nothing was written.
"""

from __future__ import annotations


class DartwingError(Exception):
    """Base of every error a caller can cause."""

    http_status_code = 400


class InvalidInputError(DartwingError):
    """A parameter is missing, malformed, out of range or names something that does not exist."""

    http_status_code = 400


class AuthenticationError(DartwingError):
    """No credentials, or credentials that do not match a user."""

    http_status_code = 401


class NotPermittedError(DartwingError):
    """The caller is known but may not do this (not a member, not an administrator)."""

    http_status_code = 403


class JobNotFoundError(DartwingError):
    """No such job, or one the caller may not see: the two are indistinguishable on purpose."""

    http_status_code = 404

    def __init__(self, job_id: str):
        super().__init__(f"Background Job {job_id} not found")
        self.job_id = job_id


class DuplicateJobError(DartwingError):
    """An identical job still holds its dedup slot."""

    http_status_code = 409

    def __init__(self, existing_job: str, existing_status: str):
        super().__init__(
            f"Duplicate job: {existing_job} with the same type, organization and parameters is {existing_status}"
        )
        self.existing_job = existing_job
        self.existing_status = existing_status


class InvalidTransitionError(DartwingError):
    """The job's current status does not allow the requested change."""

    http_status_code = 409


class RateLimitedError(DartwingError):
    """Too many requests in the current window."""

    http_status_code = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
