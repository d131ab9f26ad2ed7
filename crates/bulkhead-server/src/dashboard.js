// Bulkhead dashboard: vanilla JS, no build step, no external resources.
// Data comes from the API with the token in sessionStorage; the live stream
// is read with fetch() (EventSource cannot send an Authorization header).
"use strict";

const MONEY_SCALE = 1e8;
const TOKEN_KEY = "bulkhead_token";
const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#bc8cff", "#f85149", "#39c5cf", "#db61a2", "#8b949e"];
// The log keeps at most this many distinct lines; a line identical to one
// of them (same kind and text) is not added again: that line's count goes
// up and it moves to the top.
const LOG_MAX = 300;

let token = sessionStorage.getItem(TOKEN_KEY);
let role = null;
let pollTimer = null;
let streamAbort = null;
let refreshQueued = false;
// Net PnL over event time since the run's first event: loaded from
// /api/v1/pnl/history (bounded by the server), then appended from each poll
// and bounded here the same way (every other point dropped when full).
const pnl = { start: null, max: 1024, t: [], names: [], values: [] };
const logEntries = []; // newest first: { key, kind, text, count, when, first }
let logRenderQueued = false;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k === "title") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function money(v) {
  return (v / MONEY_SCALE).toFixed(2);
}

function bytes(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
  return n + " B";
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  let data = null;
  try { data = await r.json(); } catch (_) { /* not JSON */ }
  if (r.status === 401) {
    logout("Your token was refused: " + (data && data.error ? data.error : "401"));
    throw new Error("unauthorized");
  }
  if (!r.ok) {
    const msg = data && data.error ? data.error + (data.field ? " (" + data.field + ")" : "") : "HTTP " + r.status;
    throw new Error(msg);
  }
  return data;
}

// ------------------------------------------------------------------ login

async function login(t) {
  token = t;
  try {
    const me = await api("GET", "/api/v1/whoami");
    role = me.role;
    sessionStorage.setItem(TOKEN_KEY, t);
    $("whoami").textContent = me.name + " (" + me.role + ")";
    $("login").classList.add("hidden");
    $("app").classList.remove("hidden");
    $("login-error").textContent = "";
    applyRole();
    await loadPnl();
    await refresh();
    await loadLog();
    pollTimer = setInterval(refresh, 1000);
    startStream();
  } catch (e) {
    if (e.message !== "unauthorized") logout("Sign-in failed: " + e.message);
  }
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  role = null;
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
  if (streamAbort) streamAbort.abort();
  streamAbort = null;
  $("app").classList.add("hidden");
  $("login").classList.remove("hidden");
  $("login-error").textContent = message || "";
  $("token").value = "";
}

function canOperate() {
  return role === "operator" || role === "admin";
}

function applyRole() {
  for (const id of ["kill-all", "resume-all"]) {
    $(id).disabled = !canOperate();
    $(id).title = canOperate() ? $(id).title : "needs the operator role";
  }
}

// ------------------------------------------------------------------ data

async function refresh() {
  if (!token) return;
  try {
    const [st, strat, pos] = await Promise.all([
      api("GET", "/api/v1/status"),
      api("GET", "/api/v1/strategies"),
      api("GET", "/api/v1/positions"),
    ]);
    renderStatus(st);
    renderStrategies(strat.strategies);
    renderPositions(pos.positions, pos.pnl);
    loadChain();
    if (pnl.start === null) await loadPnl();
    else if (st.seq === strat.seq) record(st, strat.strategies);
    drawChart();
  } catch (e) {
    if (e.message !== "unauthorized") $("action-status").textContent = "refresh failed: " + e.message;
  }
}

function queueRefresh() {
  if (refreshQueued) return;
  refreshQueued = true;
  setTimeout(() => { refreshQueued = false; refresh(); }, 50);
}

function stateSpan(state, attrs) {
  return el("span", Object.assign({ class: "state-" + state }, attrs || {}), state);
}

