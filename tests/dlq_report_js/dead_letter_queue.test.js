// The Dead Letter Queue report's bulk actions, run on the real dead_letter_queue.js (see harness.js).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const { loadReport, jobs, REPORT_JS } = require("./harness.js");

const RETRY = "dartwing.dartwing_core.api.jobs.retry_job";
const DELETE = "dartwing.dartwing_core.api.jobs.delete_job";
const RETRY_MATCHING = "dartwing.dartwing_core.api.jobs.retry_matching";
const RETRY_BUTTON = "Retry Selected";
const RETRY_ALL_BUTTON = "Retry All Matching";
const DELETE_BUTTON = "Delete Selected";

const ok = () => ({ ok: true, message: { status: "Queued" } });
const conflict = (message) => ({
	ok: false,
	status: 409,
	response: {
		exc_type: "InvalidTransitionError",
		_server_messages: JSON.stringify([JSON.stringify({ message, title: "Background Jobs" })]),
	},
});

function summaryText(seen) {
	assert.equal(seen.msgprints.length, 1, "exactly one summary");
	const m = seen.msgprints[0];
	return typeof m === "string" ? m : `${m.title} ${m.message}`;
}

test("the report asks for a checkbox column and adds its three buttons", () => {
	const { options, buttons } = loadReport();
	assert.equal(options.checkboxColumn, true);
	assert.deepEqual(Object.keys(buttons).sort(), [DELETE_BUTTON, RETRY_ALL_BUTTON, RETRY_BUTTON]);
});

test("bulk retry calls retry_job for exactly the rows checked at click time", async () => {
	let t;
	t = loadReport({
		server: {
			[RETRY]: () => {
				// the user ticks another row while the first request is in flight
				t.report.datatable.check(1);
				return ok();
			},
		},
	});
	t.report.datatable.check(0, 2);
	await t.click(RETRY_BUTTON);

	assert.deepEqual(
		t.seen.calls.map((c) => [c.method, c.args]),
		[
			[RETRY, { job_id: "JOB-1" }],
			[RETRY, { job_id: "JOB-3" }],
		]
	);
	assert.equal(t.seen.refreshes, 1, "refreshed once, at the end");
	assert.match(summaryText(t.seen), /2/);
});

test("after a bulk retry the selection is cleared: a second click sends nothing and does not throw", async () => {
	// Real Frappe: the refresh shows the one job left in the same datatable, whose checkMap would
	// still say rows 0 and 2 are checked (row 0 is now JOB-2, row 2 no longer exists).
	const t = loadReport({
		server: { [RETRY]: ok },
		remaining: (rows) => rows.filter((r) => r.name === "JOB-2"),
	});
	t.report.datatable.check(0, 2);
	await t.click(RETRY_BUTTON);
	assert.equal(t.seen.calls.length, 2);
	assert.deepEqual(t.report.datatable.rowmanager.getCheckedRows(), []);

	await assert.doesNotReject(() => t.click(RETRY_BUTTON));
	assert.equal(t.seen.calls.length, 2, "the second click sent nothing");
	assert.equal(t.seen.refreshes, 1);
	assert.ok(t.seen.alerts.length >= 1, "the user is told nothing is selected");
});

test("after a refresh that empties the report, stale checks in the hidden datatable send nothing", async () => {
	const t = loadReport({ server: { [RETRY]: ok } });
	t.report.datatable.check(0, 1);
	// a refresh (Frappe's own button) that returns no rows keeps the old datatable and its checks
	t.report.data = [];
	await assert.doesNotReject(() => t.click(RETRY_BUTTON));
	await assert.doesNotReject(() => t.click(DELETE_BUTTON));
	assert.equal(t.seen.calls.length, 0);
	assert.equal(t.seen.confirms.length, 0);
});

test("a refresh that renders rows clears the selection", async () => {
	const t = loadReport({ server: { [RETRY]: ok } });
	t.report.datatable.check(0, 2);
	t.report.refresh();
	assert.deepEqual(t.report.datatable.rowmanager.getCheckedRows(), []);
	await t.click(RETRY_BUTTON);
	assert.equal(t.seen.calls.length, 0);
});

test("delete asks for confirmation first, then calls the engine's delete_job for each checked row", async () => {
	const t = loadReport({ server: { [DELETE]: () => ({ ok: true, message: { deleted: true } }) } });
	t.report.datatable.check(1, 2);
	await t.click(DELETE_BUTTON);

	assert.equal(t.seen.confirms.length, 1, "confirm is asked");
	assert.equal(t.seen.confirms[0].callsBefore, 0, "nothing is sent before the answer");
	assert.match(t.seen.confirms[0].message, /2/);
	await t.seen.confirms[0].result;
	await t.settle();
	assert.deepEqual(
		t.seen.calls.map((c) => [c.method, c.args]),
		[
			[DELETE, { job_id: "JOB-2" }],
			[DELETE, { job_id: "JOB-3" }],
		]
	);
	assert.ok(t.seen.calls.every((c) => c.method !== "frappe.client.delete"));
	assert.deepEqual(t.report.datatable.rowmanager.getCheckedRows(), []);
	assert.equal(t.seen.refreshes, 1);
	assert.match(summaryText(t.seen), /2/);
});

