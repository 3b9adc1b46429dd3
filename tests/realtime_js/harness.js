/**
 * A stand-in for Frappe's realtime server (frappe/realtime/index.js) that mounts the app's
 * realtime/handlers.js the way Frappe does, for tests. Written for Dartwing; no Frappe code.
 *
 * What it reproduces, as read in Frappe's source (version-15's authenticate.js and index.js, and the
 * develop branch's extension point that loads `apps/<app>/realtime/handlers.js`):
 *
 * - one Socket.IO server, CORS origin reflected with credentials, a dynamic namespace per site
 *   (`/^\/.*$/`, empty child namespaces cleaned up);
 * - an authentication middleware on every connection: the namespace must be the site name (from
 *   X-Frappe-Site-Name, else the default site when Host is localhost/127.0.0.1, else Origin's host,
 *   else Host's), Host and Origin must name the same host, a Cookie header must be present, and the
 *   `sid` cookie or the Authorization header is forwarded to the site at `Origin + path` to learn the
 *   user; the socket then carries user, user_type, sid, authorization_header, site_name,
 *   installed_apps and `frappe_request(path, args, opts)` (fetch as the client);
 * - on connection, each installed app's realtime/handlers.js is required once and called with the
 *   socket;
 * - a Redis subscriber on channel `events` relaying `{event, message, room, namespace}` to `room` in
 *   namespace `/<namespace>` (to every site's sockets when there is no room).
 *
 * Differences, all configuration: the site's "who am I" call is
 * dartwing.dartwing_core.api.jobs.check_realtime_room (the standalone server has no
 * frappe.realtime.get_user_info), and installed apps come from the environment.
 *
 * DARTWING_HARNESS_FRAPPE=15 makes it version-15's server instead: the middleware asks
 * /api/method/frappe.realtime.get_user_info (the `sid` as a query parameter, else the Authorization
 * header) and sets no socket.frappe_request, no app's handlers.js is loaded, and every socket gets
 * v15's own room handlers (frappe_v15_handlers.js: doc_subscribe, doctype_subscribe, user rooms).
 *
 * Environment: FRAPPE_SOCKETIO_PORT (0: any free port), FRAPPE_REDIS_QUEUE (redis URL), FRAPPE_SITE
 * (default site), DARTWING_HARNESS_APPS ("app=path,..."; default dartwing = this repository),
 * DARTWING_HARNESS_WHOAMI (method path), DARTWING_HARNESS_NO_FRAPPE_REQUEST=1 (leave
 * socket.frappe_request unset, as version-15's middleware does). Prints one JSON line
 * {"listening": port} once it listens and is subscribed to Redis.
 */

"use strict";

const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
const cookie = require("cookie");
const { Server } = require("socket.io");
const { createClient } = require("@redis/client");

const v15 = process.env.DARTWING_HARNESS_FRAPPE === "15";
const conf = {
	port: Number(process.env.FRAPPE_SOCKETIO_PORT || 0),
	redis_url: process.env.FRAPPE_REDIS_QUEUE || "redis://127.0.0.1:6379",
	default_site: process.env.FRAPPE_SITE || null,
	whoami:
		process.env.DARTWING_HARNESS_WHOAMI ||
		(v15 ? "/api/method/frappe.realtime.get_user_info" : "/api/method/dartwing.dartwing_core.api.jobs.check_realtime_room"),
	frappe_request: !v15 && process.env.DARTWING_HARNESS_NO_FRAPPE_REQUEST !== "1",
	apps: v15 ? new Map() : parse_apps(process.env.DARTWING_HARNESS_APPS || `dartwing=${path.resolve(__dirname, "..", "..")}`),
};
const frappe_v15_handlers = v15 ? require("./frappe_v15_handlers") : null;

function parse_apps(spec) {
	const apps = new Map();
	for (const item of spec.split(",")) {
		const [name, root] = item.split("=");
		if (name && root) apps.set(name.trim(), root.trim());
	}
	return apps;
}

function hostname_of(value) {
	if (!value) return undefined;
	let host = value.includes("://") ? value.split("/")[2] : value;
	const colon = host.indexOf(":");
	return colon === -1 ? host : host.slice(0, colon);
}

