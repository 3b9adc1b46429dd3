/**
 * Dartwing's Socket.IO handlers for Frappe's own realtime server (the `socketio` process of a bench).
 *
 * Frappe's realtime server loads `apps/<app>/realtime/handlers.js` for every authenticated connection
 * of an app installed on the connection's site and calls the exported function with the socket
 * (frappe/frappe#25592 "Extensible SocketIO": on Frappe's develop branch, v16; Frappe's own docs call
 * it nightly-only, and version-15 up to 15.44.2 does not load app handlers at all). The socket
 * arrives authenticated: `socket.user`, `socket.nsp.name` (`/<site>`), `socket.authorization_header`
 * or `socket.sid`, and `socket.frappe_request(path, args, opts)`, which calls the site as the client.
 * Without `frappe_request` (version-15's middleware), the site is asked here at the socket's Origin.
 *
 * Same protocol as the app's standalone gateway (dartwing/dartwing_core/realtime/app.py):
 *
 * - `join_room` with "org:<organization>" or {room: "org:<organization>"}: the site is asked
 *   `dartwing.dartwing_core.api.jobs.check_realtime_room` with the client's own credentials; the
 *   socket joins the room only when the answer says allowed. Otherwise an `error` event
 *   {event: "join_room", room, reason} and no membership. Acknowledged with {room, joined, reason}.
 * - `leave_room` with the same argument; acknowledged with {room, joined: false, reason: null}.
 * - `job_status` with "<job_id>" or {job_id}: `get_job_status` as the client; acknowledged with
 *   {message: {...}} or {error, http_status, exc_type?} (404 for another tenant's job). A client that
 *   sends no acknowledgement callback gets the same payload as a `job_status` event.
 * - every DARTWING_REALTIME_RECHECK_SECONDS (default 30, at most 60) each joined room is asked again;
 *   a socket whose membership ended leaves the room and gets an `error` event
 *   {event: "membership_check", room, reason}.
 *
 * The engine publishes `job_progress` and `job_status_changed` to room `org:<organization>` (and to
 * `doc:Background Job/<job>`, which Frappe's own `doc_subscribe` handler admits to) through Frappe's
 * `events` channel; Frappe's server relays them to the room in the site's namespace, so nothing here
 * relays anything: admission to the room is the whole job.
 *
 * CommonJS, Node 18+ (global fetch), no dependencies.
 */

"use strict";

const ROOM_PREFIX = "org:";
const METHOD_PATH = "/api/method/dartwing.dartwing_core.api.jobs.";
const MAX_ROOMS_PER_SOCKET = 100;
const MAX_ROOM_LENGTH = 144; // "org:" + an Organization name (Frappe's 140-character names)
const MAX_JOB_ID_LENGTH = 140;
const REQUEST_TIMEOUT_MS = 5000;
const RECHECK_CONCURRENCY = 20;
const MAX_RECHECK_SECONDS = 60;
const ONLY_ORG_ROOMS = "only rooms named org:<organization> can be joined";

function recheck_seconds() {
	const value = Number(process.env.DARTWING_REALTIME_RECHECK_SECONDS || 30);
	if (!(value > 0)) return 30;
	return Math.min(value, MAX_RECHECK_SECONDS);
}

class AuthRefused extends Error {}
class AuthUnavailable extends Error {}

/** A handler's one argument: the value itself or {key: value}, trimmed; null if not a string. */
function argument(data, key) {
	if (data && typeof data === "object") data = data[key];
	return typeof data === "string" ? data.trim() : null;
}

/** A readable reason from Frappe's error envelope (`exception`, `message`, `exc_type`). */
function reason_of(body) {
	if (!body || typeof body !== "object") return null;
	for (const key of ["exception", "message", "exc_type"]) {
		const value = body[key];
		if (typeof value === "string" && value) {
			if (key !== "exception") return value;
			const colon = value.indexOf(":");
			return colon === -1 ? value.trim() : value.slice(colon + 1).trim();
		}
	}
	return null;
}

/**
 * Call one of the app's whitelisted methods as the client: through `socket.frappe_request` when
 * Frappe provides it, otherwise with the credentials the authentication middleware kept on the socket.
 * Resolves {status, body}; rejects with AuthRefused (401/403) or AuthUnavailable (no answer).
 */
