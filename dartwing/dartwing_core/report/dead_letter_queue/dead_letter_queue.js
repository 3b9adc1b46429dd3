// Dead Letter Queue report: filters, bulk Retry / Delete of the checked rows, and Retry All Matching
// (every Dead Letter job the filters match, retried server-side in batches by retry_matching).
//
// Both actions go through the engine's whitelisted endpoints (never frappe.client.*): the engine
// checks the job's status and the caller's role, and deletes a finished job with its log (a Canceled child keeps a dangling depends_on).
// The rows are read from the datatable when the button is clicked, the calls run one after the
// other, the selection is cleared when they are done, one summary is shown and the report is
// refreshed once. Every render of fresh rows clears the selection too: Frappe's datatable keeps
// its checked row indexes across refreshes, and those indexes would then point at other jobs.
(() => {
	const REPORT = "Dead Letter Queue";
	const RETRY = "dartwing.dartwing_core.api.jobs.retry_job";
	const DELETE = "dartwing.dartwing_core.api.jobs.delete_job";
	const RETRY_MATCHING = "dartwing.dartwing_core.api.jobs.retry_matching";

	const escape = (text) =>
		frappe.utils && frappe.utils.escape_html
			? frappe.utils.escape_html(String(text))
			: String(text);

	// The names of the rows checked right now, in the datatable on screen. A name must also be
	// in the report's current data: after a refresh with no rows Frappe keeps the old (hidden)
	// datatable, whose rows are no longer in the report.
	function checked_names(report) {
		const datatable = report.datatable;
		if (!datatable || !datatable.rowmanager || !datatable.datamanager) return [];
		const manager = datatable.datamanager;
		const current = new Set((report.data || []).map((row) => row && row.name));
		const names = [];
		for (const index of datatable.rowmanager.getCheckedRows() || []) {
			const row =
				typeof manager.getData === "function"
					? manager.getData(+index)
					: (manager.data || [])[+index];
			if (row && row.name && current.has(row.name) && !names.includes(row.name)) {
				names.push(row.name);
			}
		}
		return names;
	}

	function clear_selection(datatable) {
		if (datatable && datatable.rowmanager && datatable.rowmanager.checkMap) {
			datatable.rowmanager.checkAll(false);
		}
	}

	// The reason Frappe gives for a failed call: the engine puts its message in _server_messages.
	function reason_of(response) {
		if (response && response._server_messages) {
			try {
				const messages = JSON.parse(response._server_messages).map((message) => {
					try {
						const parsed = JSON.parse(message);
						return parsed && parsed.message !== undefined ? parsed.message : parsed;
					} catch (e) {
						return message;
					}
				});
				if (messages.length) return messages.join("; ");
			} catch (e) {
				// fall through to the other fields
			}
		}
		if (response && response.exception) return String(response.exception);
		if (response && response.exc_type) return String(response.exc_type);
		if (response && typeof response.message === "string") return response.message;
		return __("The request failed");
	}

	// One call, settled either way: {ok: true, message} or {ok: false, reason}. Frappe calls `always` after
	// `callback` on success and before `error` on failure; some failures (403, 404) reach `error`
	// without the response, or never reach it, so `always` keeps the response and settles last.
	function call_one(method, args) {
		return new Promise((resolve) => {
			let settled = false;
			let last_response = null;
			const settle = (result) => {
				if (!settled) {
					settled = true;
					resolve(result);
				}
			};
			try {
				frappe.call({
					method: method,
					args: args,
					silent: true, // one summary at the end instead of a dialog per job
					callback: (response) => settle({ ok: true, message: response && response.message }),
					error: (response) =>
						settle({ ok: false, reason: reason_of(response || last_response) }),
					always: (response) => {
						last_response = response;
						Promise.resolve().then(() =>
							settle({ ok: false, reason: reason_of(response) })
						);
					},
				});
			} catch (e) {
				settle({ ok: false, reason: String((e && e.message) || e) });
			}
		});
	}

	function show_summary(title, done_label, names, results) {
		const failed = [];
		results.forEach((result, i) => {
			if (!result.ok) failed.push({ name: names[i], reason: result.reason });
		});
		const done = results.length - failed.length;
		let message = __("{0}: {1}, failed: {2}", [done_label, done, failed.length]);
		if (failed.length) {
			message +=
				"<ul>" +
				failed
					.map((f) => `<li><b>${escape(f.name)}</b>: ${escape(f.reason)}</li>`)
					.join("") +
				"</ul>";
		}
		frappe.msgprint({
			title: title,
			message: message,
			indicator: !failed.length ? "green" : done ? "orange" : "red",
		});
		return { done: done, failed: failed };
	}

	frappe.query_reports[REPORT] = {
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
		// Called by Frappe each time it renders fresh rows (every refresh that returns rows).
		after_datatable_render(datatable) {
			clear_selection(datatable);
		},
		onload(report) {
			let busy = false;

			const run = async (title, done_label, method, names) => {
				busy = true;
				let summary;
				try {
					const results = [];
					for (const name of names) {
						results.push(await call_one(method, { job_id: name }));
					}
					summary = show_summary(title, done_label, names, results);
				} finally {
					clear_selection(report.datatable);
					busy = false;
					report.refresh();
				}
				return summary;
			};

			const selection_for = (title) => {
				if (busy) {
					frappe.show_alert({ message: __("The previous action is still running"), indicator: "orange" });
					return [];
				}
				const names = checked_names(report);
				if (!names.length) {
					frappe.show_alert({ message: __("{0}: no jobs are selected", [title]), indicator: "orange" });
				}
				return names;
			};

			report.page.add_inner_button(__("Retry Selected"), () => {
				const title = __("Retry Selected");
				const names = selection_for(title);
				if (!names.length) return Promise.resolve(null);
				return run(title, __("Retried"), RETRY, names);
			});

			// Every Dead Letter job the current filters match, not only the rows on screen (the
			// report shows 500 at most): the engine retries them in batches, one call each, until
			// none remain; the count left after each batch is the progress.
			report.page.add_inner_button(__("Retry All Matching"), () => {
				const title = __("Retry All Matching");
				if (busy) {
					frappe.show_alert({ message: __("The previous action is still running"), indicator: "orange" });
					return;
				}
				const filters = Object.assign({}, report.get_filter_values ? report.get_filter_values() : {});
				frappe.confirm(__("Retry every Dead Letter job that matches the current filters?"), () =>
					retry_all(title, filters)
				);
			});

			const retry_all = async (title, filters) => {
				busy = true;
				let retried = 0;
				const failed = [];
				let problem = null;
				try {
					for (;;) {
						const answer = await call_one(RETRY_MATCHING, { filters: JSON.stringify(filters) });
						if (!answer.ok) {
							problem = answer.reason;
							break;
						}
						retried += answer.message.retried;
						failed.push(...answer.message.failed);
						frappe.show_alert({
							message: __("Retried {0}; {1} still match", [retried, answer.message.remaining]),
							indicator: "blue",
						});
						if (!answer.message.remaining || !answer.message.retried) break;
					}
				} finally {
					clear_selection(report.datatable);
					busy = false;
					report.refresh();
				}
				let message = __("Retried: {0}, failed: {1}", [retried, failed.length]);
				if (failed.length) {
					message +=
						"<ul>" +
						failed.map((f) => `<li><b>${escape(f.job_id)}</b>: ${escape(f.error)}</li>`).join("") +
						"</ul>";
				}
				if (problem) message += `<p>${escape(problem)}</p>`;
				frappe.msgprint({
					title: title,
					message: message,
					indicator: problem || failed.length ? (retried ? "orange" : "red") : "green",
				});
				return { retried: retried, failed: failed, problem: problem };
			};

			report.page.add_inner_button(__("Delete Selected"), () => {
				const title = __("Delete Selected");
				const names = selection_for(title);
				if (!names.length) return;
				frappe.confirm(
					__("Delete {0} job(s) and their logs? This cannot be undone.", [names.length]),
					() => run(title, __("Deleted"), DELETE, names)
				);
			});
		},
	};
})();
