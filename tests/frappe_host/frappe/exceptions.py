"""Contract host: `frappe/exceptions.py` of v15, the classes the app and this host raise, with v15's
`http_status_code` values (frappe.app.handle_exception answers with them)."""


class ValidationError(Exception):
    http_status_code = 417


class AuthenticationError(Exception):
    http_status_code = 401


class PermissionError(Exception):  # noqa: A001 - v15's own name
    http_status_code = 403


class DoesNotExistError(ValidationError):
    http_status_code = 404


class NameError(Exception):  # noqa: A001 - v15's own name
    http_status_code = 409


class DuplicateEntryError(NameError):
    pass


class MandatoryError(ValidationError):
    pass


class LinkExistsError(ValidationError):
    pass


class RateLimitExceededError(ValidationError):
    http_status_code = 429


class ImplicitCommitError(ValidationError):
    pass


class QueryTimeoutError(Exception):
    pass


class QueryDeadlockError(Exception):
    pass


class TooManyWritesError(Exception):
    pass


class RetryBackgroundJobError(Exception):
    pass


class IncorrectSitePath(Exception):
    http_status_code = 404
