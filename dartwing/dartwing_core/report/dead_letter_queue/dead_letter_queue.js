// Dead Letter Queue report: filters, and bulk Retry / Delete of the checked rows.
frappe.query_reports["Dead Letter Queue"] = {
	filters: [
		{ fieldname: "organization", label: __("Organization"), fieldtype: "Link", options: "Organization" },
		{ fieldname: "job_type", label: __("Job Type"), fieldtype: "Link", options: "Job Type" },
		{
			fieldname: "error_type",
			label: __("Error Type"),
			fieldtype: "Select",
			options: ["", "Transient", "Permanent", "Timeout"],
		},
		{ fieldname: "older_than_hours", label: __("Older Than (hours)"), fieldtype: "Int" },
	],
	get_datatable_options(options) {
		return Object.assign(options, { checkboxColumn: true });
	},
	onload(report) {
		const selected = () =>
			report.datatable.rowmanager.getCheckedRows().map((i) => report.data[i].name);
		const run = (method, names) =>
			Promise.all(
				names.map((name) =>
					frappe.call({ method: method, args: method.endsWith("delete") ? { doctype: "Background Job", name } : { job_id: name } })
				)
			).finally(() => report.refresh());
		report.page.add_inner_button(__("Retry Selected"), () =>
			run("dartwing.dartwing_core.api.jobs.retry_job", selected())
		);
		report.page.add_inner_button(__("Delete Selected"), () =>
			frappe.confirm(__("Delete the selected jobs and their logs?"), () =>
				run("frappe.client.delete", selected())
			)
		);
	},
};
