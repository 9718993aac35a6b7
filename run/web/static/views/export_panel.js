// A device's export: every sensor's readings in a range, as CSV or NDJSON, with its size first and progress while
// it downloads (GET /api/exports/devices/{id}; the API streams it a page at a time).

import { enc, get, request } from "../api.js";
import { attempt, download, field, h } from "../dom.js";

const RANGES = [
  { value: "1", label: "Last day" },
  { value: "7", label: "Last 7 days" },
  { value: "30", label: "Last 30 days", selected: true },
  { value: "365", label: "Last year" },
  { value: "all", label: "Everything" },
];
const DAY_MS = 86400000;

export function exportPanel(deviceId) {
  const path = `/api/exports/devices/${enc(deviceId)}`;
  const rangeField = field({ label: "Range", name: "export-range", id: "export-range", options: RANGES });
  const formatField = field({ label: "Format", name: "export-format", id: "export-format",
    options: [{ value: "csv", label: "CSV" }, { value: "ndjson", label: "NDJSON (one JSON object per line)" }] });
  const status = h("p", { class: "muted", id: "export-status", "aria-live": "polite" });
  const progress = h("progress", { id: "export-progress", max: 1, value: 0, hidden: true });
  const errors = h("div");
  const button = h("button", { type: "button", class: "secondary", id: "export-download", onClick: run },
    "Export readings");

  function query() {
    const days = rangeField.querySelector("select").value;
    const format = formatField.querySelector("select").value;
    return days === "all" ? { format } : { format, from: new Date(Date.now() - Number(days) * DAY_MS).toISOString() };
  }

  async function run() {
    await attempt(errors, async () => {
      const q = query();
      const estimate = await get(path, { ...q, estimate: 1 });
      status.textContent = `${estimate.readings.toLocaleString()} readings of ${estimate.sensors} sensors, ` +
        `about ${megabytes(estimate.approximate_bytes)}`;
      const response = await request("GET", path, { query: q });
      const reader = response.body.getReader();
      const parts = [];
      let received = 0;
      progress.hidden = false;
      progress.max = Math.max(estimate.approximate_bytes, 1);
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        received += value.length;
        progress.value = Math.min(received, progress.max);
        status.textContent = `Downloading: ${megabytes(received)} of about ${megabytes(estimate.approximate_bytes)}`;
      }
      progress.hidden = true;
      status.textContent = `Exported ${estimate.readings.toLocaleString()} readings (${megabytes(received)})`;
      const type = q.format === "csv" ? "text/csv" : "application/x-ndjson";
      download(`device-${deviceId}.${q.format}`, new Blob(parts, { type }));
    }, button);
  }

  const element = h("section", { class: "card", id: "export-panel", "aria-labelledby": "export-title" },
    h("h2", { id: "export-title" }, "Export readings"),
    h("p", { class: "muted" }, "Every sensor's readings in the range, oldest first."),
    h("div", { class: "row" }, rangeField, formatField),
    errors, status, progress,
    h("div", { class: "actions" }, button));
  return { element };
}

function megabytes(bytes) {
  return bytes < 1048576 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}
