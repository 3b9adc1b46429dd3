"""Contract host: `frappe/model/naming.py` of v15: naming series on `tabSeries`, whose row is read
`FOR UPDATE` (`getseries`), so two transactions naming in the same series wait for each other."""

from __future__ import annotations

import frappe
from frappe.utils import now_datetime


def getseries(key: str, digits: int) -> str:
    """v15 `getseries`: lock the series row, bump it (or create it at 1)."""
    current = frappe.db.sql("select `current` from `tabSeries` where `name`=%s for update", (key,))
    if current and current[0][0] is not None:
        frappe.db.sql("UPDATE `tabSeries` SET `current` = `current` + 1 WHERE `name`=%s", (key,))
        number = int(current[0][0]) + 1
    else:
        frappe.db.sql("INSERT INTO `tabSeries` (`name`, `current`) VALUES (%s, 1)", (key,))
        number = 1
    return ("%0" + str(digits) + "d") % number


def parse_naming_series(parts: list[str] | str, doctype=None, doc=None, number_generator=None) -> str:
    """v15 `parse_naming_series` for the parts the app uses: #…, YY, YYYY, MM, DD and literals.
    `number_generator(prefix, digits)` gives the number part instead of `getseries`, as in v15."""
    if isinstance(parts, str):
        parts = parts.split(".")
    name, series_set, today = "", False, now_datetime()
    for part in parts:
        if not part:
            continue
        if part.startswith("#"):
            if not series_set:
                name += (number_generator or getseries)(name, len(part))
                series_set = True
        elif part == "YY":
            name += today.strftime("%y")
        elif part == "YYYY":
            name += today.strftime("%Y")
        elif part == "MM":
            name += today.strftime("%m")
        elif part == "DD":
            name += today.strftime("%d")
        else:
            name += part
    return name


def make_autoname(key: str = "", doctype: str = "", doc=None, *, ignore_validate: bool = False) -> str:
    """v15 `make_autoname`: `hash` gives a random name, anything else is a naming series."""
    if key == "hash":
        return frappe.generate_hash(length=10)
    return parse_naming_series(key, doctype=doctype, doc=doc)
