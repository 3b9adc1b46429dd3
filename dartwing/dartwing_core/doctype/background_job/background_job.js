// Background Job form: read-only; actions go through the job API (same rules as the engine).
const DARTWING_API = "dartwing.dartwing_core.api.jobs.";
const RETRYABLE = ["Dead Letter", "Failed", "Timed Out", "Canceled"];
const CANCELABLE = ["Pending", "Queued", "Running", "Failed", "Timed Out"];

frappe.ui.form.on("Background Job", {
	refresh(frm) {
		frm.disable_save();
		if (RETRYABLE.includes(frm.doc.status)) {
			frm.add_custom_button(__("Retry"), () => dartwing_job_action(frm, "retry_job"));
		}
		if (CANCELABLE.includes(frm.doc.status)) {
			frm.add_custom_button(__("Cancel"), () => dartwing_job_action(frm, "cancel_job"));
		}
		frm.add_custom_button(__("View Log"), () =>
			frappe.set_route("List", "Job Execution Log", { background_job: frm.doc.name })
		);
		if (frm.doc.status === "Running") {
			frm.dashboard.show_progress(__("Progress"), frm.doc.progress || 0, frm.doc.progress_message || "");
		}
	},
});

function dartwing_job_action(frm, method) {
	frappe.call({
		method: DARTWING_API + method,
		args: { job_id: frm.doc.name },
		freeze: true,
		callback: () => frm.reload_doc(),
	});
}
