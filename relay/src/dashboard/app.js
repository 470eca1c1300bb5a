// gemini-relay's dashboard: reads /admin/quotas and /admin/stats with the admin token every few
// seconds and draws them. No library: the chart is SVG built here.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2f81f7", "#cf222e", "#bf8700", "#1a7f37", "#8250df", "#e16f24", "#0969da", "#57606a"];
const REFRESH_MS = 2000;
window.__dashboardErrors = [];
window.addEventListener("error", (e) => window.__dashboardErrors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.__dashboardErrors.push(String(e.reason)));

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function rows(tbody, list, cells) {
  tbody.replaceChildren(...list.map((item) => {
    const tr = el("tr");
    for (const [value, numeric] of cells(item)) tr.append(el("td", numeric ? { class: "n" } : {}, value));
    return tr;
  }));
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 90) return `${Math.ceil(seconds)} s`;
  if (seconds < 5400) return `${Math.ceil(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

async function get(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${sessionStorage.getItem("relay-admin-token")}` } });
  if (response.status === 401) throw new Error("the admin token was refused");
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function drawQuotas(data) {
  const box = document.getElementById("quotas");
  const lines = [];
  for (const project of data.projects) {
    for (const model of project.models) {
      for (const limit of model.limits) {
        const share = limit.value > 0 ? Math.min(1, limit.used / limit.value) : 0;
        const line = el("div", { class: "quota", "data-project": project.name, "data-model": model.model, "data-metric": limit.metric });
        line.append(el("span", {}, `${project.name} · ${model.model} · ${limit.metric.replaceAll("_", " ")}`));
        const track = el("div", { class: "track" });
        const fill = el("div", { class: share >= 1 ? "fill full" : "fill" });
        fill.style.width = `${(share * 100).toFixed(1)}%`;
        track.append(fill);
        line.append(track);
        const resets = model.refused_for_s ? `refused for ${duration(model.refused_for_s)}`
          : limit.metric === "requests_per_day" ? `resets in ${duration(model.day_resets_in_s)}`
          : `window ${duration(limit.window_s)}`;
        line.append(el("span", { class: "used" }, `${limit.used} / ${limit.value} (${limit.source}), ${resets}`));
        lines.push(line);
      }
      if (model.limits.length === 0) {
        const line = el("div", { class: "quota", "data-project": project.name, "data-model": model.model });
        line.append(el("span", {}, `${project.name} · ${model.model}`), el("span", { class: "muted" }, "no limit known yet"),
          el("span", { class: "used" }, `${model.requests_today} today`));
        lines.push(line);
      }
    }
  }
  if (lines.length === 0) lines.push(el("p", { class: "muted" }, "No call yet."));
  box.replaceChildren(...lines);
  const rejected = [];
  for (const project of data.projects) for (const r of project.rejected) rejected.push([project.name, r.key, r.reason]);
  if (rejected.length === 0) rejected.push(["", "none", ""]);
  rows(document.querySelector("#rejected tbody"), rejected, (r) => [[r[0]], [r[1]], [r[2]]]);
}

