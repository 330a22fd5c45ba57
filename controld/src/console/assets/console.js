// Lattice console: live updates over Server-Sent Events, copy buttons, the
// log tail. Loaded as a file (the Content-Security-Policy allows no inline
// script); every page works without it, only less live.
"use strict";

function setLive(text, ok) {
  const el = document.getElementById("live");
  if (!el) return;
  el.textContent = text;
  el.className = "live " + (ok ? "up" : "down");
}

function badge(status) {
  const span = document.createElement("span");
  const cls = status === "running" ? "ok"
    : ["failed", "crash-looping", "lost"].includes(status) ? "bad"
    : ["stopped", "deleted"].includes(status) ? "off" : "busy";
  span.className = "status " + cls;
  span.dataset.status = status;
  span.textContent = status;
  return span;
}

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}

function upsertRow(table, ev) {
  const body = table.tBodies[0];
  let row = body.querySelector(`tr[data-name="${CSS.escape(ev.name)}"]`);
  if (ev.kind === "deleted") {
    if (row) row.remove();
    return;
  }
  if (!row) {
    row = document.createElement("tr");
    row.dataset.name = ev.name;
    const name = document.createElement("td");
    const a = document.createElement("a");
    a.href = "/w/" + encodeURIComponent(ev.name);
    a.textContent = ev.name;
    name.appendChild(a);
    row.append(name, cell(ev.workload_kind), cell("", "status-cell"), cell("", "node"),
      cell("", "endpoint"), cell("just now"), cell(""));
    const open = document.createElement("a");
    open.href = a.href;
    open.textContent = "Open";
    row.lastChild.appendChild(open);
    body.appendChild(row);
    table.hidden = false;
    const empty = document.querySelector(".empty");
    if (empty) empty.remove();
  }
  const st = row.querySelector(".status-cell");
  st.replaceChildren(badge(ev.status));
  row.querySelector(".node").textContent = ev.node;
  const ep = document.createElement("code");
  ep.textContent = ev.endpoint;
  row.querySelector(".endpoint").replaceChildren(ep);
}

function watch() {
  const table = document.getElementById("workloads");
  const one = document.getElementById("wl-status");
  if (!table && !one) return;
  const src = new EventSource("/events");
  src.onopen = () => setLive("Live: updates appear as they happen", true);
  src.onerror = () => setLive("Connection to the server lost; reconnecting…", false);
  src.addEventListener("workload", (m) => {
    const ev = JSON.parse(m.data);
    if (table) upsertRow(table, ev);
    if (one && one.dataset.name === ev.name) {
      const msg = document.createElement("span");
      msg.className = "message";
      msg.textContent = " " + ev.message;
      one.replaceChildren(badge(ev.status), msg);
    }
  });
}

function logs() {
  const pre = document.getElementById("logs");
  if (!pre) return;
  let paused = false;
  const pause = document.getElementById("logs-pause");
  const latest = document.getElementById("logs-latest");
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
  });
  latest.addEventListener("click", () => { pre.scrollTop = pre.scrollHeight; });
  const src = new EventSource("/w/" + encodeURIComponent(pre.dataset.name) + "/logs");
  src.addEventListener("line", (m) => {
    pre.append(m.data + "\n");
    while (pre.childNodes.length > 2000) pre.removeChild(pre.firstChild);
    if (!paused) pre.scrollTop = pre.scrollHeight;
  });
}

function copies() {
  document.querySelectorAll("button.copy").forEach((b) => {
    b.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(b.dataset.copy);
        b.textContent = "Copied";
      } catch (e) {
        b.textContent = "Select and copy";
      }
      setTimeout(() => { b.textContent = "Copy"; }, 2000);
    });
  });
}

// After a join token is made: notice the machine joining.
function awaitNode() {
  const card = document.getElementById("add-node");
  const note = document.getElementById("node-arrived");
  if (!card || !note) return;
  const before = Number(card.dataset.nodes || 0);
  const timer = setInterval(async () => {
    try {
      const r = await fetch("/nodes/count", { credentials: "same-origin" });
      if (!r.ok) return;
      const n = await r.json();
      if (n.count > before) {
        clearInterval(timer);
        note.textContent = "Machine " + n.names[n.names.length - 1] + " joined. You can deploy now.";
        const a = document.createElement("a");
        a.href = "/deploy";
        a.textContent = " Deploy a workload";
        note.appendChild(a);
      }
    } catch (e) { /* the server is restarting: try again */ }
  }, 2000);
}

document.addEventListener("DOMContentLoaded", () => { watch(); logs(); copies(); awaitNode(); });
