"""Contract host for Frappe v15: `frappe/__init__.py`, the part the dartwing app calls.

Per-request state lives on `local` (v15: a werkzeug Local); `frappe.db`, `frappe.session`,
`frappe.form_dict`, `frappe.flags`, `frappe.conf` and `frappe.request` read it, as v15's LocalProxy
attributes do. Nothing here is Frappe's code: behaviour follows v15.44's, function by function.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .exceptions import *  # noqa: F403 - v15 re-exports every exception at the top level
from .exceptions import DoesNotExistError, PermissionError, ValidationError

__version__ = "15.44.2"


class _dict(dict):
    """v15 `frappe._dict`: attribute access; a missing key reads as None."""

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self.get(key)

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delattr__(self, key: str) -> None:
        del self[key]

    def update(self, *args, **kwargs):  # v15 returns self, so calls can chain
        super().update(*args, **kwargs)
        return self

    def copy(self):
        return _dict(self)


class _Local(threading.local):
    """v15 `frappe.local` (werkzeug Local): state per thread, cleared by `destroy`."""


local = _Local()
cache: _RedisCache | None = None  # v15 `frappe.cache`, set by init (setup_redis_cache_connection)

# Names v15 exposes as LocalProxy objects on `local`.
_LOCAL_PROXIES = ("db", "session", "form_dict", "flags", "conf", "request", "response", "message_log", "lang")


def __getattr__(name: str) -> Any:
    if name in _LOCAL_PROXIES:
        return getattr(local, name, None)
    raise AttributeError(f"the Frappe contract host has no frappe.{name}")


def _(msg: str, lang: str | None = None, context: str | None = None) -> str:
    """v15 `frappe._`: translation; the host has one language."""
    return msg


def as_unicode(text: Any, encoding: str = "utf-8") -> str:
    if isinstance(text, bytes):
        return text.decode(encoding)
    return text if isinstance(text, str) else str(text)


def as_json(obj: Any, indent: int | None = 1, separators=None) -> str:
    """v15 `frappe.as_json`: sorted keys, datetimes as strings (frappe.utils.response.json_handler)."""
    from .utils import json_handler

    return json.dumps(obj, indent=indent, sort_keys=True, default=json_handler, separators=separators)


def scrub(txt: str) -> str:
    return txt.replace(" ", "_").replace("-", "_").lower()


def generate_hash(txt: str | None = None, length: int = 56) -> str:
    """v15 `frappe.generate_hash`: random hex of `length` characters."""
    if txt:
        return hashlib.sha224(txt.encode()).hexdigest()[:length]
    return secrets.token_hex(length // 2 + 1)[:length]


# --- sites and connections ----------------------------------------------------------------------


def get_site_config(sites_path: str | None = None, site_path: str | None = None) -> _dict:
    """v15 `frappe.get_site_config`: common_site_config.json overlaid by the site's site_config.json."""
    sites_path = sites_path or getattr(local, "sites_path", ".")
    config = _dict()
    common = os.path.join(sites_path, "common_site_config.json")
    if os.path.exists(common):
        config.update(json.loads(Path(common).read_text()))
    if site_path:
        own = os.path.join(site_path, "site_config.json")
        if not os.path.exists(own):
            raise IncorrectSitePath(f"{site_path} does not exist")  # noqa: F405
        config.update(json.loads(Path(own).read_text()))
    return config


def init(site: str, sites_path: str = ".", new_site: bool = False, force: bool = False) -> None:
    """v15 `frappe.init`: set up `local` for `site` (no database connection yet)."""
    if getattr(local, "initialised", None) and not force:
        return
    local.initialised = True
    local.site = site
    local.sites_path = sites_path
    local.site_path = os.path.join(sites_path, site) if site else None
    local.conf = get_site_config(sites_path, local.site_path)
    local.flags = _dict()
    local.form_dict = _dict()
    local.session = _dict(user="Guest", data=_dict())
    local.message_log = []
    local.request = None
    local.response = _dict(docs=[])
    local.db = None
    local.cache = {}
    local.role_permissions = {}
    local.lang = "en"
    _setup_redis_cache_connection()


def _setup_redis_cache_connection() -> None:
    global cache
    if cache is None or cache.url != local.conf.redis_cache:
        cache = _RedisCache(local.conf.redis_cache)


