"""Contract host: `frappe/utils/__init__.py` and `frappe/utils/data.py` of v15, the helpers the app uses."""

from __future__ import annotations

import datetime
import os
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo


class CallbackManager:
    """v15 `frappe.utils.CallbackManager`: functions run in the order added; `run` pops each before
    calling it, so a callback that adds another sees it run in the same pass; `reset` drops them all."""

    __slots__ = ("_functions",)

    def __init__(self) -> None:
        self._functions: deque[Callable] = deque()

    def add(self, func: Callable) -> None:
        self._functions.append(func)

    def __call__(self, func: Callable) -> None:
        self.add(func)

    def run(self) -> None:
        while self._functions:
            self._functions.popleft()()

    def reset(self) -> None:
        self._functions.clear()

    def __len__(self) -> int:
        return len(self._functions)


def now_datetime() -> datetime.datetime:
    """v15 `now_datetime`: UTC converted to the System Settings time zone (Asia/Kolkata when unset),
    naive; v15 converts with pytz, the host with zoneinfo (the same tz database)."""
    import frappe

    name = frappe.get_system_settings("time_zone") or "Asia/Kolkata"
    return datetime.datetime.now(datetime.timezone.utc).astimezone(ZoneInfo(name)).replace(tzinfo=None)


def get_datetime(value: Any = None) -> datetime.datetime | None:
    """v15 `frappe.utils.get_datetime`, also the MariaDB DATETIME converter of its connection."""
    if value is None:
        return now_datetime()
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value.startswith("0000-00-00"):
        return None
    return datetime.datetime.fromisoformat(str(value))


def add_to_date(date=None, years=0, months=0, weeks=0, days=0, hours=0, minutes=0, seconds=0, as_string=False):
    """v15 `frappe.utils.add_to_date` (the units the app uses: no months or years)."""
    if months or years:
        raise NotImplementedError("the contract host adds weeks, days, hours, minutes and seconds only")
    base = get_datetime(date)
    return base + datetime.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def cint(value: Any, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def flt(value: Any, precision: int | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return round(number, precision) if precision is not None else number


def cstr(value: Any, encoding: str = "utf-8") -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode(encoding)
    return str(value)


def get_bench_id() -> str:
    """v15: `bench_id` from the config, else the bench folder's path."""
    import frappe

    return frappe.local.conf.get("bench_id") or os.path.abspath(os.path.join(frappe.local.sites_path, ".."))


def json_handler(obj: Any) -> Any:
    """v15 `frappe.utils.response.json_handler`: dates and datetimes as strings, Decimal as float."""
    if isinstance(obj, datetime.date | datetime.datetime | datetime.time | datetime.timedelta):
        return str(obj)
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, set):
        return list(obj)
    raise TypeError(f"Object of type {type(obj)} with value of {obj!r} is not JSON serializable")
