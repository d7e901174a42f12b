/*
 * app.js - the mqttgw dashboard: an MQTT client in the browser, nothing else.
 *
 * Shaped so:
 *  - The page knows nothing of a config: it finds stations on
 *    +/gateway/status and reads each gateway's retained self-description
 *    (the info document, gateway/info.c) to learn the devices, the topics
 *    to watch and the command routes with their accept patterns.
 *  - It has exactly the rights of the MQTT user it logs in as. It speaks
 *    MQTT 5, so a publish the broker refuses comes back as a PUBACK reason
 *    code, and a refused subscription as a SUBACK code >= 0x80; both are
 *    shown in the log and beside what they concern.
 *  - Messages only change state; the DOM is touched at most once per
 *    animation frame (render()), for what changed. A station publishing
 *    1,000 messages/s costs one render per frame, not 1,000.
 */
import mqtt from "mqtt";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";

const STORE = "mqttgw.dashboard";
const CHART_POINTS = 300;
const REPLY_WINDOW_MS = 3000;
const LOG_MAX = 200;
const HISTORY_MAX = 20;

const $ = (sel, el = document) => el.querySelector(sel);

function h(tag, attrs = {}, ...kids) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v === undefined || v === null || v === false) continue;
		if (k === "class") el.className = v;
		else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
		else if (k === "text") el.textContent = v;
		else el.setAttribute(k, v === true ? "" : v);
	}
	for (const kid of kids.flat()) if (kid !== null && kid !== undefined) el.append(kid);
	return el;
}

/* ---- state ---- */

const state = {
	client: null,
	stations: new Map(),	/* name -> station */
	selected: null,
	log: [],
	logDirty: true,
	navDirty: true,
	connText: "disconnected",
	connClass: "off",
	clientId: null,
	corrSeq: 0,
};

function newStation(name) {
	return {
		name,
		online: null,
		info: null,
		infoTopic: name + "/gateway/info",
		stats: null,
		values: new Map(),	/* topic -> { payload, t, num } */
		topicsDirty: true,
		subscribed: new Set(),
		refusedSubs: new Map(),	/* filter -> reason */
		view: null,		/* element refs, built from the info document */
		viewDirty: true,
		valuesDirty: new Set(),
		pending: [],		/* commands waiting for what comes back */
		replyTopic: null,	/* MQTT 5 response topic of this page, under the station */
	};
}

/* ---- log ---- */

function logEntry(kind, text, station) {
	state.log.unshift({ t: Date.now(), kind, text, station });
	if (state.log.length > LOG_MAX) state.log.length = LOG_MAX;
	state.logDirty = true;
	schedule();
}

/* ---- patterns ---- */

/* A POSIX ERE (the gateway's accept) as a JS RegExp: the common subset,
 * plus the bracket classes ERE has and JS has not. null: cannot check here. */
const POSIX_CLASSES = {
	alpha: "A-Za-z", digit: "0-9", alnum: "A-Za-z0-9", upper: "A-Z", lower: "a-z",
	space: " \\t\\r\\n\\v\\f", blank: " \\t", punct: "!-\\/:-@\\[-`{-~", xdigit: "0-9A-Fa-f",
	cntrl: "\\x00-\\x1f\\x7f", print: "\\x20-\\x7e", graph: "\\x21-\\x7e", word: "A-Za-z0-9_",
};

export function toRegExp(src) {
	if (src === undefined || src === null) return { re: null, ok: true };
	const conv = src.replace(/\[:([a-z]+):\]/g, (m, c) => POSIX_CLASSES[c] ?? m);
	try {
		return { re: new RegExp(conv, "u"), ok: true };
	} catch (e) {
		try {
			return { re: new RegExp(conv), ok: true };
		} catch (e2) {
			return { re: null, ok: false };
		}
	}
}

/* A route topic template ("S013/MOT01/POS/$1") as a subscription filter
 * (a level with a capture becomes +) and a RegExp for incoming topics. */
function topicFilter(tpl) {
	return tpl.split("/").map((l) => (/\$[0-9]/.test(l.replace(/\$\$/g, "")) ? "+" : l.replace(/\$\$/g, "$"))).join("/");
}

