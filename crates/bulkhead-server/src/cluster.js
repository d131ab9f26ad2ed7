// Bulkhead cluster view: nodes, their strategies and health, stream and
// consumer lag, and the kill switch that reaches every node. Data comes from
// /api/v1/cluster/* with the token in sessionStorage; everything shown is
// inserted as text (never as HTML).
"use strict";
const TOKEN_KEY = "bulkhead_cluster_token";
let token = sessionStorage.getItem(TOKEN_KEY);
let role = null;
let timer = null;
const $ = (id) => document.getElementById(id);

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  let data = null;
  try { data = await r.json(); } catch (_) { /* not JSON */ }
  if (r.status === 401) { logout("Your token was refused"); throw new Error("unauthorized"); }
  if (!r.ok) throw new Error(data && data.error ? data.error + (data.field ? " (" + data.field + ")" : "") : "HTTP " + r.status);
  return data;
}

async function login(t) {
  token = t;
  try {
    const me = await api("GET", "/api/v1/whoami");
    role = me.role;
    sessionStorage.setItem(TOKEN_KEY, t);
    $("whoami").textContent = me.name + " (" + me.role + ")";
    $("kill-all").disabled = !(role === "operator" || role === "admin");
    $("login").classList.add("hidden");
    $("app").classList.remove("hidden");
    await refresh();
    timer = setInterval(refresh, 1000);
  } catch (e) {
    if (e.message !== "unauthorized") logout("Sign-in failed: " + e.message);
  }
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  if (timer) clearInterval(timer);
  timer = null;
  $("app").classList.add("hidden");
  $("login").classList.remove("hidden");
  $("login-error").textContent = message || "";
}

function renderNodes(data) {
  const nodes = $("nodes"), strategies = $("strategies");
  nodes.replaceChildren();
  strategies.replaceChildren();
  let up = 0;
  for (const n of data.nodes) {
    const s = n.status;
    const tr = document.createElement("tr");
    tr.dataset.testid = "node-" + n.node;
    cell(tr, n.node);
    const health = n.stale ? "stale" : s.ready ? "ready" : (s.not_ready || "not ready");
    cell(tr, health, n.stale ? "stale" : s.ready ? "ok" : "bad");
    cell(tr, s.global_state, "state-" + s.global_state);
    cell(tr, (n.age_ms / 1000).toFixed(1) + " s");
    cell(tr, s.events);
    cell(tr, s.journal_records);
    cell(tr, n.mirror_lag);
    cell(tr, s.kills_applied);
    cell(tr, s.last_kill || "", "text");
    nodes.appendChild(tr);
    if (!n.stale && s.phase === "running") up++;
    for (const st of s.strategies) {
      const r = document.createElement("tr");
      r.dataset.testid = "strategy-" + n.node + "-" + st.name;
      cell(r, n.node);
      cell(r, st.name);
      const state = s.global_state === "halted" ? "halted" : st.state;
      cell(r, state, "state-" + state);
      cell(r, st.orders);
      cell(r, st.accepted);
      cell(r, st.fills);
      cell(r, st.rejects);
      strategies.appendChild(r);
    }
  }
  $("summary").textContent = data.nodes.length + " nodes, " + up + " up" + (data.status_malformed ? ", " + data.status_malformed + " malformed statuses dropped" : "");
}

function renderStreams(data) {
  const body = $("streams");
  body.replaceChildren();
  for (const s of data.streams) {
    const rows = s.consumers.length ? s.consumers : [null];
    for (const c of rows) {
      const tr = document.createElement("tr");
      cell(tr, s.name);
      cell(tr, s.kind);
      cell(tr, s.messages);
      cell(tr, s.replicas);
      cell(tr, c ? c.name : "—");
      cell(tr, c ? c.num_pending : "");
      cell(tr, c ? c.num_ack_pending : "");
      body.appendChild(tr);
    }
  }
}

async function refresh() {
  if (!token) return;
  try {
    const [nodes, streams] = await Promise.all([api("GET", "/api/v1/cluster/nodes"), api("GET", "/api/v1/cluster/streams")]);
    renderNodes(nodes);
    renderStreams(streams);
  } catch (e) {
    if (e.message !== "unauthorized") $("message").textContent = e.message;
  }
}

$("kill-all").addEventListener("click", async () => {
  const reason = $("reason").value.trim() || "kill switch (cluster dashboard)";
  if (!confirm("Halt every strategy of every node?")) return;
  try {
    const r = await api("POST", "/api/v1/cluster/kill", { scope: "all", reason });
    $("message").textContent = "kill order published (control stream sequence " + r.seq + ")";
  } catch (e) {
    $("message").textContent = "kill refused: " + e.message;
  }
  refresh();
});
$("logout").addEventListener("click", () => logout(""));
$("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("token").value.trim()); });
if (token) login(token);
