"""Contract host: `frappe/rate_limiter.py` of v15, the `rate_limit` decorator.

Outside a request it does nothing. In one, it keys on `ip:form_dict[key]` (or either alone), counts
in `frappe.cache` under `rl:<cmd>:<identity>` with a window set when the count is first created, and
raises RateLimitExceededError (HTTP 429) past `limit`.
"""

from __future__ import annotations

from functools import wraps

import frappe


def rate_limit(key: str | None = None, limit=5, seconds: int = 24 * 60 * 60, methods="ALL", ip_based: bool = True):
    def ratelimit_decorator(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            request = frappe.request
            if not request or (methods != "ALL" and request.method and request.method.upper() not in methods):
                return fn(*args, **kwargs)
            _limit = limit() if callable(limit) else limit
            ip = frappe.local.request_ip if ip_based is True else None
            user_key = frappe.form_dict.get(key, "")
            identity = ":".join([ip, user_key]) if key and ip_based else None
            identity = identity or ip or user_key
            if not identity:
                frappe.throw(frappe._("Either key or IP flag is required."))
            cache_key = frappe.cache.make_key(f"rl:{frappe.form_dict.cmd}:{identity}")
            value = frappe.cache.get(cache_key) or 0
            if not value:
                frappe.cache.setex(cache_key, seconds, 0)
            value = frappe.cache.incrby(cache_key, 1)
            if value > _limit:
                frappe.throw(
                    frappe._("You hit the rate limit because of too many requests. Please try after sometime."),
                    frappe.RateLimitExceededError,
                )
            return fn(*args, **kwargs)

        return wrapper

    return ratelimit_decorator