async function call_method(socket, method, args) {
	const path = METHOD_PATH + method;
	const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
	let response;
	try {
		if (typeof socket.frappe_request === "function") {
			response = await socket.frappe_request(path, args, { signal });
		} else {
			response = await fetch_as_client(socket, path, args, signal);
		}
	} catch (err) {
		throw new AuthUnavailable(`site unreachable: ${(err && err.name) || err}`);
	}
	let body = null;
	try {
		body = await response.json();
	} catch (err) {
		body = null;
	}
	if (response.status === 401 || response.status === 403) {
		throw new AuthRefused(reason_of(body) || "not authenticated");
	}
	return { status: response.status, body };
}

/**
 * For a server that does not put `frappe_request` on the socket (version-15's middleware keeps only
 * `sid` and `authorization_header`): the same request, made here, to the site at the socket's Origin,
 * with the credentials in the order that middleware used them (the sid cookie first).
 */
function fetch_as_client(socket, path, args, signal) {
	const headers = {};
	if (socket.sid) headers["Cookie"] = `sid=${socket.sid}`;
	else if (socket.authorization_header) headers["Authorization"] = socket.authorization_header;
	if (socket.site_name) headers["X-Frappe-Site-Name"] = socket.site_name;
	const query = new URLSearchParams(args).toString();
	const origin = (socket.request && socket.request.headers && socket.request.headers.origin) || "";
	return fetch(origin + path + (query ? "?" + query : ""), { headers, signal });
}

/** {user, room, allowed, reason} for the client and `room` (or only who the client is). */
async function check_room(socket, room) {
	const { status, body } = await call_method(socket, "check_realtime_room", room ? { room } : {});
	const message = body && body.message;
	if (status !== 200 || !message || typeof message !== "object" || !("user" in message)) {
		throw new AuthUnavailable(`check_realtime_room answered HTTP ${status}`);
	}
	return {
		user: String(message.user),
		room: message.room === undefined ? null : message.room,
		allowed: Boolean(message.allowed),
		reason: message.reason || null,
	};
}

/** `get_job_status` as the client (never cached): {message} or {error, http_status, exc_type}. */
async function job_status(socket, job_id) {
	let answer;
	try {
		answer = await call_method(socket, "get_job_status", { job_id });
	} catch (err) {
		if (err instanceof AuthRefused) return { error: err.message, http_status: 401 };
		return { error: err.message, http_status: 503 };
	}
	const { status, body } = answer;
	if (status === 200 && body && typeof body === "object" && "message" in body) {
		return { message: body.message };
	}
	return {
		error: reason_of(body) || `HTTP ${status}`,
		http_status: status,
		exc_type: body && typeof body === "object" && body.exc_type ? body.exc_type : null,
	};
}

// --- per-socket state --------------------------------------------------------------------------

const sockets = new Set(); // connected sockets that run these handlers (for the membership re-check)
let recheck_timer = null;
let recheck_running = false;

function state_of(socket) {
	if (!socket._dartwing) {
		socket._dartwing = { rooms: new Set(), queue: Promise.resolve() };
	}
	return socket._dartwing;
}

/** Run `task` after every earlier join/leave/re-check of this socket: they apply in arrival order. */
function serialized(socket, task) {
	const state = state_of(socket);
	const result = state.queue.then(task);
	state.queue = result.catch(() => undefined);
	return result;
}

function refuse(socket, event, room, reason) {
	socket.emit("error", { event, room, reason });
	return { room, joined: false, reason };
}

function split_ack(data, ack) {
	if (typeof data === "function" && ack === undefined) return [undefined, data];
	return [data, typeof ack === "function" ? ack : null];
}

function is_guest(socket) {
	return !socket.user || socket.user === "Guest";
}

