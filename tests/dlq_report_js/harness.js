// A small stand-in for the parts of Frappe v15's Desk the Dead Letter Queue report touches, so the
// real dead_letter_queue.js runs in Node (node:vm) with nothing installed. Only what the report
// uses is modelled, after Frappe's behaviour:
// - the datatable's RowManager keeps a checkMap of row indexes; getCheckedRows() returns them as
//   strings; checkAll(false) empties it; DataManager.getData(i) returns the i-th data row;
// - QueryReport.refresh() with rows re-renders into the same datatable (datatable.refresh keeps
//   the checkMap) and then calls report_settings.after_datatable_render(datatable); with no rows it
//   sets report.data = [] and leaves the old datatable as it was;
// - frappe.call runs `callback` then `always` on success, and `always` then `error` on failure;
//   for some statuses (403/404) Frappe calls `error` with no argument.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const REPORT_JS = path.resolve(
	__dirname,
	"../../dartwing/dartwing_core/report/dead_letter_queue/dead_letter_queue.js"
);

function format(message, args) {
	return String(message).replace(/\{(\d+)\}/g, (whole, i) =>
		args && args[i] !== undefined ? String(args[i]) : whole
	);
}

class FakeDatatable {
	constructor(rows) {
		const table = this;
		this.datamanager = {
			data: rows,
			getData(index) {
				return table.datamanager.data[index];
			},
		};
		this.rowmanager = {
			checkMap: [],
			getCheckedRows() {
				const out = [];
				for (const index in this.checkMap) {
					if (this.checkMap[index] === 1) out.push(index);
				}
				return out;
			},
			checkAll(toggle) {
				this.checkMap = toggle ? table.datamanager.data.map(() => 1) : [];
			},
		};
	}

	// What the user does: tick the boxes of these row indexes.
	check(...indexes) {
		for (const index of indexes) this.rowmanager.checkMap[index] = 1;
	}

	checkedNames() {
		return this.rowmanager.getCheckedRows().map((i) => this.datamanager.data[i].name);
	}

	// Frappe's datatable.refresh(data): new rows, same checkMap.
	refresh(rows) {
		this.datamanager.data = rows;
	}
}

function jobs(...names) {
	return names.map((name) => ({ name, job_type: "always_fails", organization: "Org A" }));
}

// Load the real report file into a fresh context and hand back the stubs with what they saw.
// `server` maps a method name to (args) => {ok: true, message} | {ok: false, status, response};
// `remaining` returns the rows the next refresh shows; `confirm` answers frappe.confirm.
// `filters` is what the report's filter bar holds (report.get_filter_values()).
function loadReport({ rows = jobs("JOB-1", "JOB-2", "JOB-3"), server = {}, remaining, confirm = true, filters = {} } = {}) {
	const seen = { calls: [], confirms: [], msgprints: [], alerts: [], refreshes: 0, pending: [] };
	const frappe = {
		query_reports: {},
		utils: {
			escape_html: (text) =>
				String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`),
		},
		msgprint(message) {
			seen.msgprints.push(message);
		},
		show_alert(message) {
			seen.alerts.push(message);
		},
		confirm(message, yes, no) {
			const entry = { message, callsBefore: seen.calls.length, result: undefined };
			seen.confirms.push(entry);
			if (confirm) entry.result = yes();
			else if (no) no();
		},
		call(opts) {
			seen.calls.push({ method: opts.method, args: Object.assign({}, opts.args), silent: opts.silent });
			const handler = server[opts.method];
			const outcome = handler ? handler(opts.args) : { ok: false, status: 404, response: {} };
			// Frappe answers later, never inside frappe.call itself.
			const done = new Promise((resolve) => setImmediate(resolve)).then(() => {
				if (outcome.ok) {
					const response = { message: outcome.message };
					opts.callback && opts.callback(response);
					opts.always && opts.always(response);
				} else {
					opts.always && opts.always(outcome.response);
					const passes = outcome.status === 417 || outcome.status === 409;
					opts.error && opts.error(passes ? outcome.response : undefined);
				}
			});
			seen.pending.push(done);
			return done;
		},
	};

	const context = vm.createContext({ frappe, __: format });
	vm.runInContext(fs.readFileSync(REPORT_JS, "utf8"), context, { filename: REPORT_JS });
	const settings = frappe.query_reports["Dead Letter Queue"];
	if (!settings) throw new Error("dead_letter_queue.js did not register the report");

	const buttons = {};
	const report = {
		report_name: "Dead Letter Queue",
		data: rows.slice(),
		datatable: new FakeDatatable(rows.slice()),
		get_filter_values() {
			return Object.assign({}, filters);
		},
		page: {
			add_inner_button(label, action) {
				buttons[label] = action;
			},
		},
		refresh() {
			seen.refreshes += 1;
			const next = remaining ? remaining(report.data) : report.data.slice();
			if (next.length) {
				report.data = next;
				report.datatable.refresh(next.slice());
				if (settings.after_datatable_render) settings.after_datatable_render(report.datatable);
			} else {
				report.data = [];
			}
			return Promise.resolve();
		},
	};
	const options = settings.get_datatable_options
		? settings.get_datatable_options({ columns: [], data: report.data })
		: {};
	settings.onload(report);

	// Click a button and wait until every request it started, and what follows, has finished.
	async function click(label) {
		if (!buttons[label]) throw new Error(`no button ${label}; have ${Object.keys(buttons)}`);
		const returned = buttons[label]();
		await settle();
		return returned;
	}

	async function settle() {
		for (let i = 0; i < 200; i++) {
			await new Promise((resolve) => setImmediate(resolve));
		}
	}

	return { frappe, settings, report, buttons, seen, options, click, settle };
}

module.exports = { loadReport, jobs, REPORT_JS };
