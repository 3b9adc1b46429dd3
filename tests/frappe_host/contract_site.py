"""A throw-away Frappe v15 site for the contract host: its database, its folder, install and migrate.

Host-only (not part of the `frappe` stand-in). `ContractSite.create` makes a database and a MariaDB
user named after it (v15 `bench new-site` does the same), writes `sites/common_site_config.json` and
`sites/<site>/site_config.json`, builds the core tables the app touches and then installs the app as
v15 does: each DocType's table by v15's DDL rules (frappe/database/mariadb/schema.py MariaDBTable
.create, frappe/database/schema.py DbColumn.get_definition), its controller module's
`on_doctype_update`, the app's `fixtures/*.json` imported with overwrite (frappe/utils/fixtures.py
sync_fixtures), then `after_install` hooks. `migrate` follows frappe/migrate.py: DocTypes whose JSON
`modified` changed are synced again (and only then `on_doctype_update` runs), fixtures are imported
again with overwrite, then `after_migrate` hooks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from importlib import import_module
from pathlib import Path

import pymysql

HOST_PATH = Path(__file__).resolve().parent
APP = "dartwing"
SYSTEM_TIME_ZONE = "America/New_York"

# The core DocTypes the app reads or writes, with the fields it uses (v15 defines many more).
CORE_DOCTYPES = {
    "Role": {"name": "Role", "module": "Core", "autoname": "field:role_name",
             "fields": [{"fieldname": "role_name", "fieldtype": "Data", "unique": 1}],
             "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]},
    "Has Role": {"name": "Has Role", "module": "Core", "istable": 1,
                 "fields": [{"fieldname": "role", "fieldtype": "Link", "options": "Role"}]},
    "User": {"name": "User", "module": "Core", "autoname": "field:email",
             "fields": [{"fieldname": "email", "fieldtype": "Data"},
                        {"fieldname": "first_name", "fieldtype": "Data"},
                        {"fieldname": "enabled", "fieldtype": "Check", "default": "1"},
                        {"fieldname": "user_type", "fieldtype": "Select", "default": "System User"}],
             "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]},
    "Error Log": {"name": "Error Log", "module": "Core", "autoname": "hash",
                  "fields": [{"fieldname": "method", "fieldtype": "Data"},
                             {"fieldname": "error", "fieldtype": "Code"}],
                  "permissions": [{"role": "System Manager", "read": 1}]},
    "Number Card": {"name": "Number Card", "module": "Desk", "autoname": "Prompt",
                    "fields": [{"fieldname": f, "fieldtype": "Data"} for f in (
                        "label", "type", "function", "document_type", "method", "module", "is_public",
                        "show_percentage_stats", "stats_time_interval", "color", "aggregate_function_based_on",
                        "is_standard", "parent_document_type", "report_name", "report_field",
                        "report_function", "dynamic_filters_json")]
                    + [{"fieldname": "filters_json", "fieldtype": "Code"}],
                    "permissions": [{"role": "System Manager", "read": 1}]},
    "Dashboard Chart": {"name": "Dashboard Chart", "module": "Desk", "autoname": "field:chart_name",
                        "fields": [{"fieldname": f, "fieldtype": t} for f, t in (
                            ("chart_name", "Data"), ("chart_type", "Select"), ("source", "Link"),
                            ("document_type", "Link"), ("based_on", "Select"), ("value_based_on", "Select"),
                            ("timespan", "Select"), ("time_interval", "Select"), ("timeseries", "Check"),
                            ("filters_json", "Code"), ("type", "Select"), ("color", "Color"),
                            ("group_by_based_on", "Select"), ("group_by_type", "Select"),
                            ("number_of_groups", "Int"), ("custom_options", "Code"), ("is_public", "Check"),
                            ("is_standard", "Check"), ("module", "Link"), ("dynamic_filters_json", "Code"))],
                        "permissions": [{"role": "System Manager", "read": 1}]},
}


def column_definition(db, df: dict) -> str | None:
    """v15 `get_definition` + `DbColumn.get_definition`: type, NOT NULL defaults, literal default, unique."""
    fieldtype, length = df.get("fieldtype"), df.get("length")
    mapped = db.type_map.get(fieldtype)
    if not mapped:
        return None
    if fieldtype == "Int" and length and int(length) > 11:
        mapped = db.type_map["Long Int"]
    coltype, size = mapped[0], mapped[1] or None
    if length and coltype == "varchar":
        size = length
    definition = f"{coltype}({size})" if size else coltype
    default = df.get("default")
    if fieldtype in ("Check", "Int"):
        definition += f" not null default {int(float(default or 0))}"
    elif fieldtype in ("Currency", "Float", "Percent"):
        definition += f" not null default {float(default or 0)}"
    elif default and default not in db.DEFAULT_SHORTCUTS and not str(default).startswith(":"):
        definition += f" default {db.escape(default)}"
    if df.get("unique") and coltype not in ("text", "longtext"):
        definition += " unique"
    return definition


def create_table(db, meta: dict) -> None:
    """v15 `MariaDBTable.create` for one DocType."""
    fields = [df for df in meta.get("fields", []) if not df.get("is_virtual")]
    if not meta.get("istable"):
        fields += [{"fieldname": f, "fieldtype": "Text"} for f in db.OPTIONAL_COLUMNS]
    columns, seen = [], set(db.DEFAULT_COLUMNS)
    for df in fields:
        definition = column_definition(db, df)
        if definition and df["fieldname"] not in seen:
            columns.append(f"`{df['fieldname']}` {definition}")
            seen.add(df["fieldname"])
    indexes = [
        f"index `{df['fieldname']}`(`{df['fieldname']}`)"
        for df in fields
        if df.get("search_index") and not df.get("unique")
        and db.type_map.get(df.get("fieldtype"), ("text",))[0] not in ("text", "longtext")
    ]
    extra = columns + indexes
    if meta.get("istable"):
        extra += ["parent varchar(140)", "parentfield varchar(140)", "parenttype varchar(140)", "index parent(parent)"]
    else:
        extra.append("index modified(modified)")
    name_column = "name varchar(140) primary key"
    if meta.get("autoname") == "autoincrement":
        sequence = meta["name"].lower().replace(" ", "_") + "_id_seq"
        db.sql_ddl(f"create sequence if not exists {sequence} nocache nocycle")
        name_column = "name bigint primary key"
    db.sql_ddl(
        f"""create table `tab{meta['name']}` ({name_column}, creation datetime(6), modified datetime(6),
        modified_by varchar(140), owner varchar(140), docstatus int(1) not null default '0',
        idx int(8) not null default '0', {', '.join(extra)}) ENGINE=InnoDB ROW_FORMAT=DYNAMIC
        CHARACTER SET=utf8mb4 COLLATE=utf8mb4_unicode_ci"""
    )


class ContractSite:
    """A site folder and its database on the MariaDB server at `server` (root access)."""

    def __init__(self, root: Path, redis_url: str, server: dict):
        self.root = root
        self.sites_path = root / "sites"
        self.site = "contract.localhost"
        self.db_name = f"dw_contract_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.db_password = uuid.uuid4().hex
        self.redis_url = redis_url
        self.server = server
        self.workers: list[subprocess.Popen] = []

    # --- creation --------------------------------------------------------------------------------
    def _root_sql(self, *statements: str) -> None:
        conn = pymysql.connect(autocommit=True, **self.server)
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            conn.close()

    def create(self) -> ContractSite:
        name, password = self.db_name, self.db_password
        self._root_sql(
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
            f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'",
            f"CREATE USER '{name}'@'localhost' IDENTIFIED BY '{password}'",
            f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{name}'@'%'",
            f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{name}'@'localhost'",
        )
        (self.sites_path / self.site).mkdir(parents=True)
        (self.sites_path / "common_site_config.json").write_text(
            json.dumps({"redis_queue": self.redis_url, "redis_cache": self.redis_url, "bench_id": "contract-bench"})
        )
        (self.sites_path / self.site / "site_config.json").write_text(
            json.dumps(
                {
                    "db_name": name,
                    "db_password": password,
                    "db_host": self.server.get("host", "127.0.0.1"),
                    "db_port": self.server.get("port", 3306),
                    "installed_apps": [APP],
                }
            )
        )
        return self

    def drop(self) -> None:
        self.stop_workers()
        self._root_sql(
            f"DROP DATABASE IF EXISTS `{self.db_name}`",
            f"DROP USER IF EXISTS '{self.db_name}'@'%'",
            f"DROP USER IF EXISTS '{self.db_name}'@'localhost'",
        )

    # --- context ---------------------------------------------------------------------------------
    def connect(self, user: str = "Administrator") -> None:
        """`frappe.init` + `frappe.connect` for this site in the current thread."""
        import frappe

        frappe.init(self.site, sites_path=str(self.sites_path), force=True)
        frappe.connect()
        frappe.set_user(user)

    def install(self) -> None:
        """v15 `install_app`: tables, on_doctype_update, fixtures, after_install (as Administrator)."""
        import frappe
        from frappe.model import meta as meta_module

        meta_module.CORE_DOCTYPES.update(CORE_DOCTYPES)
        db = frappe.db
        for meta in CORE_DOCTYPES.values():
            create_table(db, meta)
        db.sql_ddl("create table `tabSeries` (name varchar(100), current int(10) not null default 0, primary key(name))")
        db.sql_ddl("create table `tabDocType` (name varchar(140) primary key, modified datetime(6))")
        db.sql_ddl("create table `tabSingles` (doctype varchar(140), field varchar(140), value text, index(doctype))")
        # A zone other than the machine's UTC, so that naive UTC passed off as system time shows.
        db.sql("insert into `tabSingles` values ('System Settings', 'time_zone', %s)", (SYSTEM_TIME_ZONE,))
        db.sql_ddl("create table `tabPatch Log` (name varchar(140) primary key, patch text, skipped int(1) default 0)")
        for role in ("System Manager", "Job Administrator", "Job User", "All", "Guest"):
            db.sql("insert into `tabRole` (name, role_name) values (%s, %s)", (role, role))
        db.commit()
        self._sync_doctypes(created=True)
        for patch in self._patches("pre_model_sync") + self._patches("post_model_sync"):
            self._log_patch(patch)  # v15 install_app: set_all_patches_as_completed
        self._import_fixtures()
        for hook in frappe.get_hooks("after_install"):
            frappe.get_attr(hook)()
        frappe.db.commit()

    def migrate(self) -> None:
        """v15 `SiteMigration.run`: sync changed DocTypes, import fixtures, run after_migrate."""
        import frappe

        for hook in frappe.get_hooks("before_migrate"):
            frappe.get_attr(hook)()
        self._run_patches("pre_model_sync")
        self._sync_doctypes(created=False)
        self._run_patches("post_model_sync")
        self._import_fixtures()
        for hook in frappe.get_hooks("after_migrate"):
            frappe.get_attr(hook)()
        frappe.db.commit()

    def _patches(self, section: str) -> list[str]:
        """The app's patches.txt entries of one section (frappe/modules/patch_handler.py)."""
        import configparser

        parser = configparser.ConfigParser(allow_no_value=True, delimiters=("\n",))
        parser.optionxform = str
        parser.read(Path(import_module(APP).__file__).parent / "patches.txt")
        return list(parser[section]) if parser.has_section(section) else []

    def _log_patch(self, patch: str) -> None:
        import frappe

        frappe.db.sql("insert into `tabPatch Log` (name, patch) values (%s, %s)", (frappe.generate_hash(length=10), patch))

    def _run_patches(self, section: str) -> None:
        """v15 `patch_handler.run_all`: each patch not in the Patch Log runs (`<module>.execute`) and
        is logged, committed on success, rolled back on failure."""
        import frappe

        done = {row[0] for row in frappe.db.sql("select patch from `tabPatch Log` where skipped=0")}
        for patch in self._patches(section):
            if patch in done:
                continue
            frappe.db.begin()
            try:
                frappe.get_attr(f"{patch.split(maxsplit=1)[0]}.execute")()
                self._log_patch(patch)
            except Exception:
                frappe.db.rollback()
                raise
            frappe.db.commit()

    def _app_doctypes(self) -> list[tuple[dict, str]]:
        root = Path(import_module(APP).__file__).parent
        found = []
        for module in (root / "modules.txt").read_text().splitlines():
            module_path = module.lower().replace(" ", "_")
            for path in sorted((root / module_path / "doctype").glob("*/*.json")):
                if path.parent.name == path.stem:
                    found.append((json.loads(path.read_text()), f"{APP}.{module_path}.doctype.{path.stem}.{path.stem}"))
        return found

    def _sync_doctypes(self, created: bool) -> None:
        import frappe

        for meta, controller in self._app_doctypes():
            stored = frappe.db.sql("select modified from `tabDocType` where name=%s", (meta["name"],))
            if stored and str(stored[0][0]) == str(frappe.utils.get_datetime(meta["modified"])):
                continue  # v15 import_file_by_path skips a DocType whose JSON is unchanged
            if not stored:
                create_table(frappe.db, meta)
            frappe.db.sql(
                "replace into `tabDocType` (name, modified) values (%s, %s)", (meta["name"], meta["modified"])
            )
            frappe.db.commit()
            on_update = getattr(import_module(controller), "on_doctype_update", None)
            if on_update:
                on_update()
            frappe.db.commit()

    def _import_fixtures(self) -> None:
        """v15 `sync_fixtures`: every `<app>/fixtures/*.json` document inserted or overwritten."""
        import frappe

        folder = Path(import_module(APP).__file__).parent / "fixtures"
        for path in sorted(folder.glob("*.json")):
            for doc in json.loads(path.read_text()):
                doctype, name = doc["doctype"], doc["name"]
                frappe.db.sql(f"delete from `tab{doctype}` where name=%s", (name,))
                record = frappe.get_doc(doc)
                record.flags.ignore_permissions = True
                record.insert(ignore_permissions=True)
        frappe.db.commit()

    # --- workers ---------------------------------------------------------------------------------
    def environ(self) -> dict[str, str]:
        return {
            **os.environ,
            # the host, and tests/ for the contract tests' own handlers (frappe_contract.handlers)
            "PYTHONPATH": os.pathsep.join([str(HOST_PATH), str(HOST_PATH.parent), os.environ.get("PYTHONPATH", "")]),
            "FRAPPE_HOST_SITES_PATH": str(self.sites_path),
        }

    def start_worker(self, queue: str = "short,default,long", *, burst: bool = False, simple: bool = False,
                     extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """A real RQ worker process, like `bench worker`, running jobs through `execute_job`."""
        code = (
            "import frappe.utils.background_jobs as b; "
            f"b.start_worker(queue={queue!r}, burst={burst!r}, simple={simple!r})"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=self.sites_path, env={**self.environ(), **(extra_env or {})}
        )
        self.workers.append(proc)
        return proc

    def run_burst_worker(self, queue: str = "short,default,long", timeout: float = 60) -> None:
        """Run every queued job, then return (an RQ burst worker)."""
        proc = self.start_worker(queue, burst=True)
        proc.wait(timeout)

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers.clear()
