"""The Frappe v15 contract host's fixtures: one site per run (its own MariaDB database and user,
dropped at the end) on the run's own redis-server, and per test a clean site context as a request or
job would have it (`frappe.init` + `frappe.connect`), torn down with `frappe.destroy`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis
import rq

HOST_PATH = Path(__file__).resolve().parent.parent / "frappe_host"
sys.path.insert(0, str(HOST_PATH))

import frappe  # noqa: E402 - the contract host, from the path above
from contract_site import ContractSite  # noqa: E402

from dartwing.dartwing_core.background_jobs.runtime import set_runtime  # noqa: E402
from dartwing.dartwing_core.install import ensure_default_job_types  # noqa: E402

MARIADB = urlparse(os.environ.get("DARTWING_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306"))
IN_CI = os.environ.get("CI", "").lower() == "true"
ORG_A, ORG_B = "Org A", "Org B"
# Frappe v15 pins rq~=1.15.1 and redis~=4.5.5; rq 2 refuses Frappe's `<site>::<id>` job ids, so the host
# runs in the virtualenv that holds Frappe's pins (scripts/test.sh), and is skipped elsewhere unless
# DARTWING_CONTRACT_REQUIRED=1 (set by that run) makes a skip a failure.
RQ_MAJOR = int(rq.__version__.split(".")[0])
REQUIRED = os.environ.get("DARTWING_CONTRACT_REQUIRED") == "1"
ALICE, BOB, OPERATOR = "alice@a.example", "bob@b.example", "ops@dartwing.example"


def pytest_collection_modifyitems(config, items):
    if RQ_MAJOR < 2:
        return
    if REQUIRED:
        raise pytest.UsageError(f"the contract host needs Frappe v15's rq 1.15, not rq {rq.__version__}")
    skip = pytest.mark.skip(reason=f"Frappe v15 pins rq 1.15 (rq {rq.__version__} refuses its job ids): "
                            "scripts/test.sh runs this suite in the Frappe-pins virtualenv")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def contract_site(redis_server, tmp_path_factory) -> Iterator[ContractSite]:
    server = {"host": MARIADB.hostname or "127.0.0.1", "port": MARIADB.port or 3306, "user": MARIADB.username or "root",
              "password": MARIADB.password or ""}
    site = ContractSite(tmp_path_factory.mktemp("bench"), redis_server.url, server)
    try:
        site.create()
    except Exception as exc:  # noqa: BLE001 - MariaDB unreachable: skip locally, fail in CI
        if IN_CI:
            pytest.fail(f"MariaDB unreachable for the contract host: {exc}")
        pytest.skip(f"MariaDB unreachable for the contract host: {exc}")
    try:
        set_runtime(None)
        site.connect()
        site.install()
        frappe.destroy()
        yield site
    finally:
        site.drop()  # also when the install failed: no database or user is left behind


def _user(email: str, *roles: str) -> None:
    frappe.get_doc({"doctype": "User", "email": email, "first_name": email.split("@")[0]}).insert(
        ignore_permissions=True
    )
    for role in roles:
        frappe.db.sql(
            "insert into `tabHas Role` (name, parent, parenttype, parentfield, role) values (%s, %s, 'User', 'roles', %s)",
            (frappe.generate_hash(length=10), email, role),
        )


def _member(email: str, organization: str) -> None:
    person = frappe.get_doc({"doctype": "Person", "first_name": email.split("@")[0], "frappe_user": email})
    person.insert(ignore_permissions=True)
    frappe.get_doc(
        {"doctype": "Org Member", "person": person.name, "organization": organization, "status": "Active"}
    ).insert(ignore_permissions=True)


_DATA_TABLES = ("Background Job", "Job Dependency", "Job Start", "Job Execution Log", "Job Metrics Snapshot", "Org Member", "Person",
                "Organization", "User", "Has Role", "Error Log")


@pytest.fixture
def site(contract_site, redis_server) -> Iterator[ContractSite]:
    """A site context as Administrator, with two organizations, a member of each and an operator."""
    redis.Redis.from_url(redis_server.url).flushdb()  # the run's own redis-server
    contract_site.connect()
    for doctype in _DATA_TABLES:
        frappe.db.sql(f"delete from `tab{doctype}`")
    frappe.db.sql("delete from `tabSeries`")
    frappe.db.sql("delete from `tabJob Type`")
    ensure_default_job_types()
    for organization in (ORG_A, ORG_B):
        frappe.get_doc({"doctype": "Organization", "organization_name": organization, "status": "Active"}).insert(
            ignore_permissions=True
        )
    _user(ALICE, "Job User")
    _user(BOB, "Job User")
    _user(OPERATOR, "Job Administrator")
    _member(ALICE, ORG_A)
    _member(BOB, ORG_B)
    frappe.db.commit()
    yield contract_site
    contract_site.stop_workers()
    if frappe.db:
        frappe.db.rollback()
    frappe.destroy()


def add_job_type(name: str, handler: str, **settings) -> None:
    """A Job Type for one of the contract tests' own handlers (frappe_contract.handlers), committed."""
    frappe.get_doc(
        {
            "doctype": "Job Type",
            "type_name": name,
            "display_name": name,
            "handler_method": handler,
            "deduplication_window": 0,
            "max_retries": 0,
            "is_enabled": 1,
            **settings,
        }
    ).insert(ignore_permissions=True)
    frappe.db.commit()


def rq_messages(redis_server, queue: str = "default") -> list[str]:
    """The RQ job ids waiting on one of the bench's queues."""
    conn = redis.Redis.from_url(redis_server.url)
    return [job_id.decode() for job_id in conn.lrange(f"rq:queue:contract-bench:{queue}", 0, -1)]
