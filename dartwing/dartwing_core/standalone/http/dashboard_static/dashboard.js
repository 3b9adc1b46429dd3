// The operators' dashboard: plain JS over /dashboard/api/* (no build step). Every number and row
// comes from the server, already scoped to the viewer's organizations; filters and bulk actions run
// server-side. Routes live in the URL hash: #overview, #workers, #jobs?<filters>, #job/<id>.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 50;
const FILTER_FIELDS = ["status", "job_type", "organization", "error_type", "since", "until", "q"];
const ACTIONS = {
  retry: { done: "retried", label: "Retry" },
  cancel: { done: "canceled", label: "Cancel" },
  delete: { done: "deleted", label: "Delete" },
};
const state = { me: null, csrf: null, window: "hour", cursors: [null], jobs: [], selected: new Set(), detail: null };

// --- talking to the server ------------------------------------------------------------------
class ApiError extends Error {}

function errorText(payload, response) {
  try {
    return JSON.parse(JSON.parse(payload._server_messages)[0]).message;
  } catch (_) {
    return `${response.status} ${response.statusText}`;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (state.csrf) headers["X-CSRF-Token"] = state.csrf;
  }
  const response = await fetch(path, { method, headers, body: body && JSON.stringify(body), credentials: "same-origin" });
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new ApiError(errorText(payload, response));
    error.status = response.status;
    throw error;
  }
  return payload.message;
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// --- small renderers ------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function exactUtc(iso) {
  return new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
}

function relative(iso) {
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  const text = s < 5 ? "just now" : s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min` : s < 86400 ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 86400)} d`;
  return s < 5 ? text : future ? `in ${text}` : `${text} ago`;
}

function duration(seconds) {
  if (seconds < 60) return `${Number(seconds).toFixed(seconds < 10 ? 2 : 1)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86400)} d ${Math.round((seconds % 86400) / 3600)} h`;
}

function when(iso) {
  if (!iso) return el("span", { class: "muted", text: "—" });
  return el("time", { datetime: iso, title: exactUtc(iso), text: relative(iso) });
}

function refreshRelativeTimes() {
  for (const node of document.querySelectorAll("time[datetime]")) node.textContent = relative(node.getAttribute("datetime"));
}

function badge(status) {
  return el("span", { class: `badge s-${String(status).replace(/ /g, "-")}`, text: status });
}

function jobLink(jobId) {
  return el("a", { href: `#job/${jobId}`, text: jobId });
}

