// Job Schedule form: the next run in the schedule's own time zone, its recent runs, Enable/Disable.
const DARTWING_SCHEDULE_API = "dartwing.dartwing_core.api.jobs.";

frappe.ui.form.on("Job Schedule", {
	refresh(frm) {
		if (frm.is_new()) {
			return;
		}
		if (frm.doc.enabled && frm.doc.next_run_at) {
			frm.dashboard.set_headline(
				__("Next run: {0} ({1})", [frappe.datetime.str_to_user(frm.doc.next_run_at), __("site time")])
			);
		} else if (!frm.doc.enabled) {
			frm.dashboard.set_headline(__("Disabled: this schedule submits no jobs"));
		}
		if (frm.doc.last_error) {
			frm.dashboard.add_comment(__("Last occurrence: {0}", [frm.doc.last_error]), "red", true);
		}
		const action = frm.doc.enabled ? "disable_schedule" : "enable_schedule";
		frm.add_custom_button(frm.doc.enabled ? __("Disable") : __("Enable"), () =>
			frappe.call({
				method: DARTWING_SCHEDULE_API + action,
				args: { schedule: frm.doc.name },
				freeze: true,
				callback: () => frm.reload_doc(),
			})
		);
		frm.add_custom_button(__("View Runs"), () =>
			frappe.set_route("List", "Job Schedule Run", { job_schedule: frm.doc.name })
		);
		if (frm.doc.last_job) {
			frm.add_custom_button(__("Last Job"), () => frappe.set_route("Form", "Background Job", frm.doc.last_job));
		}
	},
});