function renderStatus(st) {
  const g = $("global-state");
  g.textContent = st.global_state;
  g.className = "pill state-" + st.global_state;
  $("events").textContent = st.engine.events_processed.toLocaleString();
  $("lag").textContent = (st.engine.event_lag_ns / 1e6).toFixed(1);
  const j = st.journal;
  $("journal").textContent = j.records.toLocaleString() + " rec, " + bytes(j.bytes) + (j.last_hash ? ", " + j.last_hash.slice(0, 12) : "");
  const p = st.pnl;
  $("firm-pnl").textContent = "realised " + money(p.realised) + ", unrealised " + money(p.unrealised) + ", fees " + money(p.fees);
}

function renderStrategies(list) {
  const body = $("strategies-body");
  const rows = [];
  for (const s of list) {
    const r = s.resources, o = s.orders;
    const rejected = Object.values(o.rejected || {}).reduce((a, b) => a + b, 0);
    const halt = el("button", { class: "danger", "data-testid": "halt-btn", "data-strategy": s.name, title: "Halt " + s.name + " and cancel its orders" }, "Halt");
    halt.disabled = !canOperate() || s.state === "halted" || s.state === "quarantined";
    halt.addEventListener("click", () => guarded("Halt strategy " + s.name + "? Its open orders will be cancelled.", "/api/v1/halt", { scope: "strategy", name: s.name }));
    const resume = el("button", { "data-testid": "resume-btn", "data-strategy": s.name, title: "Resume " + s.name }, "Resume");
    resume.disabled = !canOperate() || s.state === "active";
    resume.addEventListener("click", () => guarded("Resume strategy " + s.name + "?", "/api/v1/resume", { scope: "strategy", name: s.name }));
    rows.push(el("tr", { "data-testid": "strategy-row", "data-strategy": s.name },
      el("td", {}, s.name),
      el("td", {}, stateSpan(s.state, { "data-testid": "strategy-state", "data-strategy": s.name, title: s.state_cause || "" })),
      el("td", {}, r.events.toLocaleString()),
      el("td", {}, r.fuel_used.toLocaleString()),
      el("td", {}, bytes(r.peak_memory_bytes)),
      el("td", {}, (r.callback_p50_ns / 1e3).toFixed(1) + " / " + (r.callback_p99_ns / 1e3).toFixed(1)),
      el("td", { title: Object.entries(o.rejected || {}).map(([k, v]) => k + "=" + v).join(" ") }, o.submitted + " / " + o.accepted + " / " + rejected),
      el("td", {}, o.fills),
      el("td", {}, money(s.pnl.realised)),
      el("td", {}, money(s.pnl.unrealised)),
      el("td", {}, money(s.pnl.fees)),
      el("td", {}, r.faults),
      el("td", { class: "dim", title: s.module_hash || "native" }, s.module_hash ? s.module_hash.slice(0, 10) : "native"),
      el("td", {}, halt, " ", resume)));
  }
  body.replaceChildren(...rows);
}

function renderPositions(list) {
  $("positions-body").replaceChildren(...list.map((p) => el("tr", { "data-testid": "position-row" },
    el("td", {}, p.strategy), el("td", {}, p.instrument), el("td", {}, p.qty), el("td", { "data-testid": "position-avg-price" }, p.avg_price == null ? "—" : p.avg_price),
    el("td", {}, money(p.pnl.realised)), el("td", {}, money(p.pnl.unrealised)))));
}

// ------------------------------------------------------------------ chart

const net = (p) => (p.realised + p.unrealised - p.fees) / MONEY_SCALE;

async function loadPnl() {
  try {
    const h = (await api("GET", "/api/v1/pnl/history")).history;
    if (h.start_ns === null || h.offsets_ns.length === 0) return;
    pnl.start = h.start_ns;
    pnl.max = Math.max(2, h.max_points);
    pnl.t = h.offsets_ns.slice();
    pnl.names = h.series.map((x) => x.name);
    pnl.values = h.series.map((x) => x.values.map((v) => v / MONEY_SCALE));
  } catch (_) { /* shown by refresh */ }
}