function barChart(container, buckets, key, format = (v) => String(v)) {
  const width = 600, height = 150, pad = 22;
  const values = buckets.map((b) => b[key] || 0);
  const max = Math.max(1, ...values);
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  const total = values.reduce((a, b) => a + b, 0);
  svg.setAttribute("aria-label", `${key}: peak ${format(max === 1 && !total ? 0 : Math.max(...values))}, total ${format(total)}`);
  const step = (width - pad) / Math.max(1, buckets.length);
  buckets.forEach((bucket, i) => {
    const value = values[i];
    const h = ((height - pad) * value) / max;
    const rect = document.createElementNS(svgNs, "rect");
    rect.setAttribute("class", "bar");
    rect.setAttribute("x", pad + i * step + 0.5);
    rect.setAttribute("y", height - pad - h);
    rect.setAttribute("width", Math.max(1, step - 1));
    rect.setAttribute("height", h);
    const tip = document.createElementNS(svgNs, "title");
    tip.textContent = `${exactUtc(bucket.start)}: ${bucket[key] === null ? "no samples" : format(value)}`;
    rect.append(tip);
    svg.append(rect);
  });
  const label = (x, y, text, anchor = "start") => {
    const t = document.createElementNS(svgNs, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("text-anchor", anchor);
    t.textContent = text;
    svg.append(t);
  };
  label(0, 10, format(max));
  label(0, height - pad, "0");
  if (buckets.length) {
    label(pad, height - 6, relative(buckets[0].start));
    label(width, height - 6, "now", "end");
  }
  container.replaceChildren(svg);
}

// --- panels ---------------------------------------------------------------------------------
async function showOverview() {
  const [metrics, activity] = await Promise.all([api("/dashboard/api/overview"), api(`/dashboard/api/activity?window=${state.window}`)]);
  const cards = (target, entries, href) => $(target).replaceChildren(
    ...entries.map(([label, n]) => el(href ? "a" : "div", { class: "card", href: href && href(label), "data-count": label },
      el("div", { class: "n", text: String(n) }), el("div", { class: "l", text: label }))),
  );
  cards("status-cards", state.me.statuses.map((s) => [s, metrics.job_count_by_status[s] || 0]), (s) => `#jobs?status=${encodeURIComponent(s)}`);
  cards("priority-cards", Object.entries(metrics.queue_depth_by_priority), null);
  const seconds = (v) => (v === null || v === undefined ? "—" : duration(v));
  cards("figures", [
    ["Dead Letter", metrics.dead_letter_count],
    ["Failure rate (24 h)", `${(metrics.failure_rate * 100).toFixed(1)} %`],
    ["Retry rate (24 h)", `${(metrics.retry_rate * 100).toFixed(1)} %`],
    ["Mean run time (24 h)", seconds(metrics.processing_time.average_seconds)],
    ["p95 run time (24 h)", seconds(metrics.processing_time.p95_seconds)],
    ["Oldest queued", seconds(metrics.oldest_queued_age_seconds)],
  ], null);
  // The 24-hour figures are the metrics snapshot's (taken every 5 minutes); counts add what changed since.
  $("figures-as-of").replaceChildren(...(metrics.snapshot_at
    ? [metrics.live ? "24-hour figures as of the metrics snapshot of " : "Every figure as of the metrics snapshot of ", when(metrics.snapshot_at),
      metrics.live ? "" : " (too many changes since to add up)"]
    : []));
  barChart($("chart-completed"), activity.buckets, "completed");
  barChart($("chart-failed"), activity.buckets, "failed");
  barChart($("chart-latency"), activity.buckets, "latency_seconds", duration);
}

async function showWorkers() {
  const workers = await api("/dashboard/api/workers");
  const rows = workers.map((w) => el("tr", { "data-worker": w.name },
    el("td", { text: w.name }),
    el("td", { text: w.state }),
    el("td", {}, w.current_job ? jobLink(w.current_job.job_id) : el("span", { class: "muted", text: w.busy ? "busy" : "idle" })),
    el("td", { class: "num", text: String(w.successful_jobs) }),
    el("td", { class: "num", text: String(w.failed_jobs) }),
    el("td", { class: "wide", text: w.queues.join(", ") }),
    el("td", {}, when(w.birth_date)),
    el("td", {}, when(w.last_heartbeat))));
  $("worker-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 8, class: "muted", text: "No live worker: start one with dartwing-jobs worker" }))]));
}

function filtersFromHash() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const filters = {};
  for (const key of FILTER_FIELDS) if (params.get(key)) filters[key] = params.get(key);
  return filters;
}

function fillFilterForm(filters) {
  $("f-status").value = filters.status || "";
  $("f-type").value = filters.job_type || "";
  $("f-org").value = filters.organization || "";
  $("f-error").value = filters.error_type || "";
  $("f-since").value = (filters.since || "").replace(/Z$/, "").slice(0, 16);
  $("f-until").value = (filters.until || "").replace(/Z$/, "").slice(0, 16);
  $("f-q").value = filters.q || "";
}

function filtersFromForm() {
  const utc = (value) => (value ? `${value}:00Z` : "");
  const filters = {
    status: $("f-status").value, job_type: $("f-type").value, organization: $("f-org").value,
    error_type: $("f-error").value, since: utc($("f-since").value), until: utc($("f-until").value), q: $("f-q").value.trim(),
  };
  return Object.fromEntries(Object.entries(filters).filter(([, v]) => v));
}

async function loadJobs(cursor) {
  const params = new URLSearchParams(filtersFromHash());
  params.set("limit", PAGE_SIZE);
  if (cursor) params.set("cursor", cursor);
  const started = performance.now();
  const page = await api(`/dashboard/api/jobs?${params}`);
  state.jobs = page.jobs;
  state.next = page.next_cursor;
  state.selected.clear();
  renderJobs();
  const pageNumber = state.cursors.length;
  $("page-info").textContent = `Page ${pageNumber}: ${page.jobs.length} job(s) in ${Math.round(performance.now() - started)} ms${page.next_cursor ? "" : " — the last page"}`;
  $("page-next").disabled = !page.next_cursor;
  $("page-first").disabled = pageNumber === 1;
}

function renderJobs() {
  const rows = state.jobs.map((job) => el("tr", { "data-job": job.job_id, class: state.selected.has(job.job_id) ? "selected" : "" },
    el("td", {}, el("input", { type: "checkbox", "aria-label": `Select ${job.job_id}`, checked: state.selected.has(job.job_id), onchange: (e) => select(job.job_id, e.target.checked) })),
    el("td", {}, jobLink(job.job_id)),
    el("td", { text: job.job_type }),
    el("td", { class: "wide", text: job.organization }),
    el("td", {}, badge(job.status)),
    el("td", { class: "wide", text: job.priority || "" }),
    el("td", { class: "num", text: `${Math.round(job.progress || 0)} %` }),
    el("td", { class: "wide msg", text: job.error_message ? `${job.error_type || ""}: ${job.error_message}`.slice(0, 160) : "" }),
    el("td", {}, when(job.modified))));
  $("job-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 9, class: "muted", text: "No job matches this filter" }))]));
  updateSelection();
}

function select(jobId, on) {
  if (on) state.selected.add(jobId); else state.selected.delete(jobId);
  const row = document.querySelector(`tr[data-job="${jobId}"]`);
  if (row) row.classList.toggle("selected", on);
  updateSelection();
}

function updateSelection() {
  const n = state.selected.size;
  $("selected-count").textContent = `${n} selected`;
  for (const button of document.querySelectorAll("[data-scope=selection]")) button.disabled = n === 0;
  $("select-all").checked = n > 0 && n === state.jobs.length;
  const admin = state.me && state.me.admin;
  for (const button of document.querySelectorAll("[data-bulk=retry], [data-bulk=delete], [data-one=retry], [data-one=delete]")) {
    button.title = admin ? "" : "Only a System Manager or Job Administrator may do this";
  }
}

function confirmDialog(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-no").focus();
  });
}

