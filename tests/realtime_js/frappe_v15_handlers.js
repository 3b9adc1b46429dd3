/**
 * The room handlers Frappe v15's realtime server installs on every socket, as read in version-15's
 * realtime/handlers/frappe_handlers.js (behaviour only; written for Dartwing, no Frappe code):
 *
 * - on connection the socket joins `user:<user>` and `website`, and `all` when it is a System User;
 * - `doc_subscribe(doctype, docname)` joins `doc:<doctype>/<docname>` only if the site answers 200 to
 *   GET /api/method/frappe.realtime.can_subscribe_doc as the client (403, 404, anything else: the
 *   socket stays out); `doctype_subscribe(doctype)` likewise with can_subscribe_doctype and room
 *   `doctype:<doctype>`; `doc_unsubscribe` / `doctype_unsubscribe` leave without asking.
 *
 * v15 acknowledges none of these; the client is not told whether it got in. For tests, each decision
 * is written to stdout as one JSON line: {"joined"|"refused": room, "user", "status"}.
 */

"use strict";

const doc_room = (doctype, docname) => `doc:${doctype}/${docname}`;
const doctype_room = (doctype) => `doctype:${doctype}`;

function report(kind, room, socket, status) {
	process.stdout.write(JSON.stringify({ [kind]: room, user: socket.user, status }) + "\n");
}

function join_if_allowed(socket, request_as_client, method, args, room) {
	request_as_client(`/api/method/frappe.realtime.${method}`, args)
		.then((res) => {
			if (res.status === 200) {
				socket.join(room);
				report("joined", room, socket, res.status);
			} else {
				report("refused", room, socket, res.status);
			}
		})
		.catch((err) => report("refused", room, socket, String(err)));
}

function frappe_v15_handlers(socket, request_as_client) {
	socket.join(`user:${socket.user}`);
	socket.join("website");
	if (socket.user_type === "System User") socket.join("all");

	socket.on("doc_subscribe", (doctype, docname) => {
		if (!doctype || !docname) return;
		join_if_allowed(socket, request_as_client, "can_subscribe_doc", { doctype, docname }, doc_room(doctype, docname));
	});
	socket.on("doc_unsubscribe", (doctype, docname) => socket.leave(doc_room(doctype, docname)));
	socket.on("doctype_subscribe", (doctype) => {
		if (!doctype) return;
		join_if_allowed(socket, request_as_client, "can_subscribe_doctype", { doctype }, doctype_room(doctype));
	});
	socket.on("doctype_unsubscribe", (doctype) => socket.leave(doctype_room(doctype)));
}

module.exports = frappe_v15_handlers;