// One live point from a poll: the status and strategies of one snapshot.
function record(st, strategies) {
  const row = new Map([["firm", net(st.pnl)]]);
  for (const s of strategies) row.set(s.name, net(s.pnl));
  if (row.size !== pnl.names.length || !pnl.names.every((n) => row.has(n))) { pnl.start = null; return; } // another run
  const off = Math.max(0, st.event_time_ns - pnl.start);
  const last = pnl.t.length ? pnl.t[pnl.t.length - 1] : -1;
  if (off <= last) {
    pnl.names.forEach((n, i) => { pnl.values[i][pnl.values[i].length - 1] = row.get(n); });
    return;
  }
  pnl.t.push(off);
  pnl.names.forEach((n, i) => pnl.values[i].push(row.get(n)));
  if (pnl.t.length > pnl.max) {
    // Keep the run's start, every other point, and the newest.
    const keep = (_, i, a) => i % 2 === 0 || i === a.length - 1;
    pnl.t = pnl.t.filter(keep);
    pnl.values = pnl.values.map((v) => v.filter(keep));
  }
}

// Event time as elapsed time: 0, 950 ms, 42 s, 3 m 20 s, 5 h 02 m, 3 d 4 h.
function span(ns) {
  const ms = ns / 1e6;
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  if (s < 3600) return Math.floor(s / 60) + " m " + String(Math.floor(s % 60)).padStart(2, "0") + " s";
  if (s < 86400) return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " m";
  return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}

function drawChart() {
  const c = $("pnl-chart");
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth || 600, h = c.clientHeight || 220;
  if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const n = pnl.t.length;
  // What is drawn, for tests and curious operators.
  c.dataset.points = String(n);
  c.dataset.startNs = pnl.start === null ? "" : String(pnl.start);
  c.dataset.firstOffsetNs = n ? String(pnl.t[0]) : "";
  c.dataset.lastOffsetNs = n ? String(pnl.t[n - 1]) : "";
  c.dataset.firmDistinct = n ? String(new Set(pnl.values[0]).size) : "0";
  if (n === 0) {
    g.fillStyle = "#8a96a3"; g.font = "12px system-ui";
    g.fillText("waiting for the run's first event", 12, h / 2);
    $("pnl-legend").replaceChildren();
    return;
  }
  let lo = Infinity, hi = -Infinity;
  for (const v of pnl.values) for (const x of v) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = { l: 56, r: 8, t: 8, b: 18 };
  const t0 = 0, t1 = Math.max(pnl.t[n - 1], 1);
  const x = (t) => pad.l + (w - pad.l - pad.r) * (t - t0) / (t1 - t0);
  const y = (v) => pad.t + (h - pad.t - pad.b) * (1 - (v - lo) / (hi - lo));
  g.strokeStyle = "#2a3440"; g.fillStyle = "#8a96a3"; g.font = "11px system-ui"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = lo + (hi - lo) * i / 4;
    g.beginPath(); g.moveTo(pad.l, y(v)); g.lineTo(w - pad.r, y(v)); g.stroke();
    g.fillText(v.toFixed(2), 4, y(v) + 4);
  }
  if (lo < 0 && hi > 0) { g.strokeStyle = "#8a96a3"; g.beginPath(); g.moveTo(pad.l, y(0)); g.lineTo(w - pad.r, y(0)); g.stroke(); }
  // The x axis is event time from the run's first event.
  const startText = pnl.start > 946684800e9 ? new Date(pnl.start / 1e6).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "start";
  g.fillText(startText, pad.l, h - 4);
  const endText = "+" + span(pnl.t[n - 1]) + " event time";
  g.fillText(endText, w - pad.r - g.measureText(endText).width, h - 4);
  const legend = [];
  pnl.names.forEach((name, i) => {
    const color = name === "firm" ? "#ffffff" : COLORS[(i - 1) % COLORS.length];
    g.strokeStyle = color; g.lineWidth = name === "firm" ? 2 : 1.25;
    g.beginPath();
    const v = pnl.values[i];
    g.moveTo(x(pnl.t[0]), y(v[0]));
    // A single point still shows as a (flat) line to the right edge.
    for (let k = 1; k < n; k++) g.lineTo(x(pnl.t[k]), y(v[k]));
    if (n === 1) g.lineTo(w - pad.r, y(v[0]));
    g.stroke();
    legend.push(el("span", { style: "color:" + color }, "■ " + name + " " + v[n - 1].toFixed(2)));
  });
  $("pnl-legend").replaceChildren(...legend);
}

