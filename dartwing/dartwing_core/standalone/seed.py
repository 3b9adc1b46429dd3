"""What `dartwing-jobs init` puts in a fresh store: the default Job Types, an administrator, a demo
organization and a demo member, so the demo, the README's examples and a first submit work."""

from __future__ import annotations

import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs import schema
from dartwing.dartwing_core.background_jobs.handlers.catalogue import default_job_types

from . import admin
from .runtime import StandaloneRuntime

ADMIN_USER = "Administrator"
DEMO_ORGANIZATION = "Demo Org"
DEMO_USER = "demo@example.com"


def seed(rt: StandaloneRuntime) -> None:
    """Idempotent; commits. A Job Type that exists is left as an operator may have edited it."""
    admin.add_user(rt, ADMIN_USER, ("System Manager", "Job Administrator"))
    jt = schema.job_type
    existing = {row["name"] for row in rt.execute(sa.select(jt.c.name))}
    for fields in default_job_types("standalone"):
        if fields["type_name"] not in existing:
            type_name, handler = fields.pop("type_name"), fields.pop("handler_method")
            admin.upsert_job_type(rt, type_name, handler, **fields)
    admin.add_organization(rt, DEMO_ORGANIZATION)
    admin.add_user(rt, DEMO_USER, ("Job User",))
    admin.add_member(rt, DEMO_USER, DEMO_ORGANIZATION)
    rt.commit()