def connect(site: str | None = None, db_name: str | None = None, set_admin_as_user: bool = True) -> None:
    """v15 `frappe.connect`: `local.db` for the site (the MariaDB user is the database's name)."""
    from .database import get_db

    if site:
        init(site)
    local.db = get_db(
        host=local.conf.db_host,
        port=local.conf.db_port,
        user=db_name or local.conf.db_name,
        password=local.conf.db_password,
        cur_db_name=db_name or local.conf.db_name,
    )
    if set_admin_as_user:
        set_user("Administrator")


def destroy() -> None:
    """v15 `frappe.destroy`: close the connection and release `local`."""
    if getattr(local, "db", None):
        local.db.close()
    local.__dict__.clear()


class init_site:
    """v15 `frappe.init_site`: a context manager around init/destroy."""

    def __init__(self, site: str | None = None):
        self.site = site or ""

    def __enter__(self):
        init(self.site)
        return local

    def __exit__(self, *exc):
        destroy()


# --- users and roles ----------------------------------------------------------------------------


def set_user(username: str) -> None:
    """v15 `frappe.set_user`: switches the user and resets the per-user caches *and form_dict*."""
    local.session.user = username
    local.session.sid = username
    local.cache = {}
    local.form_dict = _dict()
    local.jenv = None
    local.session.data = _dict()
    local.role_permissions = {}
    local.new_doc_templates = {}
    local.user_perms = None


def get_roles(username: str | None = None) -> list[str]:
    """v15 `frappe.get_roles` → `frappe.permissions.get_roles`: Administrator has every Role; others
    their Has Role rows plus All and Guest; Guest only Guest."""
    if not local.session or not local.session.user:
        return ["Guest"]
    user = username or local.session.user
    if user == "Guest":
        return ["Guest"]
    if user == "Administrator":
        return [row[0] for row in local.db.sql("select name from `tabRole`")]
    rows = local.db.sql(
        "select role from `tabHas Role` where parent=%s and parenttype='User'", (user,)
    )
    return [row[0] for row in rows] + ["All", "Guest"]


def get_system_settings(key: str):
    """v15 `frappe.get_system_settings`: a value of the System Settings document, loaded once per
    request or job into `local.system_settings` (v15 loads the cached document; the host its
    tabSingles values)."""
    if not hasattr(local, "system_settings"):
        rows = local.db.sql("select field, value from `tabSingles` where doctype='System Settings'")
        local.system_settings = _dict(rows)
    return local.system_settings.get(key)


# --- messages and errors ------------------------------------------------------------------------


def msgprint(
    msg: str,
    title: str | None = None,
    raise_exception: bool | type[Exception] = False,
    as_table: bool = False,
    as_list: bool = False,
    indicator: str | None = None,
    alert: bool = False,
    primary_action: str | None = None,
    is_minimizable: bool = False,
    wide: bool = False,
    *,
    realtime: bool = False,
) -> None:
    """v15 `frappe.msgprint`: queue the message for the response's `_server_messages`; raise
    `raise_exception` (an exception class, or ValidationError for True) with the message."""
    out = _dict(message=msg)
    if title:
        out.title = title
    if indicator:
        out.indicator = indicator
    if raise_exception:
        out.raise_exception = 1
    if not getattr(local, "flags", None) or not local.flags.mute_messages:
        local.message_log.append(out)
    if raise_exception:
        if inspect.isclass(raise_exception) and issubclass(raise_exception, Exception):
            raise raise_exception(msg)
        raise ValidationError(msg)


def throw(msg: str, exc: type[Exception] = ValidationError, title: str | None = None, **kwargs) -> None:
    """v15 `frappe.throw`: msgprint with indicator red, then raise `exc(msg)`."""
    msgprint(msg, raise_exception=exc, title=title, indicator="red")


def log_error(title: str | None = None, message: str | None = None, reference_doctype=None, reference_name=None):
    """v15 `frappe.log_error`: an Error Log row (inserted in the current transaction)."""
    import traceback

    message = message or traceback.format_exc()
    local.db.sql(
        "insert into `tabError Log` (name, creation, modified, method, error) values (%s, now(6), now(6), %s, %s)",
        (generate_hash(length=10), (title or "Error")[:140], message),
    )