// ------------------------------------------------------------------ log

function addLog(kind, text) {
  const key = kind + "\u0000" + text;
  const when = new Date().toLocaleTimeString();
  const i = logEntries.findIndex((e) => e.key === key);
  if (i >= 0) {
    const e = logEntries[i];
    e.count += 1;
    e.when = when;
    if (i > 0) { logEntries.splice(i, 1); logEntries.unshift(e); }
  } else {
    logEntries.unshift({ key, kind, text, count: 1, when, first: when });
    if (logEntries.length > LOG_MAX) logEntries.length = LOG_MAX;
  }
  // A flood of events re-renders the log at most every 100 ms.
  if (!logRenderQueued) {
    logRenderQueued = true;
    setTimeout(renderLog, 100);
  }
}

function renderLog() {
  logRenderQueued = false;
  $("log").replaceChildren(...logEntries.map((e) => {
    const line = el("div", { class: "k-" + e.kind, "data-testid": "log-" + e.kind, "data-count": String(e.count) },
      e.when + "  " + e.kind.toUpperCase() + "  " + e.text);
    if (e.count > 1) {
      line.append(" ", el("span", { class: "count", "data-testid": "log-count", title: "first at " + e.first + ", last at " + e.when }, "×" + e.count.toLocaleString()));
    }
    return line;
  }));
}

// ------------------------------------------------------------------ alerts

const ALERTS_MAX = 100;
const alertSeqs = new Set();

function alertText(a) {
  return a.strategy + " " + a.rule + " → " + a.action + (a.instrument ? " " + a.instrument : "") + ": " + a.text;
}

// Newest first; an alert already shown (same journal seq) is not repeated.
function addAlert(a) {
  if (alertSeqs.has(a.seq)) return;
  alertSeqs.add(a.seq);
  const box = $("alerts");
  if (alertSeqs.size === 1) box.replaceChildren();
  box.prepend(el("div", { "data-testid": "alert", title: "journal seq " + a.seq + ", event time " + a.ts_ns + " ns" }, alertText(a)));
  while (box.children.length > ALERTS_MAX) box.lastChild.remove();
}

async function loadAlerts() {
  try {
    const r = await api("GET", "/api/v1/alerts?limit=" + ALERTS_MAX);
    for (const a of r.alerts.slice().reverse()) addAlert(a);
  } catch (_) { /* shown by refresh */ }
}

// ------------------------------------------------------------------ chain intents

const CHAIN_MAX = 200;

// The newest intents (one row each, newest first), replaced at each refresh.
async function loadChain() {
  let r;
  try {
    r = await api("GET", "/api/v1/chain/intents?limit=" + CHAIN_MAX);
  } catch (_) { return; /* shown by refresh */ }
  if (r.intents.length === 0) return;
  $("chain-body").replaceChildren(...r.intents.map((i) => el("tr", { "data-testid": "chain-intent", "data-strategy": i.strategy, "data-outcome": i.outcome },
    el("td", {}, i.strategy),
    el("td", {}, String(i.intent)),
    el("td", { class: "o-" + i.outcome }, i.outcome),
    el("td", { title: "code " + i.reason_code }, i.reason),
    el("td", {}, i.step),
    el("td", { title: i.tx_hash || "" }, i.tx_hash ? i.tx_hash.slice(0, 12) + "…" : ""),
    el("td", { title: "journal seq " + i.first_seq + "–" + i.last_seq }, i.text))));
}

