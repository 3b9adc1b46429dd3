"""Cold start of the app's job under Frappe (issue 20, part 1): fresh interpreters, as a work horse of a
stock `bench worker` that has never imported the app.

Why: `bench worker`'s parent never imports the app (unless the app's `commands` module preloads it, as
dartwing/commands.py does), so a forked horse imports `run_job`'s modules cold before it runs one job; a
stock job pays none of that. Those modules import no SQLAlchemy (their statements come precompiled). Target: the app adds at
most 50 ms over what a stock horse already has.

Each variant runs in a fresh interpreter (a subprocess; `os._exit` at the end, as an RQ horse exits),
repeated in rounds that alternate the order of the variants (one warm-up round first, not counted):

- (a) a bare interpreter: `python -c pass`;
- (b) what a stock horse already has: `frappe`, `frappe.utils.background_jobs`, `frappe.database`,
  `rq`, `redis`, `pymysql`;
- (c) (b) + what `run_job` needs under the Frappe runtime: `dartwing.dartwing_core.frappe_runtime`
  and `dartwing.dartwing_core.background_jobs.execution` (the engine);
- stock job: (b) + one stock no-op in a site context, as a horse runs it: Frappe's `execute_job`
  (`frappe.init` + `frappe.connect`, `frappe.ping`, commit, `frappe.destroy`);
- (d) (c) + one real `noop` Background Job through `execute_job(..., run_job, background_job=<name>,
  attempt=0)` in the same site context (claim, handler, outcome, commit). Each run has its own job,
  submitted (as Administrator, for an Active Organization) and committed before the round.

Time is the wall time from spawn to exit, measured by this process (beside it the child's CPU time,
user + system, from getrusage: steadier on a shared machine); the child's own
`time.perf_counter()` marks (the same CLOCK_MONOTONIC) split it into spawn → script start, imports and
the job. Added milliseconds are medians of the per-round differences (c − b, d − b, d − stock job).
The target is met when (c) − (b) ≤ 50 ms and (d) − stock job ≤ 50 ms: the app's import, and its
import plus its job beside a stock job in the same setting ((d) − (b) is printed too; it includes the
site context every job pays, stock job − (b)). A missed target is reported, not an error: the exit
status is 0 unless the benchmark itself could not run.

Bytecode: by default (`--bytecode both`) every round set runs twice. First `cached`: the children get
.pyc files under a private PYTHONPYCACHEPREFIX (written by the warm-up round), as an installed bench
has them (pip compiles them, and Python writes them on first import): the case a production horse is
in, and the run whose verdict is the target's. Then `environment`, as a reference: the children do as
the environment says; this machine sets PYTHONDONTWRITEBYTECODE=1, so there every child compiles
every module it imports from source, stock and app alike. `--bytecode cached` or `environment` runs
one of them.

Then `python -X importtime` of (b), (c) and (d): the 15 largest cumulative entries among the modules
(c) imports beyond (b), each module's self time summed by package, and what (d)'s run imports beyond
(c) and the stock job (lazy imports on the app job's path).

Frappe: by default the Frappe v15 contract host of tests/frappe_host/ (a stand-in `frappe` on
PYTHONPATH) on a throw-away site (tests/frappe_host/contract_site.py: its own MariaDB database at
127.0.0.1:3306 as root, dropped at the end) and a redis-server of the run's own. The children run in
the Frappe-pins virtualenv (.venv-frappe-v15-pins: rq 1.15.1; rq 2 refuses Frappe's job ids) when the
current interpreter has rq 2 and that virtualenv exists, else in this interpreter (`--python` to
choose). With `--bench-python` a real bench's own Frappe and app are measured instead; the jobs it
submits there send their RQ messages to this run's own redis-server (its `redis_queue` is overridden
in the submitting process only), so the bench's workers never take them; the children then run
them in the bench's site, which keeps the few Completed `noop` rows.

    python bench/cold_start.py                   # 10 rounds (host; MariaDB needed for the job variants)
    python bench/cold_start.py --quick           # 3 rounds, one importtime run
    .venv-frappe-v15-pins/bin/python bench/cold_start.py --repeats 20
    .venv-frappe-v15-pins/bin/python bench/cold_start.py --bytecode cached --profile
    python bench/cold_start.py --bench-python /tmp/fb/env/bin/python --bench-site dartwing.localhost \\
        --bench-sites /tmp/fb/sites
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
HOST_PATH = ROOT / "tests" / "frappe_host"
PINS_PYTHON = ROOT / ".venv-frappe-v15-pins" / "bin" / "python"
sys.path.insert(0, str(BENCH_DIR))
from common import OwnRedis, print_table, write_result  # noqa: E402

TARGET_MS = 50.0
ORGANIZATION = "Cold Start Bench Org"
REUSED_ORGANIZATIONS = ("FB Bench Org",)  # the hand-built bench's measure.py organization, if present
RUN_JOB = "dartwing.dartwing_core.background_jobs.execution.run_job"
STOCK_IMPORTS = "import frappe, frappe.utils.background_jobs, frappe.database, rq, redis, pymysql"
APP_IMPORTS = "import dartwing.dartwing_core.frappe_runtime, dartwing.dartwing_core.background_jobs.execution"
VARIANTS = {
    "a": "(a) bare interpreter: python -c pass",
    "b": "(b) stock horse's imports (frappe, background_jobs, database, rq, redis, pymysql)",
    "c": "(c) (b) + run_job's imports (frappe_runtime, execution)",
    "stock": "stock job: (b) + execute_job(frappe.ping) in the site",
    "d": "(d) (c) + execute_job(run_job) of one noop job in the site",
}
JOB_VARIANTS = ("stock", "d")
DIFFERENCES = (("c", "b"), ("d", "b"), ("stock", "b"), ("d", "stock"))
PROFILE_TOP = 25  # functions shown per profiled job run


# --- the children ------------------------------------------------------------------------------------


def child_code(variant: str, site: str | None = None, job: str | None = None, profile: bool = False) -> str:
    """The `-c` program of one variant; it prints its perf_counter marks as JSON, then `os._exit(0)`.
    With `profile`, the job's run (after the imports) runs under cProfile and its stats go to stderr."""
    if variant == "a":
        return "pass"
    lines = ["import time", "_t0 = time.perf_counter()", STOCK_IMPORTS]
    if variant in ("c", "d"):
        lines.append(APP_IMPORTS)
    lines += ["_t1 = time.perf_counter()", "ret = None"]
    if profile:
        lines += ["import cProfile", "_profile = cProfile.Profile()", "_profile.enable()"]
    if variant == "d":
        kwargs = {"background_job": job, "attempt": 0}
        lines.append(
            f"ret = frappe.utils.background_jobs.execute_job({site!r}, {RUN_JOB!r}, None, {job!r}, {kwargs!r})"
        )
    elif variant == "stock":
        lines += [
            "def _ping():\n    return 'pong'",  # the contract host has no frappe.ping
            "ret = frappe.utils.background_jobs.execute_job("
            f"{site!r}, 'frappe.ping' if hasattr(frappe, 'ping') else _ping, None, 'cold-start-ping', {{}})",
        ]
    lines.append("_t2 = time.perf_counter()")
    if profile:
        lines += [
            "_profile.disable()",
            "import pstats",
            "pstats.Stats(_profile, stream=sys.stderr).sort_stats('tottime').print_stats(PROFILE_TOP)"
            .replace("PROFILE_TOP", str(PROFILE_TOP)),
        ]
        lines.insert(0, "import sys")
    lines += [
        "import json, os, sys",
        "sys.stdout.write('\\n' + json.dumps({'t0': _t0, 't1': _t1, 't2': _t2, 'ret': str(ret)}) + '\\n')",
        "sys.stdout.flush()",
        "os._exit(0)",
    ]
    return "\n".join(lines)