function site_name_of(socket) {
	if (socket.site_name) return socket.site_name;
	const headers = socket.request.headers;
	if (headers["x-frappe-site-name"]) {
		socket.site_name = hostname_of(headers["x-frappe-site-name"]);
	} else if (conf.default_site && ["localhost", "127.0.0.1"].includes(hostname_of(headers.host))) {
		socket.site_name = conf.default_site;
	} else if (headers.origin) {
		socket.site_name = hostname_of(headers.origin);
	} else {
		socket.site_name = hostname_of(headers.host);
	}
	return socket.site_name;
}

function site_url(socket, route) {
	return (socket.request.headers.origin || "") + (route || "");
}

function authenticate(socket, next) {
	const headers = socket.request.headers;
	if (socket.nsp.name.slice(1) !== site_name_of(socket)) return next(new Error("Invalid namespace"));
	if (hostname_of(headers.host) !== hostname_of(headers.origin)) return next(new Error("Invalid origin"));
	if (!headers.cookie) return next(new Error("No cookie transmitted."));
	const cookies = cookie.parse(headers.cookie || "");
	const authorization = headers.authorization;
	if (!cookies.sid && !authorization) {
		return next(new Error("No authentication method used. Use cookie or authorization header."));
	}
	socket.sid = cookies.sid;
	socket.authorization_header = authorization;

	// v15 prefers the sid cookie and sends it as a query parameter; develop, the Authorization header.
	const request_as_client = (route, args = {}, opts = {}) => {
		const auth_headers = {};
		if (v15 && socket.sid) args = { ...args, sid: socket.sid };
		else if (socket.authorization_header) auth_headers["Authorization"] = socket.authorization_header;
		else if (socket.sid) auth_headers["Cookie"] = `sid=${socket.sid}`;
		const query = new URLSearchParams(args).toString();
		return fetch(site_url(socket, route + (query ? "?" + query : "")), { ...opts, headers: auth_headers });
	};
	if (conf.frappe_request) socket.frappe_request = request_as_client;
	socket.request_as_client = request_as_client;

	request_as_client(conf.whoami)
		.then((res) => {
			if (!res.ok) throw new Error(`HTTP ${res.status}`);
			return res.json();
		})
		.then(({ message }) => {
			socket.user = message.user;
			socket.user_type = message.user_type;
			socket.installed_apps = message.installed_apps || Array.from(conf.apps.keys());
			next();
		})
		.catch((err) => next(new Error(`Unauthorized: ${err}`)));
}

const loaded_handlers = new Map();
function handlers_of(app) {
	if (loaded_handlers.has(app)) return loaded_handlers.get(app);
	let handler = null;
	const root = conf.apps.get(app);
	const file = root && path.join(root, "realtime", "handlers.js");
	if (file && fs.existsSync(file)) {
		try {
			handler = require(file);
		} catch (err) {
			console.warn(`failed to load event handlers from ${file}`, err);
		}
	}
	loaded_handlers.set(app, handler);
	return handler;
}

const server = http.createServer();
const io = new Server(server, { cors: { origin: true, credentials: true }, cleanupEmptyChildNamespaces: true });
const sites = io.of(/^\/.*$/);
sites.use(authenticate);
sites.on("connection", (socket) => {
	if (frappe_v15_handlers) frappe_v15_handlers(socket, socket.request_as_client);
	for (const app of socket.installed_apps || []) {
		const handler = handlers_of(app);
		try {
			if (handler) handler(socket);
		} catch (err) {
			console.warn(`failed to set up event handlers from ${app}`, err);
		}
	}
});

const subscriber = createClient({ url: conf.redis_url });
subscriber.on("error", (err) => console.warn("redis subscriber:", err.message));

async function main() {
	await subscriber.connect();
	await subscriber.subscribe("events", (raw) => {
		let envelope;
		try {
			envelope = JSON.parse(raw);
		} catch (err) {
			return;
		}
		if (envelope.room) {
			io.of("/" + envelope.namespace).to(envelope.room).emit(envelope.event, envelope.message);
		} else {
			sites.emit(envelope.event, envelope.message);
		}
	});
	await new Promise((resolve) => server.listen(conf.port, "127.0.0.1", resolve));
	process.stdout.write(JSON.stringify({ listening: server.address().port }) + "\n");
}

function shutdown() {
	io.close();
	subscriber.quit().catch(() => undefined).finally(() => process.exit(0));
	setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

main().catch((err) => {
	console.error("harness failed to start:", err);
	process.exit(1);
});