function filterMatches(filter, topic) {
	const f = filter.split("/"), t = topic.split("/");
	for (let i = 0; i < f.length; i++) {
		if (f[i] === "#") return true;
		if (i >= t.length) return false;
		if (f[i] !== "+" && f[i] !== t[i]) return false;
	}
	return f.length === t.length;
}

const NUMERIC = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

/* ---- MQTT ---- */

function reasonText(code) {
	const words = { 0x80: "unspecified error", 0x83: "implementation specific error", 0x87: "not authorized",
		0x8f: "topic filter invalid", 0x90: "topic name invalid", 0x97: "quota exceeded", 0x99: "payload format invalid" };
	return (words[code] || "refused") + " (0x" + code.toString(16) + ")";
}

function subscribe(st, filters) {
	const todo = filters.filter((f) => f && !st.subscribed.has(f));
	if (!todo.length || !state.client) return;
	todo.forEach((f) => st.subscribed.add(f));
	state.client.subscribe(todo, { qos: 0 }, (err, granted) => {
		if (err) {
			logEntry("error", "subscribe failed: " + err.message, st.name);
			return;
		}
		for (const g of granted || []) {
			if (g.qos >= 0x80) {
				st.refusedSubs.set(g.topic, reasonText(g.qos));
				logEntry("refused", "the broker refused the subscription to " + g.topic + ": " + reasonText(g.qos), st.name);
				st.viewDirty = true;
				schedule();
			}
		}
	});
}

function stationOf(name) {
	let st = state.stations.get(name);
	if (!st) {
		st = newStation(name);
		state.stations.set(name, st);
		if (!state.selected) state.selected = name;
		state.navDirty = true;
		subscribe(st, [st.infoTopic]);
	}
	return st;
}

function topicsOf(st) {
	const info = st.info, out = [];
	if (!info) return out;
	if (info.stats_topic) out.push(info.stats_topic);
	for (const d of info.devices || []) {
		if (d.status_topic) out.push(d.status_topic);
		if (d.error_topic) out.push(d.error_topic);
	}
	for (const r of info.routes || []) if (r.direction === "up") out.push(topicFilter(r.topic));
	if (st.replyTopic) out.push(st.replyTopic);
	return out;
}

function onInfo(st, text) {
	let info;
	try {
		info = JSON.parse(text);
	} catch (e) {
		logEntry("error", "info document is not JSON: " + e.message, st.name);
		return;
	}
	st.info = info;
	/* request/response: a gateway on MQTT 5 sends a device's reply to the
	 * command's response topic, with its correlation data; under the
	 * station, where the gateway's login may publish */
	st.replyTopic = info.protocol === 5 && (info.devices || []).some((d) => d.reply) && state.clientId
		? st.name + "/dashboard/" + state.clientId + "/reply" : null;
	for (const r of info.routes || []) {
		if (r.direction === "up") r._filter = topicFilter(r.topic);
		if (r.direction === "command") r._accept = toRegExp(r.accept);
	}
	st.viewDirty = true;
	subscribe(st, topicsOf(st));
	schedule();
}

/* Which device a topic belongs to (for replies and the device cards). */
function deviceOfTopic(st, topic) {
	const info = st.info;
	if (!info) return null;
	for (const d of info.devices || [])
		if (d.status_topic === topic || d.error_topic === topic) return d.name;
	for (const r of info.routes || [])
		if (r.direction === "up" && filterMatches(r._filter, topic)) return r.device;
	return null;
}

