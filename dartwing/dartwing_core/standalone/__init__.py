"""Running the engine without a Frappe bench: SQLAlchemy store, RQ on Redis, CLI and demo."""

from __future__ import annotations

from dartwing.dartwing_core.background_jobs.runtime import set_runtime

from .config import StandaloneConfig
from .runtime import StandaloneRuntime


def configure(
    home=None, db_url=None, redis_url=None, user=None, *, create_schema: bool = False
) -> StandaloneRuntime:
    """Build a StandaloneRuntime from options/environment and install it for this process."""
    runtime = StandaloneRuntime(StandaloneConfig.resolve(home, db_url, redis_url, user))
    if create_schema:
        runtime.create_schema()
    set_runtime(runtime)
    return runtime


__all__ = ["StandaloneConfig", "StandaloneRuntime", "configure"]
