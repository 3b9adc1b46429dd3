/**
 * A Socket.IO client for tests, on socket.io-client 4.7.2 (the version Frappe v15's Desk uses):
 * connects over websocket with the headers a bench's server reads, emits the given events once
 * connected, and writes what happens to stdout, one JSON line each: {"connected": id},
 * {"connect_error": message}, {"event": name, "args": [...]} for every event it receives.
 * It runs until stdin closes (or SIGTERM).
 *
 * argv[2] is a JSON object: {url (with the namespace), headers: {...}, emits: [[event, ...args], ...]}.
 */

"use strict";

const { io } = require("socket.io-client");

const spec = JSON.parse(process.argv[2]);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const socket = io(spec.url, { transports: ["websocket"], extraHeaders: spec.headers || {}, reconnection: false });
socket.on("connect", () => {
	say({ connected: socket.id });
	for (const [event, ...args] of spec.emits || []) socket.emit(event, ...args);
});
socket.on("connect_error", (err) => say({ connect_error: err.message }));
socket.onAny((event, ...args) => say({ event, args }));

const stop = () => {
	socket.close();
	process.exit(0);
};
process.stdin.on("end", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