function onMessage(topic, payload, packet) {
	const text = new TextDecoder().decode(payload);
	const now = Date.now();
	const parts = topic.split("/");

	if (parts.length === 3 && parts[1] === "gateway" && parts[2] === "status") {
		const st = stationOf(parts[0]);
		st.online = text === "online";
		st.statusAt = now;
		st.navDirty = true;
		state.navDirty = true;
		st.viewDirty = st.viewDirty || !st.view;
		schedule();
		return;
	}
	for (const st of state.stations.values()) {
		if (topic === st.infoTopic) {
			onInfo(st, text);
			return;
		}
		const info = st.info;
		if (!info) continue;
		if (topic === st.replyTopic) {
			const cd = packet.properties && packet.properties.correlationData;
			const id = cd ? new TextDecoder().decode(cd) : "";
			const p = st.pending.find((e) => e.corr === id);
			if (p) {
				p.reply = "reply " + text;
				st.valuesDirty.add("#cmd" + p.route);
				schedule();
			}
			return;
		}
		if (topic === info.stats_topic) {
			try {
				st.stats = JSON.parse(text);
			} catch (e) {
				/* not ours to judge */
			}
			st.valuesDirty.add("#stats");
			schedule();
			return;
		}
		const dev = deviceOfTopic(st, topic);
		if (!dev) continue;
		let v = st.values.get(topic);
		if (!v) {
			v = { payload: "", t: 0, series: null, retained: false };
			st.values.set(topic, v);
			st.viewDirty = true;
		}
		v.payload = text;
		v.t = packet.retain ? (v.t || now) : now;
		v.retained = packet.retain;
		if (NUMERIC.test(text) && !packet.retain) {
			if (!v.series) v.series = { x: [], y: [] };
			v.series.x.push(now / 1000);
			v.series.y.push(parseFloat(text));
			if (v.series.x.length > CHART_POINTS) {
				v.series.x.shift();
				v.series.y.shift();
			}
		} else if (NUMERIC.test(text) && !v.series) {
			v.series = { x: [now / 1000], y: [parseFloat(text)] };
		}
		st.valuesDirty.add(topic);
		const d = (info.devices || []).find((x) => x.name === dev);
		if (d && topic === d.error_topic && !packet.retain) logEntry("error", dev + ": " + text, st.name);
		/* what came back for a command just sent to this device */
		if (!packet.retain && topic !== (d && d.status_topic)) {
			for (const p of st.pending) {
				if (p.device === dev && now - p.t <= REPLY_WINDOW_MS && !p.reply && !p.corr) {
					p.reply = topic + " " + text;
					p.replyErr = d && topic === d.error_topic;
					st.valuesDirty.add("#cmd" + p.route);
					break;
				}
			}
		}
		schedule();
		return;
	}
}

function setConn(text, cls) {
	state.connText = text;
	state.connClass = cls;
	state.navDirty = true;
	schedule();
}

function connect(url, username, password) {
	disconnect();
	const opts = {
		protocolVersion: 5,
		clean: true,
		reconnectPeriod: 2000,
		connectTimeout: 10000,
		clientId: "mqttgw-dash-" + Math.random().toString(16).slice(2, 10),
	};
	state.clientId = opts.clientId;
	if (username) opts.username = username;
	if (password) opts.password = password;
	setConn("connecting", "wait");
	let client;
	try {
		client = mqtt.connect(url, opts);
	} catch (e) {
		setConn("bad URL", "off");
		logEntry("error", "cannot connect to " + url + ": " + e.message);
		return;
	}
	state.client = client;
	client.on("connect", () => {
		setConn("connected", "on");
		for (const st of state.stations.values()) st.subscribed.clear();
		client.subscribe(["+/gateway/status"], { qos: 0 }, (err, granted) => {
			if (err || (granted && granted[0] && granted[0].qos >= 0x80))
				logEntry("refused", "the broker refused the subscription to +/gateway/status: " +
					(err ? err.message : reasonText(granted[0].qos)));
		});
		for (const st of state.stations.values()) subscribe(st, [st.infoTopic, ...topicsOf(st)]);
	});
	client.on("reconnect", () => setConn("reconnecting", "wait"));
	client.on("offline", () => setConn("offline", "off"));
	client.on("close", () => { if (state.client === client && state.connClass !== "wait") setConn("disconnected", "off"); });
	client.on("error", (e) => {
		logEntry("error", "broker: " + e.message);
		if (/not authorized|bad user name|authoriz/i.test(e.message)) setConn("login refused", "off");
	});
	client.on("message", onMessage);
	$("#connect-btn").disabled = true;
	$("#disconnect-btn").disabled = false;
}