test("declining the confirmation deletes nothing and keeps the selection", async () => {
	const t = loadReport({ confirm: false, server: { [DELETE]: ok } });
	t.report.datatable.check(0);
	await t.click(DELETE_BUTTON);
	assert.equal(t.seen.confirms.length, 1);
	assert.equal(t.seen.calls.length, 0);
	assert.equal(t.seen.refreshes, 0);
	assert.deepEqual(t.report.datatable.checkedNames(), ["JOB-1"]);
});

test("delete with nothing checked asks nothing and sends nothing", async () => {
	const t = loadReport({ server: { [DELETE]: ok } });
	await assert.doesNotReject(() => t.click(DELETE_BUTTON));
	assert.equal(t.seen.confirms.length, 0);
	assert.equal(t.seen.calls.length, 0);
});

test("the summary counts failures with their reasons, and the report refreshes once", async () => {
	const t = loadReport({
		rows: jobs("JOB-1", "JOB-2", "JOB-3"),
		server: {
			[RETRY]: (args) =>
				args.job_id === "JOB-2"
					? conflict("Background Job JOB-2 is Queued and cannot be retried")
					: args.job_id === "JOB-3"
					  ? { ok: false, status: 404, response: { _server_messages: JSON.stringify([JSON.stringify({ message: "Background Job JOB-3 not found" })]) } }
					  : ok(),
		},
	});
	t.report.datatable.check(0, 1, 2);
	await t.click(RETRY_BUTTON);

	assert.equal(t.seen.calls.length, 3);
	assert.ok(t.seen.calls.every((c) => c.silent === true), "no dialog per failed job");
	const text = summaryText(t.seen);
	assert.match(text, /1\D+2/, "1 done, 2 failed");
	assert.match(text, /JOB-2.*cannot be retried/);
	assert.match(text, /JOB-3.*not found/);
	assert.equal(t.seen.refreshes, 1);
	assert.deepEqual(t.report.datatable.rowmanager.getCheckedRows(), []);
});

test("the report file never deletes through frappe.client", () => {
	const source = fs.readFileSync(REPORT_JS, "utf8");
	assert.ok(!source.includes("frappe.client.delete"));
	assert.ok(source.includes(DELETE));
	assert.ok(source.includes(RETRY));
});

// A server that retries `batch` jobs per call out of `total` matching ones.
function matchingServer(total, batch, failedPerCall = []) {
	let left = total;
	return {
		[RETRY_MATCHING]: () => {
			const failed = failedPerCall.shift() || [];
			const retried = Math.min(batch, left) - failed.length;
			left -= retried;
			return { ok: true, message: { retried, failed, remaining: left } };
		},
	};
}

test("retry all matching asks first, then calls retry_matching with the filters until none remain", async () => {
	const t = loadReport({ server: matchingServer(1200, 500), filters: { organization: "Org A", older_than_hours: 2 } });
	await t.click(RETRY_ALL_BUTTON);
	assert.equal(t.seen.confirms.length, 1);
	assert.equal(t.seen.confirms[0].callsBefore, 0, "nothing is sent before the confirmation");
	assert.deepEqual(
		t.seen.calls.map((c) => [c.method, JSON.parse(c.args.filters)]),
		Array(3).fill([RETRY_MATCHING, { organization: "Org A", older_than_hours: 2 }])
	);
	assert.match(summaryText(t.seen), /Retried: 1200, failed: 0/);
	assert.equal(t.seen.refreshes, 1);
	assert.deepEqual(t.seen.alerts.map((a) => a.message), [
		"Retried 500; 700 still match",
		"Retried 1000; 200 still match",
		"Retried 1200; 0 still match",
	]);
});

test("retry all matching stops when a batch retries none and lists the jobs that failed", async () => {
	const stuck = [{ job_id: "JOB-9", error: "changed while retrying" }];
	const t = loadReport({ server: matchingServer(3, 3, [stuck, stuck]) });
	await t.click(RETRY_ALL_BUTTON);
	assert.equal(t.seen.calls.length, 2, "the second batch retried nothing: no third call");
	const text = summaryText(t.seen);
	assert.match(text, /Retried: 2, failed: 2/);
	assert.match(text, /JOB-9/);
});

test("retry all matching declined sends nothing; a refused call is reported", async () => {
	const declined = loadReport({ server: matchingServer(5, 5), confirm: false });
	await declined.click(RETRY_ALL_BUTTON);
	assert.equal(declined.seen.calls.length, 0);
	const refused = loadReport({ server: { [RETRY_MATCHING]: () => conflict("Only a System Manager or Job Administrator may retry jobs") } });
	await refused.click(RETRY_ALL_BUTTON);
	const text = summaryText(refused.seen);
	assert.match(text, /Retried: 0/);
	assert.match(text, /Only a System Manager/);
});
