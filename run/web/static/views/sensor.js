// One sensor: a chart of its readings over a chosen range (downsampled to ≤ 500 points), auto-refresh, CSV, a
// dashed forecast, and (numeric sensors) its alert rules and alerts.

import { enc, get, request } from "../api.js";
import { attempt, breadcrumbs, clear, download, field, formatTime, h, pageHeader } from "../dom.js";
import { drawChart, formatValue, parseTime } from "../chart.js";
import { rulesPanel } from "./rules_panel.js";

export const RANGES = [
  { value: "15m", label: "Last 15 minutes", ms: 15 * 60e3 },
  { value: "1h", label: "Last hour", ms: 3600e3 },
  { value: "24h", label: "Last 24 hours", ms: 86400e3 },
  { value: "7d", label: "Last 7 days", ms: 7 * 86400e3 },
];
const MAX_POINTS = 500;
const REFRESH_MS = 5000;
const CSV_PAGE = 5000;
const CSV_MAX_PAGES = 40; // at most 200,000 rows in one file
const INTERVALS = [[1, "s"], [2, "s"], [5, "s"], [10, "s"], [15, "s"], [30, "s"], [1, "m"], [2, "m"], [5, "m"],
  [10, "m"], [15, "m"], [30, "m"], [1, "h"], [2, "h"], [3, "h"], [6, "h"], [12, "h"], [1, "d"]];
const UNIT_MS = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };

// The smallest bucket that keeps a range within MAX_POINTS points: [interval text, ms].
export function pickInterval(rangeMs) {
  for (const [n, unit] of INTERVALS) {
    if (rangeMs / (n * UNIT_MS[unit]) <= MAX_POINTS) return [`${n}${unit}`, n * UNIT_MS[unit]];
  }
  return ["1d", UNIT_MS.d];
}