function disconnect() {
	if (state.client) {
		state.client.end(true);
		state.client = null;
	}
	$("#connect-btn").disabled = false;
	$("#disconnect-btn").disabled = true;
	setConn("disconnected", "off");
}

/* ---- commands ---- */

function send(st, route, payload, topicOverride) {
	const topic = topicOverride || route.topic;
	const entry = { t: Date.now(), route: route.index, device: route.device, payload, status: "sending", reply: null };
	const acc = route._accept || { re: null, ok: true };
	st.history = st.history || new Map();
	const hist = st.history.get(route.index) || [];
	st.history.set(route.index, hist);
	hist.unshift(entry);
	if (hist.length > HISTORY_MAX) hist.length = HISTORY_MAX;
	st.valuesDirty.add("#cmd" + route.index);
	schedule();
	if (acc.re && !acc.re.test(payload)) {
		entry.status = "refused here: the route's accept " + route.accept + " does not match; not sent";
		entry.bad = true;
		logEntry("refused", route.device + ": \"" + payload + "\" not sent: the accept pattern " + route.accept + " refuses it", st.name);
		return;
	}
	if (/[\r\n\0]/.test(payload)) {
		entry.status = "refused here: CR, LF or NUL; not sent";
		entry.bad = true;
		logEntry("refused", route.device + ": command with CR, LF or NUL not sent", st.name);
		return;
	}
	if (!state.client || !state.client.connected) {
		entry.status = "not sent: not connected";
		entry.bad = true;
		logEntry("error", "not connected: \"" + payload + "\" not sent", st.name);
		return;
	}
	if (/[+#]/.test(topic)) {
		entry.status = "not sent: the topic " + topic + " has a wildcard; fill it in";
		entry.bad = true;
		return;
	}
	st.pending.unshift(entry);
	if (st.pending.length > 50) st.pending.length = 50;
	const opts = { qos: 1 };
	const dev = (st.info.devices || []).find((d) => d.name === route.device);
	if (st.replyTopic && dev && dev.reply) {
		entry.corr = String(++state.corrSeq);
		opts.properties = { responseTopic: st.replyTopic, correlationData: entry.corr };
	}
	state.client.publish(topic, payload, opts, (err, packet) => {
		const rc = err && err.code !== undefined ? err.code : packet && packet.reasonCode;
		if (err || (rc && rc >= 0x80)) {
			entry.status = "refused by the broker: " + (rc ? reasonText(rc) : err.message);
			entry.bad = true;
			const i = st.pending.indexOf(entry);
			if (i >= 0) st.pending.splice(i, 1);
			/* a switch flipped for nothing goes back to what the device reports */
			for (const [topic, v] of st.values) if (v && route.device && deviceOfTopic(st, topic) === route.device) st.valuesDirty.add(topic);
			logEntry("refused", "the broker refused the publish of \"" + payload + "\" to " + topic + ": " +
				(rc ? reasonText(rc) : err.message), st.name);
		} else {
			entry.status = "sent";
		}
		st.valuesDirty.add("#cmd" + route.index);
		schedule();
	});
}

/* ---- rendering (once per animation frame) ---- */

let scheduled = false;
function schedule() {
	if (!scheduled) {
		scheduled = true;
		requestAnimationFrame(render);
	}
}

function ageText(t, now) {
	if (!t) return "";
	const s = Math.max(0, Math.round((now - t) / 1000));
	if (s < 60) return s + " s ago";
	if (s < 3600) return Math.floor(s / 60) + " min ago";
	return Math.floor(s / 3600) + " h ago";
}

function availClass(v) {
	return v === "online" ? "on" : v === "offline" ? "off" : "unknown";
}

function renderNav() {
	const c = $("#conn-state");
	c.textContent = state.connText;
	c.className = "pill " + state.connClass;
	const nav = $("#stations");
	nav.replaceChildren(...[...state.stations.values()].map((st) =>
		h("button", {
			type: "button", "data-station": st.name,
			class: "station " + (st.online ? "on" : "off") + (st.name === state.selected ? " selected" : ""),
			onclick: () => { state.selected = st.name; state.navDirty = true; st.viewDirty = true; schedule(); },
		}, st.name + " ", h("span", { class: "pill " + (st.online ? "on" : "off"), text: st.online ? "online" : "offline" }))));
}

function buildValueRow(st, topic) {
	const row = h("div", { class: "value", "data-topic": topic },
		h("span", { class: "topic", text: topic.startsWith(st.name + "/") ? topic.slice(st.name.length + 1) : topic }),
		h("span", { class: "payload" }), h("span", { class: "age" }));
	return { row, payload: $(".payload", row), age: $(".age", row), chartBox: null, chart: null };
}

function commandBox(st, route, dev) {
	const hasWild = /[+#]/.test(route.topic);
	const input = h("input", { type: "text", class: "cmd-input", placeholder: route.accept ? "matches " + route.accept : "payload", spellcheck: "false", autocapitalize: "off" });
	const topicInput = hasWild ? h("input", { type: "text", class: "cmd-topic", value: route.topic }) : null;
	const check = h("span", { class: "check" });
	const hist = h("ol", { class: "history" });
	const acc = route._accept || { re: null, ok: true };
	input.addEventListener("input", () => {
		const v = input.value;
		if (!v) check.textContent = "";
		else if (!acc.ok) check.textContent = "pattern not checkable here; the gateway decides";
		else if (acc.re && !acc.re.test(v)) check.textContent = "refused by the accept pattern";
		else check.textContent = "ok";
		check.className = "check " + (acc.re && v && !acc.re.test(v) ? "bad" : "");
	});
	const form = h("form", { class: "cmd", "data-route": String(route.index), "data-device": dev.name },
		h("div", { class: "cmd-topic-line", text: "→ " + route.topic + (route.accept ? "  accept " + route.accept : "") }),
		topicInput,
		h("div", { class: "cmd-row" }, input, h("button", { type: "submit", text: "Send" })),
		check, hist);
	form.addEventListener("submit", (e) => {
		e.preventDefault();
		send(st, route, input.value, topicInput ? topicInput.value : null);
	});
	return { form, hist };
}

function gpioControls(st, route, dev, stateTopic) {
	const sw = h("input", { type: "checkbox", class: "switch", "aria-label": dev.name + " output" });
	sw.addEventListener("change", () => send(st, route, sw.checked ? "1" : "0"));
	const pulseMs = h("input", { type: "number", class: "pulse-ms", value: "500", min: "1", max: "600000" });
	const pulse = h("button", { type: "button", class: "pulse", text: "Pulse" });
	pulse.addEventListener("click", () => send(st, route, "pulse:" + (parseInt(pulseMs.value, 10) || 500)));
	const box = h("div", { class: "gpio-out", "data-route": String(route.index), "data-device": dev.name },
		h("label", {}, sw, " on"), pulse, pulseMs, h("span", { text: "ms" }));
	return { box, sw, stateTopic };
}

function buildView(st) {
	const info = st.info;
	const root = h("section", { class: "station-view", "data-station": st.name });
	const v = { root, values: new Map(), devices: new Map(), cmds: new Map(), gpio: [], stats: null, head: null };
	v.head = h("div", { class: "station-head" },
		h("h2", { text: st.name }),
		h("span", { class: "pill gw-status " + (st.online ? "on" : "off"), text: "gateway " + (st.online ? "online" : "offline") }),
		info ? h("span", { class: "muted", text: "mqttgw " + (info.version || "?") }) : null);
	root.append(v.head);
	if (!info) {
		root.append(h("p", { class: "muted", text: "No info document on " + st.infoTopic + " yet (an older gateway, or this user may not read it)." }));
		return v;
	}
	if (st.refusedSubs.size) {
		root.append(h("p", { class: "warn", text: "The broker refused: " + [...st.refusedSubs].map(([f, r]) => f + " (" + r + ")").join(", ") }));
	}
	const grid = h("div", { class: "grid" });
	root.append(grid);
	for (const d of info.devices || []) {
		const avail = h("span", { class: "pill avail unknown", text: d.status_topic ? "?" : "" });
		const where = d.kind === "serial" ? d.port : d.chip + " line " + d.line + ", " + d.direction;
		const card = h("article", { class: "device " + d.kind, "data-device": d.name },
			h("header", {}, h("h3", { text: d.name }), avail),
			h("div", { class: "muted small", text: where }),
			h("div", { class: "muted small", text: d.settings || "" }),
			h("div", { class: "counters small" }));
		const dv = { card, avail, counters: $(".counters", card), dev: d, values: h("div", { class: "values" }) };
		card.append(dv.values);
		v.devices.set(d.name, dv);
		grid.append(card);
		const ups = (info.routes || []).filter((r) => r.direction === "up" && r.device === d.name);
		const cmds = (info.routes || []).filter((r) => r.direction === "command" && r.device === d.name);
		/* values: every topic seen so far that one of its routes publishes */
		for (const [topic] of st.values) {
			if (topic === d.status_topic) continue;
			if (topic !== d.error_topic && !ups.some((r) => filterMatches(r._filter, topic))) continue;
			const row = buildValueRow(st, topic);
			dv.values.append(row.row);
			v.values.set(topic, row);
			if (d.kind === "gpio" && d.direction === "input") row.row.classList.add("indicator");
		}
		for (const r of cmds) {
			if (d.kind === "gpio") {
				const stTopic = ups.length && !/\$[0-9]/.test(ups[0].topic) ? ups[0].topic : null;
				const g = gpioControls(st, r, d, stTopic);
				card.append(g.box);
				v.gpio.push(g);
				const cb = commandBox(st, r, d);
				cb.form.classList.add("compact");
				card.append(cb.form);
				v.cmds.set(r.index, cb);
			} else {
				const cb = commandBox(st, r, d);
				card.append(cb.form);
				v.cmds.set(r.index, cb);
			}
		}
	}
	if (info.stats_topic) {
		v.stats = h("article", { class: "device stats", "data-device": "#stats" },
			h("header", {}, h("h3", { text: "Counters" }), h("span", { class: "muted small", text: info.stats_topic })),
			h("dl", { class: "stats-list" }));
		grid.append(v.stats);
	}
	return v;
}

const STAT_KEYS = ["up_frames", "up_refused", "down_messages", "down_written", "down_refused", "timeouts",
	"published", "dropped_in", "buffer_dropped", "refused_out", "queued", "connects"];

function renderStation(st, now) {
	const main = $("#main");
	if (st.viewDirty || !st.view) {
		for (const r of st.view ? st.view.values.values() : []) if (r.chart) r.chart.destroy();
		st.view = buildView(st);
		st.viewDirty = false;
		st.valuesDirty = new Set([...st.values.keys(), "#stats", ...[...(st.history || new Map()).keys()].map((k) => "#cmd" + k)]);
		main.replaceChildren(st.view.root);
	}
	const v = st.view;
	const gw = $(".gw-status", v.head);
	gw.className = "pill gw-status " + (st.online ? "on" : "off");
	gw.textContent = "gateway " + (st.online ? "online" : "offline");
	for (const key of st.valuesDirty) {
		if (key === "#stats") {
			if (v.stats && st.stats) {
				$(".stats-list", v.stats).replaceChildren(...STAT_KEYS.filter((k) => k in st.stats).flatMap((k) =>
					[h("dt", { text: k.replace(/_/g, " ") }), h("dd", { "data-stat": k, text: String(st.stats[k]) })]));
			}
			for (const [name, dv] of v.devices) {
				const s = st.stats && st.stats.devices && st.stats.devices[name];
				if (s) dv.counters.textContent = "in " + s.in + " · out " + s.out + " · refused " + s.refused + (s.bad ? " · bad " + s.bad : "");
				if (s && !dv.dev.status_topic) {
					dv.avail.textContent = s.online ? "online" : "offline";
					dv.avail.className = "pill avail " + (s.online ? "on" : "off");
				}
			}
			continue;
		}
		if (key.startsWith("#cmd")) {
			const idx = parseInt(key.slice(4), 10);
			const cb = v.cmds.get(idx);
			const hist = (st.history && st.history.get(idx)) || [];
			if (cb) cb.hist.replaceChildren(...hist.map((e) => h("li", { class: e.bad ? "bad" : e.replyErr ? "bad" : "" },
				h("code", { text: e.payload }), " ", h("span", { class: "status", text: e.status }),
				e.reply ? h("div", { class: "reply", text: "← " + e.reply }) : null)));
			continue;
		}
		const val = st.values.get(key);
		const dname = deviceOfTopic(st, key);
		const dv = v.devices.get(dname);
		if (!val || !dv) continue;
		if (key === dv.dev.status_topic) {
			dv.avail.textContent = val.payload;
			dv.avail.className = "pill avail " + availClass(val.payload);
			dv.card.classList.toggle("offline", val.payload === "offline");
			continue;
		}
		let row = v.values.get(key);
		if (!row) {
			row = buildValueRow(st, key);
			dv.values.append(row.row);
			v.values.set(key, row);
			if (dv.dev.kind === "gpio" && dv.dev.direction === "input") row.row.classList.add("indicator");
		}
		row.payload.textContent = val.payload;
		row.row.dataset.value = val.payload;
		if (dv.dev.kind === "gpio") {
			row.row.classList.toggle("lit", val.payload === "1");
			for (const g of v.gpio) if (g.stateTopic === key) g.sw.checked = val.payload === "1";
		}
		if (val.series && val.series.x.length > 1) {
			if (!row.chart) {
				row.chartBox = h("div", { class: "chart" });
				row.row.after(row.chartBox);
				row.chart = new uPlot({
					width: Math.min(360, Math.max(200, dv.card.clientWidth - 24)), height: 90,
					legend: { show: false }, cursor: { show: false },
					scales: { x: { time: true } },
					axes: [{ size: 24, font: "10px sans-serif" }, { size: 56, font: "10px sans-serif" }],
					series: [{}, { stroke: "#0a7", width: 1.5 }],
				}, [val.series.x, val.series.y], row.chartBox);
			} else {
				row.chart.setData([val.series.x, val.series.y]);
			}
		}
	}
	st.valuesDirty.clear();
	for (const [topic, row] of v.values) {
		const val = st.values.get(topic);
		if (val) row.age.textContent = val.retained ? "retained" : ageText(val.t, now);
	}
}

function renderLog() {
	$("#log").replaceChildren(...state.log.slice(0, 100).map((e) =>
		h("li", { class: e.kind }, h("time", { text: new Date(e.t).toLocaleTimeString() }), " ",
			e.station ? h("b", { text: e.station + " " }) : null, e.text)));
}

function render() {
	scheduled = false;
	const now = Date.now();
	if (state.navDirty) {
		renderNav();
		state.navDirty = false;
	}
	const st = state.selected && state.stations.get(state.selected);
	if (st) {
		const hint = $("#hint");
		if (hint) hint.remove();
		renderStation(st, now);
	}
	if (state.logDirty) {
		renderLog();
		state.logDirty = false;
	}
	state.renders = (state.renders || 0) + 1;
}

/* ---- start ---- */

function defaultUrl() {
	if (location.protocol === "http:" || location.protocol === "https:")
		return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
	return "ws://localhost:9001/";
}

function start() {
	let saved = {};
	try {
		saved = JSON.parse(localStorage.getItem(STORE) || "{}");
	} catch (e) {
		saved = {};
	}
	$("#url").value = saved.url || defaultUrl();
	$("#username").value = saved.username || "";
	$("#connect").addEventListener("submit", (e) => {
		e.preventDefault();
		const url = $("#url").value.trim(), username = $("#username").value.trim();
		/* everything but the password */
		try {
			localStorage.setItem(STORE, JSON.stringify({ url, username }));
		} catch (err) {
			/* private mode: nothing remembered */
		}
		connect(url, username, $("#password").value);
	});
	$("#disconnect-btn").addEventListener("click", disconnect);
	setInterval(schedule, 1000);	/* ages */
	window.mqttgwDashboard = state;	/* for the tests and the curious */
	schedule();
}

start();
