// Job Schedule list: enabled / disabled / failing indicators; the next run is a list column.
frappe.listview_settings["Job Schedule"] = {
	add_fields: ["enabled", "last_error", "next_run_at"],
	get_indicator(doc) {
		if (!doc.enabled) {
			return [__("Disabled"), "gray", "enabled,=,0"];
		}
		if (doc.last_error) {
			return [__("Last run failed"), "red", "enabled,=,1"];
		}
		return [__("Enabled"), "green", "enabled,=,1"];
	},
};