async function loadLog() {
  loadAlerts();
  try {
    const [f, d] = await Promise.all([api("GET", "/api/v1/faults?limit=50"), api("GET", "/api/v1/decisions?kind=reject&limit=50")]);
    const items = [];
    for (const x of f.faults) items.push(["fault", x.seq, x.strategy + ": " + x.kind + " — " + x.message]);
    for (const x of d.decisions) items.push(["reject", x.seq, x.strategy + " " + (x.instrument || "") + ": " + (x.message || x.reason + " " + x.detail)]);
    items.sort((a, b) => a[1] - b[1]);
    for (const [k, , t] of items) addLog(k, t);
  } catch (_) { /* shown by refresh */ }
}

function describe(ev) {
  switch (ev.type) {
    case "fill": return ev.strategy + " " + ev.side + " " + ev.qty + " " + ev.instrument + " @ " + ev.price;
    case "reject": return ev.strategy + " " + (ev.instrument || "") + ": " + (ev.message || ev.reason);
    case "fault": return ev.strategy + ": " + ev.kind + " — " + ev.message;
    case "alert": return "alert " + alertText(ev);
    case "state_change": return (ev.scope === "global" ? "firm" : (ev.name || ev.symbol)) + " → " + ev.state + " (" + ev.cause + ")";
    case "command": return ev.actor.name + ": " + ev.command + " → " + (ev.ok ? "ok" : "refused") + ": " + ev.message;
    default: return JSON.stringify(ev);
  }
}

// ------------------------------------------------------------------ stream

async function startStream() {
  let backoff = 500;
  while (token) {
    const ctl = new AbortController();
    streamAbort = ctl;
    try {
      const r = await fetch("/api/v1/stream", { headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" }, signal: ctl.signal, cache: "no-store" });
      if (r.status === 401) { logout("Your token was refused by the stream."); return; }
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      $("stream-status").textContent = "live";
      backoff = 500;
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          let event = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          onEvent(event, data);
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    $("stream-status").textContent = "reconnecting";
    await new Promise((res) => setTimeout(res, backoff));
    backoff = Math.min(backoff * 2, 10000);
  }
}

function onEvent(event, data) {
  if (event === "hello" || !data) return;
  let ev;
  try { ev = JSON.parse(data); } catch (_) { return; }
  if (event === "lagged") { addLog("lagged", "stream dropped " + ev.dropped + " events"); return; }
  if (event === "fill") { queueRefresh(); return; } // fills are frequent: no log line each
  if (event === "alert") { addAlert(ev); return; }
  addLog(ev.type || event, describe(ev));
  if (event === "state_change" || event === "command" || event === "fault") queueRefresh();
}

// ------------------------------------------------------------------ actions

async function guarded(question, path, body) {
  if (!window.confirm(question)) return;
  $("action-status").textContent = "";
  try {
    const r = await api("POST", path, body);
    $("action-status").textContent = "";
    // With the stream live, the server's `command` event logs it.
    if ($("stream-status").textContent !== "live") addLog("command", r.command + " " + JSON.stringify(r.target) + ": " + r.message);
  } catch (e) {
    if (e.message !== "unauthorized") $("action-status").textContent = "refused: " + e.message;
  }
  queueRefresh();
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = $("token").value.trim();
  if (t) login(t);
});
$("logout").addEventListener("click", () => logout(""));
$("kill-all").addEventListener("click", () => guarded("KILL ALL: halt every strategy and instrument and cancel every open order?", "/api/v1/halt", { scope: "global" }));
$("resume-all").addEventListener("click", () => guarded("Resume firm-wide trading? (Halted strategies stay halted.)", "/api/v1/resume", { scope: "global" }));
window.addEventListener("resize", drawChart);
if (token) login(token);
