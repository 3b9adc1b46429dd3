"""Contract host: the hooks of the installed apps, as v15's `frappe.get_hooks` merges them.

Host-only module (v15 reads `hooks.py` of every app in `tabInstalled Application`): here the installed
apps are the site config's `installed_apps` list, and each one's `<app>.hooks` module is read once.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOOK_NAMES_CACHE: dict[str, dict[str, Any]] = {}


def _app_hooks(app: str) -> dict[str, Any]:
    if app not in _HOOK_NAMES_CACHE:
        module = importlib.import_module(f"{app}.hooks")
        _HOOK_NAMES_CACHE[app] = {k: v for k, v in vars(module).items() if not k.startswith("_")}
    return _HOOK_NAMES_CACHE[app]


def installed_apps() -> list[str]:
    import frappe

    return list((frappe.local.conf or {}).get("installed_apps") or [])


def get_hooks(hook: str | None = None, default: Any = None) -> Any:
    """v15 semantics: a dict hook merges per key into lists; any other hook becomes a list."""
    merged: dict[str, Any] = {}
    for app in installed_apps():
        for key, value in _app_hooks(app).items():
            if isinstance(value, dict):
                target = merged.setdefault(key, {})
                for sub, subvalue in value.items():
                    target.setdefault(sub, []).extend(subvalue if isinstance(subvalue, list) else [subvalue])
            else:
                merged.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    if hook is None:
        return merged
    return merged.get(hook, default if default is not None else [])