async function join_room(socket, data) {
	const room = argument(data, "room");
	if (!room || !room.startsWith(ROOM_PREFIX) || room.length <= ROOM_PREFIX.length || room.length > MAX_ROOM_LENGTH) {
		return refuse(socket, "join_room", room, ONLY_ORG_ROOMS);
	}
	if (is_guest(socket)) {
		// A website visitor's socket (Frappe admits Guest): refuse without touching Frappe's own use of it.
		return refuse(socket, "join_room", room, "not authenticated");
	}
	return serialized(socket, async () => {
		const state = state_of(socket);
		if (state.rooms.has(room)) return { room, joined: true, reason: null };
		if (state.rooms.size >= MAX_ROOMS_PER_SOCKET) {
			return refuse(socket, "join_room", room, "too many rooms on one socket");
		}
		let check;
		try {
			check = await check_room(socket, room);
		} catch (err) {
			if (err instanceof AuthRefused) {
				refuse(socket, "join_room", room, "credentials are no longer valid");
				socket.disconnect();
				return null;
			}
			return refuse(socket, "join_room", room, "membership could not be checked; try again");
		}
		if (!check.allowed) return refuse(socket, "join_room", room, check.reason || "not allowed");
		if (!socket.connected) return null; // disconnected while we asked
		socket.join(room);
		state.rooms.add(room);
		return { room, joined: true, reason: null };
	});
}

function leave_room(socket, data) {
	const room = argument(data, "room");
	return serialized(socket, async () => {
		const state = state_of(socket);
		if (room && state.rooms.has(room)) {
			socket.leave(room);
			state.rooms.delete(room);
		}
		return { room, joined: false, reason: null };
	});
}

async function on_job_status(socket, data) {
	const job_id = argument(data, "job_id");
	if (!job_id || job_id.length > MAX_JOB_ID_LENGTH) {
		return { error: "job_status takes a job id", http_status: 400 };
	}
	return job_status(socket, job_id);
}

// --- membership re-check -----------------------------------------------------------------------

async function recheck_one(socket, room) {
	let check;
	try {
		check = await check_room(socket, room);
	} catch (err) {
		if (err instanceof AuthRefused) {
			if (socket.connected && state_of(socket).rooms.has(room)) {
				refuse(socket, "membership_check", room, "credentials are no longer valid");
				socket.disconnect();
			}
			return;
		}
		console.warn(`dartwing: membership re-check of ${room} postponed: ${err.message}`);
		return; // keep the membership; ask again on the next tick
	}
	if (check.allowed) return;
	await serialized(socket, async () => {
		const state = state_of(socket);
		if (!state.rooms.has(room) || !socket.connected) return;
		socket.leave(room);
		state.rooms.delete(room);
		refuse(socket, "membership_check", room, check.reason || "membership ended");
	});
}

async function recheck_all() {
	if (recheck_running) return;
	recheck_running = true;
	try {
		const pending = [];
		for (const socket of sockets) {
			for (const room of state_of(socket).rooms) pending.push([socket, room]);
		}
		const workers = Array.from({ length: Math.min(RECHECK_CONCURRENCY, pending.length) }, async () => {
			while (pending.length) {
				const [socket, room] = pending.shift();
				try {
					await recheck_one(socket, room);
				} catch (err) {
					console.warn("dartwing: membership re-check failed", err);
				}
			}
		});
		await Promise.all(workers);
	} finally {
		recheck_running = false;
	}
}

function track(socket) {
	sockets.add(socket);
	if (!recheck_timer) {
		recheck_timer = setInterval(recheck_all, recheck_seconds() * 1000);
		if (recheck_timer.unref) recheck_timer.unref();
	}
	socket.on("disconnect", () => {
		sockets.delete(socket);
		if (sockets.size === 0 && recheck_timer) {
			clearInterval(recheck_timer);
			recheck_timer = null;
		}
	});
}

// --- entry point -------------------------------------------------------------------------------

/**
 * Frappe calls `handler(socket)`; `handler(realtime, socket)` (the shape of Frappe's own
 * frappe_handlers) is accepted too.
 */
function dartwing_handlers(first, second) {
	const socket = second && typeof second.on === "function" && second.nsp ? second : first;
	state_of(socket);
	track(socket);

	const answer = (work, fallback_event) => (data, ack) => {
		[data, ack] = split_ack(data, ack);
		Promise.resolve()
			.then(() => work(socket, data))
			.then(
				(reply) => {
					if (reply == null) return;
					if (ack) ack(reply);
					else if (fallback_event) socket.emit(fallback_event, reply);
				},
				(err) => console.warn("dartwing: realtime handler failed", err),
			);
	};

	socket.on("join_room", answer(join_room));
	socket.on("leave_room", answer(leave_room));
	socket.on("job_status", answer(on_job_status, "job_status"));
}

module.exports = dartwing_handlers;
// For tests and other servers mounting the handlers.
module.exports.ROOM_PREFIX = ROOM_PREFIX;
module.exports.recheck_all = recheck_all;
