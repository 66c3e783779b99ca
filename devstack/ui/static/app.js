// The devstack dashboard: reads /api/v1/events (Server-Sent Events) and renders; the buttons POST to
// /api/v1. No framework, no build step: the browser loads this file as it is.
"use strict";

const MAX_LOG_LINES = 1000; // the pane keeps this many lines; every line is in .devstack/logs/
// New lines are drawn at most this often: laying out the pane at every frame during a flood took
// a whole core from the stack being watched (bench W8); five times a second still reads as live.
const LOG_FLUSH_MS = 200;
const ICONS = { healthy: "●", running: "▶", starting: "◌", pending: "…", unhealthy: "▲", backoff: "↻",
                failed: "✕", exited: "✓", stopped: "■", up: "●", degraded: "◐", down: "■", unknown: "…" };
const UP = new Set(["healthy", "running"]);
const LIVE = new Set(["starting", "healthy", "running", "unhealthy"]);

const $ = (sel) => document.querySelector(sel);
const rows = new Map(); // service name -> <tr>
let status = null;
let timelineKey = "";
let pendingLines = [];
let logScheduled = false;
let lastFlush = 0;

function scheduleFlush() {
  if (logScheduled) return;
  logScheduled = true;
  const wait = Math.max(0, lastFlush + LOG_FLUSH_MS - performance.now());
  setTimeout(() => requestAnimationFrame(flushLines), wait);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function badge(state) {
  return el("span", { class: "badge" }, el("span", { class: "icon", "aria-hidden": "true", text: ICONS[state] || "•" }),
            el("span", { class: "text", text: state }));
}

function mem(rss) { return rss ? (rss / 1048576).toFixed(1) + " MB" : "–"; }

function uptime(svc) {
  if (!svc.started_at || !LIVE.has(svc.state)) return "–";
  const s = Math.max(0, (Date.now() - Date.parse(svc.started_at)) / 1000);
  if (s < 60) return s.toFixed(0) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function healthText(svc) {
  const h = svc.health || {};
  if (!h.status) return "–";
  if (h.status === "OK" && typeof h.response_time_ms === "number") return "OK " + h.response_time_ms.toFixed(0) + " ms";
  return h.status;
}

// ------------------------------------------------------------------ services

const SIGNALS = { 1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM" };

function reasonText(svc) {
  // Why it is not up: how its process ended (where it did), then devstack's one-line diagnosis.
  if (UP.has(svc.state)) return "";
  const parts = [];
  const code = svc.exit_code;
  if (code != null && ["backoff", "failed", "exited"].includes(svc.state)) {
    parts.push(code > 128 ? "killed by signal " + (code - 128) + (SIGNALS[code - 128] ? " (" + SIGNALS[code - 128] + ")" : "")
                          : "exited with code " + code);
  }
  const error = svc.health && svc.health.error;
  if (error) parts.push(error);
  return parts.join(" — ");
}

function cell(label, cls, text) { return el("td", { class: cls, "data-label": label, text }); }

function renderRow(svc) {
  let tr = rows.get(svc.name);
  if (!tr) {
    tr = el("tr", { "data-service": svc.name });
    const actions = el("td", { class: "actions" });
    for (const verb of ["start", "stop", "restart"]) {
      const b = el("button", { type: "button", "data-action": verb, text: verb[0].toUpperCase() + verb.slice(1) });
      b.addEventListener("click", () => act(svc.name, verb, b));
      actions.append(b);
    }
    tr.append(el("td", { class: "name" }), el("td", { class: "state" }), el("td", { class: "health", "data-label": "Health" }),
              cell("PID", "num pid", ""), cell("Port", "num port", ""), cell("Uptime", "num uptime", ""),
              cell("Restarts", "num restarts", ""), cell("CPU", "num cpu", ""), cell("Memory", "num mem", ""), actions);
    $("#services tbody").append(tr);
    rows.set(svc.name, tr);
    $("#log-service").append(el("option", { value: svc.name, text: svc.name }));
  }
  tr.dataset.state = svc.state;
  tr.dataset.svc = JSON.stringify(svc);
  const name = tr.querySelector(".name");
  name.replaceChildren(svc.name);
  if (svc.optional) name.append(el("span", { class: "optional", text: "optional" }));
  tr.querySelector(".state").replaceChildren(badge(svc.state));
  const health = tr.querySelector(".health");
  health.replaceChildren(healthText(svc));
  const reason = reasonText(svc);
  if (reason) health.append(el("div", { class: "reason", text: reason }));
  tr.querySelector(".pid").textContent = svc.pid ?? "–";
  tr.querySelector(".port").textContent = svc.port ?? "–";
  tr.querySelector(".uptime").textContent = uptime(svc);
  tr.querySelector(".restarts").textContent = svc.restarts;
  tr.querySelector(".cpu").textContent = LIVE.has(svc.state) ? svc.cpu_percent.toFixed(1) + " %" : "–";
  tr.querySelector(".mem").textContent = mem(svc.memory_rss);
  const live = LIVE.has(svc.state) || svc.state === "pending" || svc.state === "backoff";
  tr.querySelector('[data-action="start"]').hidden = live;
  tr.querySelector('[data-action="stop"]').hidden = !live;
}

function renderStatus(doc) {
  status = doc;
  document.title = doc.stack + " · " + doc.state + " · devstack";
  $("#stack-name").textContent = doc.stack;
  const stack = $("#stack-state");
  stack.dataset.state = doc.state;
  stack.replaceChildren(el("span", { class: "icon", "aria-hidden": "true", text: ICONS[doc.state] || "•" }),
                        el("span", { class: "text", text: doc.state }));
  const sup = doc.supervisor || {};
  $("#supervisor").textContent = sup.running ? "supervisor pid " + sup.pid
                                             : "no supervisor is running: every service is stopped";
  $("#up").hidden = !!sup.running;
  $("#down").hidden = !sup.running;
  for (const svc of doc.services) renderRow(svc);
  for (const [name, tr] of rows) if (!doc.services.some((s) => s.name === name)) { tr.remove(); rows.delete(name); }
  maybeTimeline();
}

function renderService(svc) {
  if (!status) return;
  const i = status.services.findIndex((s) => s.name === svc.name);
  if (i >= 0) status.services[i] = svc;
  renderRow(svc);
  maybeTimeline();
}

setInterval(() => {
  for (const tr of rows.values()) tr.querySelector(".uptime").textContent = uptime(JSON.parse(tr.dataset.svc));
}, 1000);

async function act(name, verb, button) {
  const buttons = rows.get(name).querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  button.textContent = verb === "stop" ? "Stopping…" : verb === "start" ? "Starting…" : "Restarting…";
  try {
    await post("/api/v1/services/" + encodeURIComponent(name) + "/" + verb);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    button.textContent = verb[0].toUpperCase() + verb.slice(1);
  }
}

async function post(url) {
  try {
    const r = await fetch(url, { method: "POST", credentials: "same-origin" });
    const body = await r.json();
    if (!r.ok) banner(body.error || ("HTTP " + r.status));
    else banner(null);
    return body;
  } catch (e) {
    banner("the dashboard did not answer: " + e);
    return null;
  }
}

function banner(text) {
  const b = $("#banner");
  b.hidden = !text;
  b.textContent = text || "";
}

$("#up").addEventListener("click", async (e) => { e.target.disabled = true; await post("/api/v1/up"); e.target.disabled = false; });
$("#down").addEventListener("click", async (e) => { e.target.disabled = true; await post("/api/v1/down"); e.target.disabled = false; });

// ------------------------------------------------------------------ timeline

function maybeTimeline() {
  // Fetched again when the stack settles or a new run begins (not on every change).
  const sup = (status && status.supervisor) || {};
  const key = (sup.started_at || "") + "/" + (status ? status.state : "");
  if (key !== timelineKey) { timelineKey = key; loadTimeline(); }
}

async function loadTimeline() {
  const r = await fetch("/api/v1/timeline", { credentials: "same-origin" });
  if (!r.ok) return;
  drawTimeline(await r.json());
}

function drawTimeline(doc) {
  const box = $("#timeline");
  box.replaceChildren();
  const chain = new Set(doc.critical_chain);
  const end = (s) => s.healthy_s ?? Math.max(...["wait_s", "spawn_s", "first_output_s", "port_s"].map((p) => s[p] ?? 0));
  const span = Math.max(doc.ready_s || 0, ...doc.services.map(end), 0.001);
  $("#timeline-summary").textContent = "· " + doc.started_at.replace("T", " ").replace(/\.\d+Z$/, " UTC") + " · " +
    (doc.ready_s == null ? "not ready" : "ready after " + doc.ready_s.toFixed(2) + " s");
  for (const s of doc.services) {
    const track = el("div", { class: "tl-track", "data-service": s.name });
    const seg = (cls, from, to) => {
      if (from == null || to == null || to < from) return;
      const node = el("span", { class: "seg " + cls, title: cls + " " + (to - from).toFixed(2) + " s" });
      node.style.left = (100 * from / span) + "%";   // CSSOM, not a style attribute: allowed by the CSP
      node.style.width = (100 * (to - from) / span) + "%";
      track.append(node);
    };
    const stop = end(s);
    seg("waiting", s.wait_s, s.spawn_s ?? stop);
    const output = s.first_output_s, port = s.port_s;
    const portEnd = stop;
    const talkEnd = port != null ? Math.min(port, stop) : stop;
    seg("silent", s.spawn_s, output != null ? Math.min(output, talkEnd) : talkEnd);
    if (output != null) seg("talking", output, talkEnd);
    if (port != null) seg("listening", port, portEnd);
    const label = el("span", { class: "tl-name", text: (chain.has(s.name) ? "★ " : "") + s.name });
    const outcome = s.healthy_s != null ? s.state + " @" + s.healthy_s.toFixed(2) + " s"
                                        : (s.state || "not started") + (s.error ? ": " + s.error : "");
    const restarts = s.restarts ? " · " + s.restarts + " restart" + (s.restarts > 1 ? "s" : "") : "";
    box.append(label, track, el("span", { class: "tl-end" + (s.healthy_s == null ? " failed" : ""), text: outcome + restarts }));
  }
}

// ------------------------------------------------------------------ logs

function addLine(data) {
  pendingLines.push(data);
  if (pendingLines.length > MAX_LOG_LINES) pendingLines = pendingLines.slice(-MAX_LOG_LINES);
  scheduleFlush();
}

function lineMatches(node) {
  const svc = $("#log-service").value, text = $("#log-filter").value.toLowerCase();
  return (!svc || node.dataset.service === svc) && (!text || node.dataset.text.includes(text));
}

function flushLines() {
  logScheduled = false;
  lastFlush = performance.now();
  const pane = $("#log");
  const frag = document.createDocumentFragment();
  for (const l of pendingLines) {
    const node = el("div", { class: "line " + l.stream + (l.service === "devstack" ? " devstack" : "") },
                    el("span", { class: "ts", text: l.ts.slice(11, 23) + " " }),
                    el("span", { class: "svc", text: l.service + " | " }));
    node.append(l.line);
    node.dataset.service = l.service;
    node.dataset.text = (l.service + " " + l.line).toLowerCase();
    node.hidden = !lineMatches(node);
    frag.append(node);
  }
  pendingLines = [];
  pane.append(frag);
  const excess = pane.childElementCount - MAX_LOG_LINES;
  if (excess > 0) {  // one removal for the lot, not one per line
    const old = document.createRange();
    old.setStartBefore(pane.firstElementChild);
    old.setEndAfter(pane.children[excess - 1]);
    old.deleteContents();
  }
  if (followLog) pane.scrollTop = pane.scrollHeight;
}

// Whether the pane follows new lines: it does while scrolled to the bottom. Kept from scroll
// events, so that drawing lines never has to measure the pane first (a forced layout).
let followLog = true;
$("#log").addEventListener("scroll", (e) => {
  const pane = e.target;
  followLog = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
}, { passive: true });

function refilter() { for (const node of $("#log").children) node.hidden = !lineMatches(node); }
$("#log-service").addEventListener("change", refilter);
$("#log-filter").addEventListener("input", refilter);
$("#log-note").textContent = "newest at the bottom; the last " + MAX_LOG_LINES +
  " lines are kept here, every line in .devstack/logs/";

// ------------------------------------------------------------------ the stream

function connect() {
  const source = new EventSource("/api/v1/events");
  source.addEventListener("open", () => banner(null));
  source.addEventListener("status", (e) => renderStatus(JSON.parse(e.data)));
  source.addEventListener("service", (e) => renderService(JSON.parse(e.data)));
  source.addEventListener("log", (e) => addLine(JSON.parse(e.data)));
  source.addEventListener("dropped", (e) => {
    const d = JSON.parse(e.data);
    addLine({ service: "devstack", stream: "gap", line: d.lines + " lines not shown here (too many at once); every line is in the log files", ts: new Date().toISOString() });
  });
  source.addEventListener("error", async () => {
    const r = await fetch("/api/v1/status", { credentials: "same-origin" }).catch(() => null);
    if (r && r.status === 401) {
      source.close();
      banner("This page has no access: open the link `devstack ui` printed (it carries the token).");
    } else {
      banner("Lost the dashboard; reconnecting…");
    }
  });
}

async function loadBacklog() {
  // The last lines of each service, before the live ones arrive.
  const r = await fetch("/api/v1/status", { credentials: "same-origin" });
  if (!r.ok) return;
  const doc = await r.json();
  const lines = [];
  for (const s of doc.services) {
    const lr = await fetch("/api/v1/services/" + encodeURIComponent(s.name) + "/logs?n=50", { credentials: "same-origin" });
    if (lr.ok) lines.push(...(await lr.json()).lines);
  }
  lines.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  pendingLines = lines.concat(pendingLines);
  scheduleFlush();
}

loadBacklog().finally(connect);
