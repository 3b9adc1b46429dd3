// Background Job list: status indicators, bulk Retry/Cancel; refreshes on the engine's list_update events.
const DARTWING_STATUS_COLORS = {
	Pending: "gray",
	Queued: "blue",
	Running: "orange",
	Completed: "green",
	Failed: "red",
	"Timed Out": "red",
	Canceled: "darkgrey",
	"Dead Letter": "purple",
};

frappe.listview_settings["Background Job"] = {
	add_fields: ["status", "progress", "error_type"],
	has_indicator_for_draft: true,
	get_indicator(doc) {
		return [__(doc.status), DARTWING_STATUS_COLORS[doc.status] || "gray", "status,=," + doc.status];
	},
	onload(listview) {
		for (const [label, method] of [
			[__("Retry"), "retry_job"],
			[__("Cancel"), "cancel_job"],
		]) {
			listview.page.add_action_item(label, () => {
				const names = listview.get_checked_items(true);
				Promise.all(
					names.map((job_id) =>
						frappe.call({ method: "dartwing.dartwing_core.api.jobs." + method, args: { job_id } })
					)
				).finally(() => listview.refresh());
			});
		}
	},
};
