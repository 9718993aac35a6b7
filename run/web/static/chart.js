// A small SVG time-series chart: line or step, time and value axes, hover/keyboard tooltip. No dependencies.

import { h, svg } from "./dom.js";

const WIDTH = 800;
const HEIGHT = 300;
const MARGIN = { top: 16, right: 20, bottom: 36, left: 64 };
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TIME_STEPS = [SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND, MINUTE, 2 * MINUTE,
  5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY,
  7 * DAY, 14 * DAY, 30 * DAY];

// "2026-01-01T00:00:00.123456789Z" → epoch ms (browsers parse at most millisecond fractions reliably).
export function parseTime(iso) {
  return Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1"));
}

// Ticks for a time range: local-time aligned steps giving about ``count`` ticks.
export function timeTicks(from, to, count = 6) {
  const step = TIME_STEPS.find((s) => (to - from) / s <= count) || TIME_STEPS[TIME_STEPS.length - 1];
  const offset = new Date(from).getTimezoneOffset() * MINUTE;
  const ticks = [];
  for (let t = Math.ceil((from - offset) / step) * step + offset; t <= to; t += step) ticks.push(t);
  return { ticks, step };
}

// "Nice" value ticks (1, 2, 5 × 10^k) covering [min, max].
export function valueTicks(min, max, count = 5) {
  if (min === max) {
    const pad = Math.abs(min) / 10 || 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.floor(min / step) * step; v <= max + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function formatTick(t, step) {
  const date = new Date(t);
  if (step >= DAY) return date.toLocaleDateString([], { month: "short", day: "numeric" });
  const time = date.toLocaleTimeString([], step < MINUTE ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
    : { hour: "2-digit", minute: "2-digit" });
  return step >= 6 * HOUR ? `${date.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}` : time;
}

export function formatValue(value) {
  if (typeof value !== "number") return String(value);
  return Math.abs(value) >= 1e6 || (value !== 0 && Math.abs(value) < 1e-3)
    ? value.toExponential(3) : String(Number(value.toPrecision(6)));
}

/**
 * Draw ``points`` ([{t: epoch ms, v: number, label?: string}], oldest first) over [from, to].
 * Options: step (true: a step chart), gap (ms: a longer pause breaks the line), unit, yLabels ({value: text}),
 * title (for screen readers), forecast ([{t, v}] after the points: drawn dashed, widening the time axis to its
 * end). Answers the chart's root element.
 */
export function drawChart(points, { from, to, step = false, gap = Infinity, unit = "", yLabels = null,
  title = "Readings", forecast = [] } = {}) {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  if (forecast.length) to = Math.max(to, forecast[forecast.length - 1].t);
  const values = [...points, ...forecast].map((p) => p.v);
  const yTicks = yLabels ? Object.keys(yLabels).map(Number)
    : valueTicks(Math.min(...values), Math.max(...values));
  const yMin = Math.min(...yTicks);
  const yMax = Math.max(...yTicks);
  const x = (t) => MARGIN.left + ((t - from) / (to - from || 1)) * plotW;
  const y = (v) => MARGIN.top + plotH - ((v - yMin) / (yMax - yMin || 1)) * plotH;

  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart-svg", role: "img", tabindex: "0",
    "aria-label": `${title}: ${points.length} points; use the arrow keys to read them` });
  root.append(svg("title", {}, title));

  const grid = svg("g", { class: "grid" });
  const axes = svg("g", { class: "axis" });
  for (const v of yTicks) {
    grid.append(svg("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(v), y2: y(v) }));
    axes.append(svg("text", { x: MARGIN.left - 8, y: y(v), class: "y-tick", "text-anchor": "end",
      "dominant-baseline": "middle" }, yLabels ? yLabels[v] : formatValue(v)));
  }
  const { ticks, step: tickStep } = timeTicks(from, to);
  for (const t of ticks) {
    grid.append(svg("line", { x1: x(t), x2: x(t), y1: MARGIN.top, y2: MARGIN.top + plotH }));
    axes.append(svg("text", { x: x(t), y: HEIGHT - MARGIN.bottom + 20, class: "x-tick", "text-anchor": "middle" },
      formatTick(t, tickStep)));
  }
  axes.append(svg("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: MARGIN.top + plotH,
    y2: MARGIN.top + plotH, class: "axis-line" }));
  axes.append(svg("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: MARGIN.top + plotH,
    class: "axis-line" }));
  if (unit) {
    axes.append(svg("text", { x: 8, y: MARGIN.top, class: "unit-label", "dominant-baseline": "hanging" }, unit));
  }
  root.append(grid, axes);

  let d = "";
  points.forEach((p, i) => {
    const px = x(p.t).toFixed(1);
    const py = y(p.v).toFixed(1);
    if (i === 0 || p.t - points[i - 1].t > gap) d += `M${px},${py}`;
    else d += step ? `H${px}V${py}` : `L${px},${py}`;
  });
  if (step && points.length) d += `H${x(Math.min(to, Date.now())).toFixed(1)}`;
  root.append(svg("path", { d, class: step ? "series step" : "series" }));
  if (forecast.length) {
    // The continuation starts at the last reading, so the dashed line visibly extends the solid one.
    const joined = points.length ? [points[points.length - 1], ...forecast] : forecast;
    const dashed = joined.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
    root.append(svg("path", { d: dashed, class: "series forecast", "data-points": String(forecast.length) }));
  }

  const dots = svg("g", { class: "points" });
  for (const p of points) {
    dots.append(svg("circle", { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 3, class: "point",
      "data-value": String(p.label ?? p.v) }));
  }
  const cursor = svg("line", { class: "cursor", y1: MARGIN.top, y2: MARGIN.top + plotH, visibility: "hidden" });
  root.append(cursor, dots);

  const tooltip = h("div", { class: "tooltip", role: "status", hidden: true });
  const wrapper = h("div", { class: "chart" }, root, tooltip);
  let active = -1;

  function highlight(index) {
    if (index < 0 || index >= points.length) return;
    active = index;
    const p = points[index];
    dots.querySelector(".active")?.classList.remove("active");
    dots.children[index].classList.add("active");
    cursor.setAttribute("x1", x(p.t));
    cursor.setAttribute("x2", x(p.t));
    cursor.setAttribute("visibility", "visible");
    tooltip.replaceChildren(h("strong", {}, `${p.label ?? formatValue(p.v)}${unit ? " " + unit : ""}`),
      h("br"), new Date(p.t).toLocaleString());
    tooltip.hidden = false;
    const box = root.getBoundingClientRect();
    const left = (x(p.t) / WIDTH) * box.width;
    tooltip.style.left = `${Math.min(Math.max(left, 60), box.width - 60)}px`;
    tooltip.style.top = `${(y(p.v) / HEIGHT) * box.height}px`;
  }

  function hide() {
    active = -1;
    cursor.setAttribute("visibility", "hidden");
    dots.querySelector(".active")?.classList.remove("active");
    tooltip.hidden = true;
  }

  root.addEventListener("mousemove", (event) => {
    if (!points.length) return;
    const box = root.getBoundingClientRect();
    const t = from + (((event.clientX - box.left) / box.width) * WIDTH - MARGIN.left) / plotW * (to - from);
    let best = 0;
    points.forEach((p, i) => { if (Math.abs(p.t - t) < Math.abs(points[best].t - t)) best = i; });
    highlight(best);
  });
  root.addEventListener("mouseleave", hide);
  root.addEventListener("blur", hide);
  root.addEventListener("keydown", (event) => {
    if (!points.length) return;
    const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -Infinity, End: Infinity };
    if (event.key === "Escape") return hide();
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = active < 0 ? points.length - 1 : active + moves[event.key];
    highlight(Math.max(0, Math.min(points.length - 1, next)));
  });
  return wrapper;
}
