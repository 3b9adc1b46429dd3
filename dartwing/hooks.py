"""Frappe hooks for the Dartwing app (see README, "Install in a Frappe bench")."""

app_name = "dartwing"
app_title = "Dartwing"
app_publisher = "Dartwing"
app_description = "Guaranteed background jobs for multi-tenant Frappe apps"
app_email = "engineering@dartwing.dev"
app_license = "MIT"
# Frappe itself is always installed; naming it here only makes `install-app` look it up on GitHub.
required_apps = []

# The sweeps that keep the guarantees (background_jobs/scheduler.py SCHEDULE; a test keeps the two equal).
# Frappe's "all" event runs only every scheduler_interval (4 minutes by default), so the minute sweep
# is a cron entry.
scheduler_events = {
    "cron": {
        "* * * * *": ["dartwing.dartwing_core.background_jobs.scheduler.every_minute"],
        "*/5 * * * *": ["dartwing.dartwing_core.background_jobs.scheduler.every_five_minutes"],
        "30 2 * * *": ["dartwing.dartwing_core.background_jobs.scheduler.daily"],
    },
}

# Default Job Types (inserted when missing, never overwritten) and the composite indexes, on install
# and on every migrate. Job Types are no fixture: Frappe re-imports fixtures with overwrite each migrate.
after_install = "dartwing.dartwing_core.install.after_install"
after_migrate = "dartwing.dartwing_core.install.after_migrate"

permission_query_conditions = {
    "Background Job": "dartwing.dartwing_core.permissions.background_job_query",
    "Job Execution Log": "dartwing.dartwing_core.permissions.job_execution_log_query",
    "Job Type": "dartwing.dartwing_core.permissions.job_type_query",
    "Job Schedule": "dartwing.dartwing_core.permissions.job_schedule_query",
    "Job Schedule Run": "dartwing.dartwing_core.permissions.job_schedule_run_query",
    "Organization": "dartwing.dartwing_core.permissions.organization_query",
}

has_permission = {
    "Background Job": "dartwing.dartwing_core.permissions.has_organization_permission",
    "Job Execution Log": "dartwing.dartwing_core.permissions.has_organization_permission",
    "Job Type": "dartwing.dartwing_core.permissions.has_job_type_permission",
    "Job Schedule": "dartwing.dartwing_core.permissions.has_organization_permission",
    "Job Schedule Run": "dartwing.dartwing_core.permissions.has_organization_permission",
    "Organization": "dartwing.dartwing_core.permissions.has_organization_record_permission",
}

# App-owned records, exported by `bench export-fixtures` and re-imported on every migrate.
fixtures = [
    {"dt": "Role", "filters": [["name", "in", ["Job Administrator", "Job User"]]]},
    {"dt": "Number Card", "filters": [["module", "=", "Dartwing Core"]]},
    {"dt": "Dashboard Chart", "filters": [["module", "=", "Dartwing Core"]]},
]