class Setting:
    """Where the children run: the interpreter, its environment and working directory, the site."""

    def __init__(self, python: str, env: dict[str, str], cwd: str, host: bool):
        self.python, self.env, self.cwd, self.host = python, env, cwd, host
        self.site: str | None = None
        self.sites_path: str | None = None

    def run(self, code: str, *flags: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.python, *flags, "-c", code], env=self.env, cwd=self.cwd, capture_output=True, text=True,
            timeout=timeout,
        )

    def helper(self, name: str, **args: Any) -> Any:
        """Run one of this file's helpers (below) in the children's interpreter; its JSON answer."""
        proc = subprocess.run(
            [self.python, str(Path(__file__).resolve()), "--helper", name, json.dumps(args)],
            env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=600,
        )
        if proc.returncode:
            raise RuntimeError(f"helper {name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_once(setting: Setting, variant: str, job: str | None = None) -> dict[str, Any]:
    code = child_code(variant, setting.site, job)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = setting.run(code)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # only this child was reaped in between
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode:
        raise RuntimeError(f"variant {variant} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    sample: dict[str, Any] = {"wall_ms": wall * 1000, "cpu_ms": cpu * 1000}
    if variant != "a":
        marks = json.loads(proc.stdout.strip().splitlines()[-1])
        sample.update(
            startup_ms=(marks["t0"] - started) * 1000,
            imports_ms=(marks["t1"] - marks["t0"]) * 1000,
            job_ms=(marks["t2"] - marks["t1"]) * 1000,
            to_done_ms=(marks["t2"] - started) * 1000,
            ret=marks["ret"],
        )
        expected = {"d": "Completed", "stock": "pong"}.get(variant)
        if expected and sample["ret"] != expected:
            raise RuntimeError(f"variant {variant} returned {sample['ret']!r}, not {expected!r}: {proc.stderr[-2000:]}")
    return sample


def run_rounds(setting: Setting, variants: list[str], repeats: int, jobs: list[str]) -> dict[str, list[dict]]:
    """One warm-up round (bytecode caches, page cache), then `repeats` rounds, the order rotated each
    round so that no variant always runs first or right after another."""
    samples: dict[str, list[dict]] = {v: [] for v in variants}
    for round_no in range(repeats + 1):
        shift = round_no % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            sample = measure_once(setting, variant, jobs.pop() if variant == "d" else None)
            if round_no:
                samples[variant].append(sample)
        if round_no:
            line = ", ".join(f"{v} {samples[v][-1]['wall_ms']:.0f}" for v in variants)
            print(f"  round {round_no}/{repeats}: wall ms {line}", flush=True)
    return samples


# --- -X importtime -----------------------------------------------------------------------------------


def importtime(setting: Setting, variant: str, job: str | None = None) -> list[dict[str, Any]]:
    """[{module, depth, self_us, cumulative_us}] of one fresh run under `-X importtime`."""
    proc = setting.run(child_code(variant, setting.site, job), "-X", "importtime")
    if proc.returncode:
        raise RuntimeError(f"importtime of {variant} failed:\n{proc.stderr[-4000:]}")
    entries = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:"):].split("|", 2)
        entries.append({
            "module": name.strip(),
            "depth": (len(name) - len(name.lstrip()) - 1) // 2,
            "self_us": int(self_us),
            "cumulative_us": int(cumulative_us),
        })
    return entries


def median_entries(runs: list[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per module, the median self and cumulative time over the runs it appears in."""
    by_module: dict[str, list[dict]] = {}
    for entries in runs:
        for entry in entries:
            by_module.setdefault(entry["module"], []).append(entry)
    return {
        module: {
            "module": module,
            "depth": found[0]["depth"],
            "self_us": statistics.median(e["self_us"] for e in found),
            "cumulative_us": statistics.median(e["cumulative_us"] for e in found),
        }
        for module, found in by_module.items()
    }


def package_of(module: str) -> str:
    parts = module.split(".")
    depth = {"dartwing": 3, "frappe": 2}.get(parts[0], 1)
    return ".".join(parts[:depth])


def by_package(entries: list[dict[str, Any]]) -> list[list[Any]]:
    totals: dict[str, list[float]] = {}
    for entry in entries:
        total = totals.setdefault(package_of(entry["module"]), [0, 0.0])
        total[0] += 1
        total[1] += entry["self_us"] / 1000
    return sorted(([pkg, n, ms] for pkg, (n, ms) in totals.items()), key=lambda row: -row[2])


# --- statistics and report -------------------------------------------------------------------------


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return {"median": statistics.median(ordered), "p25": quartiles[0], "p75": quartiles[2],
            "min": ordered[0], "max": ordered[-1]}


def report(samples: dict[str, list[dict]], env: dict[str, Any], repeats: int) -> dict[str, Any]:
    rows, stats = [], {}
    for variant, found in samples.items():
        wall = summary([s["wall_ms"] for s in found])
        cpu = summary([s["cpu_ms"] for s in found])
        stats[variant] = {"wall_ms": wall, "cpu_ms": cpu, "samples": found}
        keys = ("startup_ms", "imports_ms", "job_ms") if variant in JOB_VARIANTS else ("startup_ms", "imports_ms")
        part = {key: statistics.median(x[key] for x in found) for key in keys if key in found[0]}
        stats[variant].update({f"median_{k}": v for k, v in part.items()})
        rows.append([VARIANTS[variant], wall["median"], wall["p25"], wall["p75"], wall["min"], wall["max"],
                     cpu["median"], cpu["min"], cpu["max"], part.get("startup_ms", "-"), part.get("imports_ms", "-"), part.get("job_ms", "-")])
    print_table(
        f"cold start, fresh interpreters: wall ms spawn → exit, {repeats} alternated rounds",
        ["variant", "median", "p25", "p75", "min", "max", "CPU median", "CPU min", "CPU max", "spawn→script",
         "imports", "job"],
        rows,
        env,
    )
    added, diff_rows = {}, []
    for high, low in DIFFERENCES:
        if high not in samples or low not in samples:
            continue
        pairs = list(zip(samples[high], samples[low], strict=True))
        key = f"{high}-{low}"
        added[key] = summary([h["wall_ms"] - lo["wall_ms"] for h, lo in pairs])
        added_cpu = summary([h["cpu_ms"] - lo["cpu_ms"] for h, lo in pairs])
        added[key]["cpu"] = added_cpu
        target = high in ("c", "d") and (low == "b" if high == "c" else low == "stock")
        verdict = ("met" if added[key]["median"] <= TARGET_MS else "missed") if target else ""
        diff_rows.append([f"{high} − {low}", added[key]["median"], added[key]["min"], added[key]["max"],
                          added_cpu["median"], added_cpu["min"], added_cpu["max"],
                          f"≤ {TARGET_MS:.0f}: {verdict}" if target else "(reference)"])
    print_table(
        "added ms, median of the per-round differences (spread: min, max); the target is on wall time",
        ["difference", "wall median", "wall min", "wall max", "CPU median", "CPU min", "CPU max", "target"],
        diff_rows,
    )
    checked = [added[k]["median"] <= TARGET_MS for k in ("c-b", "d-stock") if k in added]
    met = bool(checked) and all(checked)
    incomplete = "" if "d-stock" in added else " (only the import was measured: no site for the job variants)"
    print(f"\n  target met: {'yes' if met else 'no'} (≤ {TARGET_MS:.0f} ms added by (c) over (b) "
          f"and by (d) over the stock job){incomplete}")
    return {"variants": stats, "added_ms": added, "target_ms": TARGET_MS, "target_met": met}


def report_importtime(setting: Setting, runs: int, jobs: list[str], with_job: bool) -> dict[str, Any]:
    measured: dict[str, list] = {"b": [], "c": [], "stock": [], "d": []}
    for _ in range(runs):
        for variant in measured:
            if variant in JOB_VARIANTS and not with_job:
                continue
            measured[variant].append(importtime(setting, variant, jobs.pop() if variant == "d" else None))
    medians = {v: median_entries(r) for v, r in measured.items() if r}
    new_c = [e for m, e in medians["c"].items() if m not in medians["b"]]
    top = sorted(new_c, key=lambda e: -e["cumulative_us"])[:15]
    print_table(
        f"-X importtime of (c): the 15 largest cumulative entries among the {len(new_c)} modules (c) imports "
        f"beyond (b) (median of {runs} run(s); importtime itself slows imports)",
        ["module", "depth", "self ms", "cumulative ms"],
        [["  " * e["depth"] + e["module"], e["depth"], e["self_us"] / 1000, e["cumulative_us"] / 1000] for e in top],
    )
    packages = by_package(new_c)
    print_table(
        f"(c) beyond (b), self time summed by package (total {sum(r[2] for r in packages):.1f} ms)",
        ["package", "modules", "self ms"],
        packages[:15],
    )
    result: dict[str, Any] = {"runs": runs, "c_over_b_top": top, "c_over_b_by_package": packages}
    if "d" in medians:
        # what the app's job imports while it runs that neither (c) nor the stock job's site context did
        new_d = [e for m, e in medians["d"].items() if m not in medians["c"] and m not in medians["stock"]]
        packages_d = by_package(new_d)
        top_d = sorted(new_d, key=lambda e: -e["cumulative_us"])[:10]
        print_table(
            f"(d) beyond (c) and the stock job: imported while the app's job runs, the 10 largest cumulative "
            f"entries (total self {sum(r[2] for r in packages_d):.1f} ms, {len(new_d)} modules)",
            ["module", "depth", "self ms", "cumulative ms"],
            [["  " * e["depth"] + e["module"], e["depth"], e["self_us"] / 1000, e["cumulative_us"] / 1000]
             for e in top_d],
        )
        print_table("the same, self time by package", ["package", "modules", "self ms"], packages_d[:12])
        result["d_over_c_and_stock_top"] = top_d
        result["d_over_c_and_stock_by_package"] = packages_d
        result["d_over_c_and_stock_modules"] = sorted(e["module"] for e in new_d)
    return result


# --- helpers, run in the children's interpreter (`cold_start.py --helper NAME JSON`) -------------------


def helper_environment(_: dict) -> dict[str, Any]:
    import platform

    import frappe

    def dist(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "absent"

    frappe_file = Path(frappe.__file__).resolve()
    import dartwing

    return {
        "python": f"{platform.python_version()} ({sys.executable})",
        "Frappe": (f"contract host {frappe.__version__} (tests/frappe_host)" if frappe_file.is_relative_to(HOST_PATH)
                   else f"real Frappe {frappe.__version__} ({frappe_file.parent})"),
        "dartwing": str(Path(dartwing.__file__).resolve().parent),
        **{name: dist(name) for name in ("rq", "redis", "SQLAlchemy", "PyMySQL")},
    }


def helper_setup_host(args: dict) -> dict[str, Any]:
    """A contract site as tests/frappe_contract/conftest.py makes one: create, connect, install."""
    sys.path.insert(0, str(HOST_PATH))
    import frappe
    from contract_site import ContractSite

    site = ContractSite(Path(args["root"]), args["redis_url"], args["server"])
    site.create()
    try:
        site.connect()
        site.install()
        frappe.destroy()
    except BaseException:
        site.drop()
        raise
    return {"site": site.site, "sites_path": str(site.sites_path), "db_name": site.db_name}


def helper_drop_host(args: dict) -> dict[str, Any]:
    sys.path.insert(0, str(HOST_PATH))
    from contract_site import ContractSite

    site = ContractSite(Path(args["root"]), args["redis_url"], args["server"])
    site.db_name = args["db_name"]
    site.drop()
    return {"dropped": args["db_name"]}


def helper_submit(args: dict) -> dict[str, Any]:
    """`count` noop jobs submitted and committed one by one as Administrator; their names (Queued)."""
    import frappe

    from dartwing.dartwing_core.background_jobs import submit_job

    frappe.init(args["site"], sites_path=args["sites_path"], force=True)
    frappe.connect()
    frappe.set_user("Administrator")
    if args.get("redis_queue"):  # a real bench: RQ messages to this run's own redis-server, never its workers
        frappe.local.conf.redis_queue = args["redis_queue"]
    organization = None
    for candidate in (*REUSED_ORGANIZATIONS, ORGANIZATION):
        organization = frappe.db.get_value("Organization", {"organization_name": candidate, "status": "Active"}, "name")
        if organization:
            break
    if not organization:
        organization = frappe.get_doc(
            {"doctype": "Organization", "organization_name": ORGANIZATION, "status": "Active"}
        ).insert(ignore_permissions=True).name
        frappe.db.commit()
    names = []
    for index in range(args["count"]):
        job = submit_job("noop", organization, {"cold_start": index, "run": args["run"]})
        frappe.db.commit()
        names.append(job["name"])
    states = frappe.db.sql(
        "select name, status, attempt from `tabBackground Job` where name in %(names)s", {"names": tuple(names)}
    )
    bad = [row for row in states if row[1] != "Queued" or int(row[2]) != 0]
    frappe.destroy()
    if bad or len(states) != len(names):
        raise RuntimeError(f"submitted jobs not Queued at attempt 0: {bad}")
    return {"names": names, "organization": organization}


def report_profiles(setting: Setting, jobs: list[str]) -> None:
    """cProfile of one stock job's run and one app job's run (after the imports), each in a fresh
    interpreter: the functions with the most own time, to name what the app's job costs beyond the stock."""
    for variant in JOB_VARIANTS:
        proc = setting.run(child_code(variant, setting.site, jobs.pop() if variant == "d" else None, profile=True))
        if proc.returncode:
            raise RuntimeError(f"profiled variant {variant} exited {proc.returncode}: {proc.stderr[-2000:]}")
        stats = proc.stderr[proc.stderr.find("function calls"):] if "function calls" in proc.stderr else proc.stderr
        print(f"\ncProfile of {VARIANTS[variant]}: the job's run only, by own time (top {PROFILE_TOP})")
        print("\n".join("  " + line for line in stats.strip().splitlines()))


HELPERS = {
    "environment": helper_environment,
    "setup-host": helper_setup_host,
    "drop-host": helper_drop_host,
    "submit": helper_submit,
}


# --- main --------------------------------------------------------------------------------------------


def _rq_major() -> int:
    try:
        return int(version("rq").split(".")[0])
    except PackageNotFoundError:
        return 0


def choose_python(requested: str | None) -> str:
    if requested:
        return requested
    if _rq_major() >= 2 and PINS_PYTHON.exists():
        return str(PINS_PYTHON)
    return sys.executable


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--helper"]:
        print(json.dumps(HELPERS[argv[1]](json.loads(argv[2])), default=str))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds and one importtime run (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 10, --quick 3)")
    parser.add_argument("--python", help="interpreter of the contract-host children (default: see docstring)")
    parser.add_argument("--bench-python", help="a real bench's env/bin/python: measure its Frappe instead")
    parser.add_argument("--bench-site", default="dartwing.localhost", help="site of the real bench")
    parser.add_argument("--bench-sites", help="sites directory of the real bench (default: beside env/)")
    parser.add_argument("--bytecode", choices=("both", "cached", "environment"), default="both",
                        help="cached: the children read and write .pyc files under a private prefix (as an "
                        "installed bench has them), whatever PYTHONDONTWRITEBYTECODE says; the warm-up "
                        "round writes them. environment: as the environment says. both (default): cached "
                        "(the verdict), then environment (reference)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one stock job's run "
                        "and one app job's run (each in a fresh interpreter, after the imports)")
    parser.add_argument("--mariadb", default="127.0.0.1:3306", help="host:port of MariaDB (root, no password) "
                        "for the contract site")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 10)
    importtime_runs = 1 if args.quick else 3

    home = Path(tempfile.mkdtemp(prefix="dartwing-bench-cold-start-"))
    own_redis = OwnRedis(home).start()
    drop: dict[str, Any] | None = None
    setting: Setting
    try:
        if args.bench_python:
            sites = args.bench_sites or str(Path(args.bench_python).resolve().parent.parent.parent / "sites")
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
            setting = Setting(args.bench_python, env, sites, host=False)
            setting.site, setting.sites_path = args.bench_site, sites
        else:
            python = choose_python(args.python)
            sites_dir = home / "sites"
            path = os.pathsep.join(p for p in (str(HOST_PATH), os.environ.get("PYTHONPATH", "")) if p)
            env = {**os.environ, "PYTHONPATH": path, "FRAPPE_HOST_SITES_PATH": str(sites_dir)}
            setting = Setting(python, env, str(home), host=True)
            host, _, port = args.mariadb.partition(":")
            server = {"host": host, "port": int(port or 3306), "user": "root", "password": ""}
            try:
                made = setting.helper("setup-host", root=str(home), redis_url=own_redis.url, server=server)
                drop = {"root": str(home), "redis_url": own_redis.url, "server": server, "db_name": made["db_name"]}
                setting.site, setting.sites_path = made["site"], made["sites_path"]
                setting.cwd = made["sites_path"]
            except RuntimeError as exc:
                print(f"  no contract site, so no job variants (MariaDB at {args.mariadb}?): "
                      f"{str(exc).strip().splitlines()[-1]}")

        with_job = setting.site is not None
        modes = ("cached", "environment") if args.bytecode == "both" else (args.bytecode,)
        base_env = setting.env
        results = {}
        for mode in modes:
            setting.env = dict(base_env)
            if mode == "cached":
                setting.env.pop("PYTHONDONTWRITEBYTECODE", None)
                setting.env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
            print(f"\n=== bytecode {mode}" + (" (the verdict)" if mode == "cached" else " (reference)"), flush=True)
            results[mode] = measure_mode(setting, args, home, own_redis, repeats, importtime_runs, with_job)
        verdicts = {mode: result["target_met"] for mode, result in results.items()}
        print("\n  target met: " + "; ".join(f"{m}: {'yes' if v else 'no'}" for m, v in verdicts.items())
              + ("  (the verdict is the cached run's)" if len(modes) > 1 else ""))
        write_result("cold_start", {"quick": args.quick, "repeats": repeats, "modes": results})
        return 0
    finally:
        if drop is not None:
            try:
                setting.helper("drop-host", **drop)
            except RuntimeError as exc:
                print(f"  could not drop the contract site's database {drop['db_name']}: {exc}")
        own_redis.stop()
        shutil.rmtree(home, ignore_errors=True)


def measure_mode(
    setting: Setting, args: argparse.Namespace, home: Path, own_redis: OwnRedis, repeats: int,
    importtime_runs: int, with_job: bool,
) -> dict[str, Any]:
    """Rounds, report, importtime and (with --profile) the profiles, in the setting's bytecode mode."""
    variants = ["a", "b", "c", *(("stock", "d") if with_job else ())]
    jobs: list[str] = []
    if with_job:
        jobs = setting.helper(
            "submit", site=setting.site, sites_path=setting.sites_path,
            count=repeats + 1 + importtime_runs + (1 if args.profile else 0),
            run=f"{home.name}-{time.time_ns()}",
            redis_queue=None if setting.host else own_redis.url,
        )["names"]
    env_info = setting.helper("environment")
    if not setting.host:
        dartwing_dir = Path(env_info["dartwing"]).parent
        head = subprocess.run(["git", "-C", str(dartwing_dir), "log", "-1", "--format=%h %cs"],
                              capture_output=True, text=True).stdout.strip()
        env_info["dartwing"] += f" at {head or 'unknown commit'}; site {setting.site}"
    env_info["bytecode"] = (
        "cached (.pyc under a private prefix)" if "PYTHONPYCACHEPREFIX" in setting.env
        else "compiled from source (PYTHONDONTWRITEBYTECODE set)" if setting.env.get("PYTHONDONTWRITEBYTECODE")
        else "as the interpreter finds it"
    )
    env_info["machine"] = f"{os.uname().machine} {os.cpu_count()} cores"
    env_info["load average (1/5/15 min)"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  children: {setting.python}; variants {', '.join(variants)}; {repeats} rounds + 1 warm-up")

    samples = run_rounds(setting, variants, repeats, jobs)
    env_info["load average after (1/5/15 min)"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    result = report(samples, env_info, repeats)
    result["importtime"] = report_importtime(setting, importtime_runs, jobs, with_job)
    if args.profile and with_job:
        report_profiles(setting, jobs)
    return {"environment": env_info, **result}


if __name__ == "__main__":
    sys.exit(main())
