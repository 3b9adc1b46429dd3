"""Checking values callers send (HTTP arguments, Python calls): a typed InvalidInputError, never a
500. Light to import: the submit path uses it inside a Frappe work horse."""

from __future__ import annotations

from typing import Any

from .errors import InvalidInputError


def bounded_int(name: str, value: Any, low: int, high: int, *, default: Any = None) -> int:
    """`value` (or `default` when it is None or "") as a whole number from `low` to `high`: an int,
    a float with no fraction or its text; never a bool."""
    chosen = default if value is None or value == "" else value
    if isinstance(chosen, bool) or (isinstance(chosen, float) and not chosen.is_integer()):
        raise InvalidInputError(f"{name} must be an integer, got {chosen!r}")
    try:
        number = int(chosen)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be an integer, got {chosen!r}") from None
    if not low <= number <= high:
        raise InvalidInputError(f"{name} must be between {low} and {high}, got {chosen!r}")
    return number


def flag(name: str, value: Any) -> bool:
    """`value` as a boolean: JSON booleans, 0/1 and the spellings HTML forms send (None: False)."""
    if value in (None, 0, "0", False, "false", "False"):
        return False
    if value in (1, "1", True, "true", "True"):
        return True
    raise InvalidInputError(f"{name} must be 0/1 or true/false, got {value!r}")