export async function renderSensor(main, deviceId, sensorId) {
  const [device, sensor] = await Promise.all([get(`/api/devices/${enc(deviceId)}`),
    get(`/api/devices/${enc(deviceId)}/sensors/${enc(sensorId)}`)]);
  document.title = `${sensor.name} · IoT console`;
  const numeric = sensor.type === "double" || sensor.type === "long";
  const unit = sensor.mapping?.unit || "";
  const dataPath = `/api/sensors/${enc(sensorId)}/data`;

  const rangeSelect = field({ label: "Range", name: "range", id: "range",
    options: RANGES.map((r) => ({ ...r, selected: r.value === "1h" })) });
  const aggSelect = numeric ? field({ label: "Per interval", name: "agg", id: "agg",
    options: [{ value: "avg", label: "Average" }, { value: "min", label: "Minimum" },
      { value: "max", label: "Maximum" }, { value: "count", label: "Count" }] }) : null;
  const autoBox = h("input", { type: "checkbox", id: "auto-refresh" });
  const forecastBox = numeric ? h("input", { type: "checkbox", id: "show-forecast" }) : null;
  const status = h("p", { class: "muted", id: "chart-status", "aria-live": "polite" });
  const chartSlot = h("div", { id: "chart", class: "chart-slot" });
  const errors = h("div");
  const refreshButton = h("button", { type: "button", class: "secondary", id: "chart-refresh", onClick: () => load() },
    "Refresh");
  const csvButton = h("button", { type: "button", class: "secondary", id: "csv-download", onClick: downloadCsv },
    "Download CSV");
  let loading = false;

  function range() {
    const preset = RANGES.find((r) => r.value === rangeSelect.querySelector("select").value) || RANGES[1];
    const to = Date.now();
    return { from: to - preset.ms, to, preset };
  }

  async function load() {
    if (loading) return;
    loading = true;
    try {
      await attempt(errors, async () => {
        const { from, to, preset } = range();
        const query = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
        if (numeric) await drawNumeric(query, from, to);
        else if (sensor.type === "boolean") await drawBoolean(query, from, to);
        else await drawKeywords(query, preset);
      }, refreshButton);
    } finally {
      loading = false;
    }
  }

  async function drawNumeric(query, from, to) {
    const [interval, intervalMs] = pickInterval(to - from);
    const agg = aggSelect.querySelector("select").value;
    const reply = await get(dataPath, { ...query, interval, agg, order: "asc", limit: 1000 });
    const points = reply.points.map((p) => ({ t: parseTime(p.timestamp), v: Number(p.value) }))
      .filter((p) => Number.isFinite(p.v));
    const predicted = forecastBox.checked && agg !== "count" ? await loadForecast(interval, intervalMs, to - from) : null;
    const about = predicted ? `; forecast: ${predicted.method.replace("_", "-")}` +
      (predicted.fit_error.rmse === null ? "" : `, error ±${formatValue(predicted.fit_error.rmse)}`) : "";
    show(points, `${points.length} points, one per ${interval} (${agg})${about}`, () =>
      drawChart(points, { from, to, gap: Math.max(3 * intervalMs, (to - from) / 20), unit: agg === "count" ? "" : unit,
        title: `${sensor.name}, ${agg} per ${interval}`,
        forecast: predicted ? predicted.points.map((p) => ({ t: parseTime(p.timestamp), v: p.value })) : [] }));
  }

  // A fifth of the range ahead, fitted on the whole range; a history too short to forecast only says so.
  async function loadForecast(interval, intervalMs, rangeMs) {
    const steps = Math.max(1, Math.min(1000, Math.round(rangeMs / 5 / intervalMs)));
    const unitOf = interval.replace(/^\d+/, "");
    const horizon = `${steps * Number(interval.replace(/\D+$/, ""))}${unitOf}`;
    try {
      return await get(`/api/sensors/${enc(sensorId)}/forecast`,
        { horizon, interval, history: `${Math.round(rangeMs / 1000)}s` });
    } catch (error) {
      if (error.code === "cannot_forecast") return null;
      throw error;
    }
  }

  async function drawBoolean(query, from, to) {
    const reply = await get(dataPath, { ...query, order: "desc", limit: MAX_POINTS });
    const points = reply.points.reverse().map((p) => ({ t: parseTime(p.timestamp), v: p.value ? 1 : 0,
      label: String(p.value) }));
    const more = reply.next_cursor ? ` (the latest ${MAX_POINTS})` : "";
    show(points, `${points.length} readings${more}`, () =>
      drawChart(points, { from: points.length && reply.next_cursor ? points[0].t : from, to, step: true,
        yLabels: { 0: "false", 1: "true" }, title: `${sensor.name} over time` }));
  }

  async function drawKeywords(query, preset) {
    const reply = await get(dataPath, { ...query, order: "desc", limit: 50 });
    clear(chartSlot);
    status.textContent = `The latest ${reply.points.length} values (${preset.label.toLowerCase()})`;
    if (!reply.points.length) {
      chartSlot.append(h("p", { class: "empty" }, "No readings in this range."));
      return;
    }
    chartSlot.append(h("table", { class: "list", id: "latest-values" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Value"))),
      h("tbody", {}, reply.points.map((p) => h("tr", {},
        h("td", { class: "nowrap" }, formatTime(p.timestamp.replace(/(\.\d{3})\d+/, "$1"))),
        h("td", {}, String(p.value)))))));
  }

  function show(points, summary, draw) {
    clear(chartSlot);
    if (!points.length) {
      status.textContent = "";
      chartSlot.append(h("p", { class: "empty" }, "No readings in this range."));
      return;
    }
    const last = points[points.length - 1];
    status.textContent = `${summary}; latest ${last.label ?? formatValue(last.v)}${unit ? " " + unit : ""} at ` +
      new Date(last.t).toLocaleString();
    chartSlot.append(draw());
  }

  // The range as CSV, oldest first, following X-Next-Cursor page by page (header kept once). The pages are saved
  // as the API wrote them: it already keeps keyword text from running as a spreadsheet formula.
  async function downloadCsv(event) {
    const { from, to } = range();
    await attempt(errors, async () => {
      const parts = [];
      let cursor = null;
      for (let page = 0; page < CSV_MAX_PAGES; page++) {
        const response = await request("GET", dataPath, { query: { from: new Date(from).toISOString(),
          to: new Date(to).toISOString(), order: "asc", limit: CSV_PAGE, format: "csv", cursor } });
        const text = await response.text();
        parts.push(page === 0 ? text : text.slice(text.indexOf("\n") + 1));
        cursor = response.headers.get("X-Next-Cursor");
        if (!cursor) break;
      }
      download(`sensor-${sensorId}.csv`, new Blob(parts, { type: "text/csv" }));
    }, event.currentTarget);
  }

  let timer = null;
  autoBox.addEventListener("change", () => {
    clearInterval(timer);
    timer = autoBox.checked ? setInterval(load, REFRESH_MS) : null;
  });
  rangeSelect.addEventListener("change", () => load());
  aggSelect?.addEventListener("change", () => load());
  forecastBox?.addEventListener("change", () => load());
  const rules = numeric ? rulesPanel(sensorId) : null;

  main.append(
    breadcrumbs(["Devices", "#/devices"], [device.name, `#/devices/${enc(deviceId)}`], [sensor.name]),
    pageHeader(sensor.name, h("span", { class: "badge" }, sensor.type),
      unit ? h("span", { class: "unit" }, unit) : null),
    sensor.description ? h("p", { class: "description" }, sensor.description) : "",
    h("p", { class: "muted" }, "Sensor id ", h("code", { id: "sensor-id" }, sensor.id)),
    h("section", { class: "card", "aria-labelledby": "chart-title" },
      h("h2", { id: "chart-title", class: "sr-only" }, "Readings"),
      h("div", { class: "toolbar" }, rangeSelect, aggSelect,
        h("div", { class: "field checkbox" }, autoBox, h("label", { for: "auto-refresh" }, "Refresh every 5 s")),
        forecastBox ? h("div", { class: "field checkbox" }, forecastBox,
          h("label", { for: "show-forecast" }, "Forecast")) : null,
        h("div", { class: "actions" }, refreshButton, csvButton)),
      errors, status, chartSlot),
    rules ? rules.element : "");
  await load();
  if (rules) await rules.refresh();
  return () => clearInterval(timer);
}
