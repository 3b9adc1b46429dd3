// Dashboard Chart Source "Job Activity": transitions per time bucket from the engine's activity read
// (the Job Execution Log through its indexes), scoped to the viewer's organizations.
frappe.provide("frappe.dashboards.chart_sources");

frappe.dashboards.chart_sources["Job Activity"] = {
	method: "dartwing.dartwing_core.api.desk.job_activity_chart",
	filters: [
		{
			fieldname: "window",
			label: __("Window"),
			fieldtype: "Select",
			options: "hour\nday",
			default: "day",
		},
		{
			fieldname: "series",
			label: __("Series"),
			fieldtype: "Select",
			options: "status\nfailures",
			default: "status",
		},
		{
			fieldname: "organization",
			label: __("Organization"),
			fieldtype: "Link",
			options: "Organization",
		},
	],
};