function resultText(action, result) {
  const failed = result.failed.length ? `; ${result.failed.length} failed: ${result.failed[0].error}` : "";
  const done = ACTIONS[action].done;
  return `${done[0].toUpperCase()}${done.slice(1)} ${result[done]}${failed}`;
}

async function bulk(action, scope) {
  const filters = filtersFromHash();
  const ids = [...state.selected];
  const what = scope === "selection" ? `${ids.length} selected job(s)` : `every job matching this filter${Object.keys(filters).length ? "" : " (no filter set)"}`;
  const verb = ACTIONS[action].label.toLowerCase();
  if (!(await confirmDialog(`${ACTIONS[action].label} ${what}? The server ${verb}s them in batches; jobs it cannot ${verb} are reported.`))) return;
  const progress = $("bulk-progress");
  try {
    if (scope === "selection") {
      const result = await api("/dashboard/api/actions", { method: "POST", body: { action, job_ids: ids } });
      say(resultText(action, result), result.failed.length > 0);
    } else {
      let done = 0; const failed = [];
      progress.hidden = false; progress.value = 0;
      for (;;) {
        const result = await api("/dashboard/api/actions", { method: "POST", body: { action, filters, batch_size: 500 } });
        done += result[ACTIONS[action].done];
        failed.push(...result.failed);
        progress.max = done + result.remaining || 1; progress.value = done;
        say(`${resultText(action, { [ACTIONS[action].done]: done, failed })}; ${result.remaining} still match…`);
        if (result.remaining === 0 || result[ACTIONS[action].done] === 0) {
          say(`${resultText(action, { [ACTIONS[action].done]: done, failed })}; ${result.remaining} still match`, failed.length > 0);
          break;
        }
      }
    }
  } catch (error) {
    say(`${ACTIONS[action].label} failed: ${error.message}`, true);
  } finally {
    progress.hidden = true;
  }
  await loadJobs(state.cursors[state.cursors.length - 1]);
}