def logger(module: str | None = None, with_more_info: bool = False, allow_site: bool | str = True, **kwargs):
    return logging.getLogger(module or "frappe")


def clear_cache(user: str | None = None, doctype: str | None = None) -> None:
    """v15 `frappe.clear_cache`: drop the site's cached values."""
    local.cache = {}
    if cache is not None:
        cache.delete_keys("")


# --- whitelisting and calls ---------------------------------------------------------------------

whitelisted: set[Callable] = set()
guest_methods: set[Callable] = set()
allowed_http_methods_for_whitelisted_func: dict[Callable, list[str]] = {}


def whitelist(allow_guest: bool = False, xss_safe: bool = False, methods: list[str] | None = None):
    """v15 `frappe.whitelist`: register the function (unwrapped) with the HTTP methods it accepts."""
    methods = methods or ["GET", "POST", "PUT", "DELETE"]

    def innerfn(fn):
        whitelisted.add(fn)
        allowed_http_methods_for_whitelisted_func[fn] = methods
        if allow_guest:
            guest_methods.add(fn)
        return fn

    return innerfn


def get_attr(method_string: str) -> Any:
    """v15 `frappe.get_attr`: import `module.attribute`."""
    modulename, _sep, methodname = method_string.rpartition(".")
    return getattr(importlib.import_module(modulename), methodname)


def call(fn: str | Callable, *args, **kwargs) -> Any:
    """v15 `frappe.call`: call with only the keyword arguments the function accepts."""
    if isinstance(fn, str):
        fn = get_attr(fn)
    signature = inspect.signature(fn)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in signature.parameters}
    return fn(*args, **kwargs)


def get_hooks(hook: str | None = None, default: Any = None, app_name: str | None = None) -> Any:
    """v15 `frappe.get_hooks`: the installed apps' hooks.py values, lists concatenated."""
    from .contract_hooks import get_hooks as _get

    return _get(hook, default)


# --- documents ----------------------------------------------------------------------------------


def get_doc(*args, **kwargs):
    from .model.document import get_doc as _get_doc

    return _get_doc(*args, **kwargs)


def get_list(doctype: str, *args, **kwargs):
    from .model.db_query import get_list as _get_list

    return _get_list(doctype, *args, **kwargs)


def get_all(doctype: str, *args, **kwargs):
    kwargs.setdefault("ignore_permissions", True)
    return get_list(doctype, *args, **kwargs)


def delete_doc(doctype: str, name: str, force: bool = False, ignore_permissions: bool = False, **kwargs):
    from .model.document import delete_doc as _delete

    return _delete(doctype, name, force=force, ignore_permissions=ignore_permissions)


def has_permission(doctype: str, ptype: str = "read", doc=None, user: str | None = None, **kwargs) -> bool:
    from .permissions import has_permission as _has

    return _has(doctype, ptype=ptype, doc=doc, user=user)


def get_meta(doctype: str):
    from .model.meta import get_meta as _meta

    return _meta(doctype)


def publish_realtime(*args, **kwargs):
    from .realtime import publish_realtime as _publish

    return _publish(*args, **kwargs)


def enqueue(*args, **kwargs):
    from .utils.background_jobs import enqueue as _enqueue

    return _enqueue(*args, **kwargs)


class _RedisCache:
    """v15 `frappe.cache` (RedisWrapper), the calls the app and the rate limiter make."""

    def __init__(self, url: str | None):
        import redis

        self.url = url
        self._redis = redis.Redis.from_url(url) if url else None

    def make_key(self, key: str, user: str | None = None, shared: bool = False) -> str:
        return key if shared else f"{local.conf.db_name}|{key}"

    def get(self, key: str):
        return self._redis.get(key)

    def setex(self, name: str, time: int, value: Any):
        return self._redis.setex(name, time, value)

    def incrby(self, name: str, amount: int = 1) -> int:
        return self._redis.incrby(name, amount)

    def delete_keys(self, prefix: str) -> None:
        for key in self._redis.scan_iter(match=self.make_key(prefix) + "*"):
            self._redis.delete(key)


__all__ = [name for name in dir() if not name.startswith("__")] + ["DoesNotExistError", "PermissionError"]