function drawChart(stats, hours) {
  const box = document.getElementById("chart");
  const kinds = [...new Set(stats.by_hour.map((h) => h.kind))].sort();
  const now = Date.now();
  const first = Math.floor((now - hours * 3600000) / 3600000) * 3600000;
  const slots = [];
  for (let t = first; t <= now; t += 3600000) slots.push(t);
  const width = 900, height = 180, left = 36, bottom = 22;
  const totals = slots.map((t) => stats.by_hour.filter((h) => h.hour_ms === t).reduce((a, h) => a + h.count, 0));
  const top = Math.max(1, ...totals);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": "errors by kind and hour" });
  const band = (width - left) / slots.length;
  chart.append(svg("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, stroke: "#d0d7de" }));
  const label = svg("text", { x: 2, y: 12 });
  label.textContent = String(top);
  chart.append(label);
  const stacked = slots.map(() => 0);
  kinds.forEach((kind, i) => {
    const group = svg("g", { class: "mark", "data-kind": kind, fill: COLORS[i % COLORS.length] });
    slots.forEach((t, s) => {
      const n = stats.by_hour.filter((h) => h.hour_ms === t && h.kind === kind).reduce((a, h) => a + h.count, 0);
      if (n === 0) return;
      const h = (n / top) * (height - bottom - 16);
      stacked[s] += h;
      const rect = svg("rect", { x: left + s * band + 2, y: height - bottom - stacked[s], width: Math.max(1, band - 4), height: h });
      const title = svg("title");
      title.textContent = `${kind}: ${n}`;
      rect.append(title);
      group.append(rect);
    });
    chart.append(group);
  });
  slots.forEach((t, s) => {
    if (slots.length > 12 && s % Math.ceil(slots.length / 12) !== 0) return;
    const text = svg("text", { x: left + s * band + 2, y: height - 6 });
    text.textContent = new Date(t).toISOString().slice(11, 16);
    chart.append(text);
  });
  box.replaceChildren(chart);
  const colorOf = (kind) => COLORS[kinds.indexOf(kind) % COLORS.length];
  const tbody = document.querySelector("#kinds tbody");
  tbody.replaceChildren(...stats.kinds.map((k) => {
    const tr = el("tr", { "data-kind": k.kind });
    const name = el("td");
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = colorOf(k.kind);
    name.append(swatch, document.createTextNode(k.kind));
    tr.append(name, el("td", { class: "n" }, k.count), el("td", {}, k.advice));
    return tr;
  }));
}

function drawStats(data) {
  document.getElementById("hours").textContent = String(data.hours);
  const totals = document.getElementById("totals");
  if (!data.stats) {
    totals.textContent = data.note || "The request log is off.";
    return;
  }
  const s = data.stats;
  totals.replaceChildren(
    el("span", { id: "requests", class: "n" }, s.requests), document.createTextNode(" requests, "),
    el("span", { id: "errors", class: "n" }, s.errors), document.createTextNode(" errors; the log wrote "),
    el("span", { id: "written" }, data.log.written), document.createTextNode(" rows and dropped "),
    el("span", { id: "dropped" }, data.log.dropped), document.createTextNode("."));
  drawChart(s, data.hours);
  rows(document.querySelector("#keys tbody"), s.keys, (k) => [[k.relay_key || "(none)"], [k.requests, true], [k.errors, true], [k.prompt_tokens, true], [k.answer_tokens, true]]);
  const fixed = (v) => (v === null || v === undefined ? "-" : v.toFixed(1));
  const latency = [["to the first byte", s.latency.ttfb], ["in all", s.latency.total], ["the relay's own", s.latency.overhead]];
  rows(document.querySelector("#latency tbody"), latency, ([name, p]) => [[name], [fixed(p.p50), true], [fixed(p.p95), true], [fixed(p.p99), true]]);
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const hours = new URLSearchParams(location.search).get("hours") || "6";
    const [quotas, stats] = await Promise.all([get("/admin/quotas"), get(`/admin/stats?hours=${encodeURIComponent(hours)}`)]);
    drawQuotas(quotas);
    drawStats(stats);
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    status.dataset.updates = String(Number(status.dataset.updates || "0") + 1);
  } catch (e) {
    status.textContent = String(e.message || e);
    if (String(e.message).includes("refused")) signOut();
  }
}

// The next refresh is asked for only when the last one is over, so that a slow answer never
// piles requests up.
let timer = null;
async function loop() {
  await refresh();
  if (sessionStorage.getItem("relay-admin-token")) timer = setTimeout(loop, REFRESH_MS);
}

function signIn() {
  document.getElementById("signin").hidden = true;
  document.getElementById("board").hidden = false;
  loop();
}

function signOut() {
  sessionStorage.removeItem("relay-admin-token");
  if (timer) clearTimeout(timer);
  document.getElementById("signin").hidden = false;
  document.getElementById("board").hidden = true;
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signin").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("relay-admin-token", document.getElementById("token").value);
    signIn();
  });
  if (sessionStorage.getItem("relay-admin-token")) signIn();
});