async function showDetail(jobId) {
  let job;
  try {
    job = await api(`/dashboard/api/jobs/${encodeURIComponent(jobId)}`);
  } catch (error) {
    $("detail-title").textContent = jobId;
    $("detail-body").replaceChildren(el("p", { class: "error", text: error.message }));
    state.detail = null;
    return;
  }
  state.detail = job;
  $("detail-title").replaceChildren(`${job.job_id} `, badge(job.status));
  const field = (label, value) => [el("dt", { text: label }), el("dd", {}, value === null || value === undefined || value === "" ? el("span", { class: "muted", text: "—" }) : value)];
  const json = (value) => el("pre", { text: value === null || value === undefined ? "—" : JSON.stringify(value, null, 2) });
  const links = (jobs) => (jobs.length ? el("span", {}, ...jobs.flatMap((j, i) => [i ? ", " : "", jobLink(j.job_id), ` (${j.status})`])) : null);
  const wait = el("div", { class: "wait", id: "wait" }, el("strong", { text: job.wait.waiting ? "Why it waits: " : "State: " }),
    ...job.wait.reasons.map((r) => el("div", { "data-reason": r.reason, text: r.message })));
  const timeline = el("ol", { class: "timeline", id: "timeline" }, ...job.history.map((h) => el("li", {},
    when(h.timestamp), " ", el("strong", { text: `${h.from_status || "—"} → ${h.to_status}` }),
    h.attempt ? ` attempt ${h.attempt}` : "", h.duration_ms ? ` · ${h.duration_ms} ms` : "", h.worker ? ` · ${h.worker}` : "",
    h.message ? el("div", { class: "muted", text: h.message }) : null)));
  $("detail-body").replaceChildren(
    wait,
    el("h2", { text: "Fields" }),
    el("dl", { class: "fields" },
      ...field("Job type", job.job_type), ...field("Organization", job.organization), ...field("Owner", job.owner),
      ...field("Priority", job.priority),
      ...field("Progress", el("span", {}, el("progress", { max: 100, value: job.progress || 0 }), ` ${Math.round(job.progress || 0)} % ${job.progress_message || ""}`)),
      ...field("Attempt", String(job.attempt)), ...field("Retries", `${job.retry_count} of ${job.max_retries}`),
      ...field("Next retry", job.next_retry_at && when(job.next_retry_at)),
      ...field("Created", when(job.creation)), ...field("Queued", job.queued_at && when(job.queued_at)),
      ...field("Started", job.started_at && when(job.started_at)), ...field("Finished", job.completed_at && when(job.completed_at)),
      ...field("Changed", when(job.modified)), ...field("Heartbeat", job.heartbeat_at && when(job.heartbeat_at)),
      ...field("Output", job.output_reference), ...field("Parent", links(job.parent)), ...field("Children", links(job.children))),
    el("h2", { text: "Parameters" }), json(job.parameters),
    el("h2", { text: "Result" }), json(job.result),
    el("h2", { text: "Error" }),
    job.error_message ? el("p", { class: "error", text: `${job.error_type || "Error"}: ${job.error_message}` }) : el("p", { class: "muted", text: "—" }),
    job.traceback ? el("pre", { id: "traceback", text: job.traceback }) : null,
    el("h2", { text: "Execution log" }), timeline,
  );
}

async function actOnOne(action) {
  const job = state.detail;
  if (!job) return;
  if (action !== "retry" && !(await confirmDialog(`${ACTIONS[action].label} ${job.job_id}?`))) return;
  try {
    const result = await api("/dashboard/api/actions", { method: "POST", body: { action, job_ids: [job.job_id] } });
    say(resultText(action, result), result.failed.length > 0);
    if (action === "delete" && !result.failed.length) { location.hash = "#jobs"; return; }
  } catch (error) {
    say(`${ACTIONS[action].label} failed: ${error.message}`, true);
  }
  await showDetail(job.job_id);
}

// --- routing, live updates, sign-in ---------------------------------------------------------
function currentPanel() {
  const hash = location.hash.slice(1);
  if (hash.startsWith("job/")) return "detail";
  const name = hash.split("?")[0];
  return ["overview", "workers", "jobs"].includes(name) ? name : "overview";
}

async function route() {
  if (!state.me) return;
  const panel = currentPanel();
  for (const section of document.querySelectorAll(".panel")) section.hidden = section.id !== panel;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.panel === panel || (panel === "detail" && link.dataset.panel === "jobs")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  try {
    if (panel === "overview") await showOverview();
    else if (panel === "workers") await showWorkers();
    else if (panel === "jobs") {
      fillFilterForm(filtersFromHash());
      state.cursors = [null];
      await loadJobs(null);
    } else await showDetail(decodeURIComponent(location.hash.slice(5)));
    document.body.dataset.ready = panel;
  } catch (error) {
    if (error.status === 401) return signedOut(error.message);
    say(error.message, true);
  }
}

let refreshTimer = null;
function scheduleRefresh(event) {
  const panel = currentPanel();
  if (panel === "detail" && event && state.detail && event.job_id !== state.detail.job_id) return;
  if (panel === "jobs" && state.cursors.length > 1) return; // keep an operator's place in older pages
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    if (panel === "jobs") loadJobs(null).catch(() => {});
    else if (panel === "detail" && state.detail) showDetail(state.detail.job_id).catch(() => {});
    else route();
  }, 700);
}

let events = null;
function listen() {
  if (events) events.close();
  events = new EventSource("/dashboard/api/events");
  events.onopen = () => { $("live").hidden = false; };
  events.onerror = () => { $("live").hidden = true; };
  events.addEventListener("job", (message) => scheduleRefresh(JSON.parse(message.data)));
  events.addEventListener("refresh", () => scheduleRefresh(null));
}

function signedIn(me) {
  state.me = me;
  state.csrf = me.csrf;
  $("login").hidden = true;
  $("nav").hidden = false;
  $("signout").hidden = false;
  $("who").textContent = `signed in as ${me.user}${me.admin ? " (administrator)" : ""}`;
  const options = (select, values) => select.replaceChildren(el("option", { value: "", text: "any" }), ...values.map((v) => el("option", { text: v })));
  options($("f-status"), me.statuses);
  options($("f-type"), me.job_types);
  options($("f-org"), me.organizations);
  listen();
  route();
}

function signedOut(message = "") {
  state.me = null; state.csrf = null;
  if (events) events.close();
  for (const section of document.querySelectorAll(".panel")) section.hidden = true;
  $("nav").hidden = true; $("signout").hidden = true; $("live").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  say(message, Boolean(message));
  $("token").focus();
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const me = await api("/dashboard/session", { method: "POST", body: { token: $("token").value } });
    $("token").value = "";
    say("");
    signedIn(me);
  } catch (error) {
    say(error.message, true);
  }
});

$("signout").addEventListener("click", async () => {
  await api("/dashboard/logout", { method: "POST" }).catch(() => {});
  signedOut("Signed out");
});

$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = new URLSearchParams(filtersFromForm()).toString();
  location.hash = query ? `#jobs?${query}` : "#jobs";
});
$("f-clear").addEventListener("click", () => { location.hash = "#jobs"; });
$("page-next").addEventListener("click", () => { state.cursors.push(state.next); loadJobs(state.next).catch((e) => say(e.message, true)); });
$("page-first").addEventListener("click", () => { state.cursors = [null]; loadJobs(null).catch((e) => say(e.message, true)); });
$("select-all").addEventListener("change", (event) => {
  for (const job of state.jobs) state.selected[event.target.checked ? "add" : "delete"](job.job_id);
  renderJobs();
});
for (const button of document.querySelectorAll("[data-bulk]")) button.addEventListener("click", () => bulk(button.dataset.bulk, button.dataset.scope));
for (const button of document.querySelectorAll("[data-one]")) button.addEventListener("click", () => actOnOne(button.dataset.one));
for (const button of document.querySelectorAll("[data-window]")) {
  button.addEventListener("click", () => {
    state.window = button.dataset.window;
    for (const b of document.querySelectorAll("[data-window]")) b.setAttribute("aria-pressed", String(b === button));
    showOverview().catch((e) => say(e.message, true));
  });
}
document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (event.key === "/" && !typing && state.me) {
    event.preventDefault();
    if (currentPanel() !== "jobs") location.hash = "#jobs";
    setTimeout(() => $("f-q").focus(), 0);
  }
});
window.addEventListener("hashchange", route);
setInterval(refreshRelativeTimes, 15000);
setInterval(() => { if (state.me && ["overview", "workers"].includes(currentPanel())) route(); }, 30000);

api("/dashboard/session").then(signedIn).catch(() => signedOut());
