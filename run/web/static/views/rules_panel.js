// Alert rules of one numeric sensor (threshold, rate of change, no data, forecast) and the alerts they raised, with each
// alert's webhook delivery. A new rule's webhook secret is shown once, right after it is created.

import { del, enc, get, post } from "../api.js";
import { attempt, clear, field, flash, formatTime, h } from "../dom.js";

const KINDS = [
  { value: "threshold", label: "Threshold" },
  { value: "rate", label: "Rate of change" },
  { value: "no_data", label: "No data" },
  { value: "forecast", label: "Forecast (trend)" },
];
// The form fields each kind takes (others are hidden and not sent: the API refuses another kind's fields).
const FIELDS = { threshold: ["operator", "value", "sustained_for"], rate: ["change", "period", "direction"],
  no_data: ["period"], forecast: ["operator", "value", "period"] };

function describe(rule) {
  if (rule.kind === "threshold") {
    const held = rule.sustained_for ? ` for ${rule.sustained_for} s` : "";
    return `${rule.operator} ${rule.value}${held}`;
  }
  if (rule.kind === "forecast") return `trend ${rule.operator} ${rule.value} within ${rule.period} s`;
  if (rule.kind === "rate") return `${rule.direction} by more than ${rule.change} per ${rule.period} s`;
  return `silent for more than ${rule.period} s`;
}

export function rulesPanel(sensorId) {
  const listSlot = h("div", { id: "rule-list" });
  const alertSlot = h("div", { id: "alert-list" });
  const secretSlot = h("div", { id: "rule-secret", "aria-live": "polite" });
  const errors = h("div");

  async function refresh() {
    const [rules, alerts] = await Promise.all([get("/api/rules", { sensor_id: sensorId, limit: 100 }),
      get(`/api/sensors/${enc(sensorId)}/alerts`, { limit: 20 })]);
    clear(listSlot);
    listSlot.append(rules.items.length ? h("table", { class: "list" },
      h("caption", { class: "sr-only" }, "Rules of this sensor"),
      h("thead", {}, h("tr", {}, ["Rule", "Condition", "Webhook", ""].map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, rules.items.map((rule) => h("tr", { dataset: { id: rule.id } },
        h("td", {}, rule.name, rule.enabled ? null : h("span", { class: "badge" }, "disabled")),
        h("td", {}, h("span", { class: "badge" }, rule.kind), " ", describe(rule)),
        h("td", {}, rule.webhook_url ? h("code", {}, rule.webhook_url) : "—"),
        h("td", {}, h("button", { type: "button", class: "secondary small danger", onClick: (event) =>
          attempt(errors, async () => {
            await del(`/api/rules/${enc(rule.id)}`);
            await refresh();
          }, event.currentTarget) }, "Delete"))))))
      : h("p", { class: "empty" }, "No rules on this sensor yet."));
    clear(alertSlot);
    alertSlot.append(alerts.items.length ? h("table", { class: "list" },
      h("caption", { class: "sr-only" }, "Alerts of this sensor, newest first"),
      h("thead", {}, h("tr", {}, ["When", "Rule", "State", "Value", "Why", "Webhook"]
        .map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, alerts.items.map((alert) => h("tr", { dataset: { id: alert.id } },
        h("td", { class: "nowrap" }, formatTime(alert.at.replace(/(\.\d{3})\d+/, "$1"))),
        h("td", {}, alert.rule_name),
        h("td", {}, h("span", { class: `badge alert-${alert.state}` }, alert.state)),
        h("td", {}, alert.value === null ? "—" : String(alert.value)),
        h("td", {}, alert.reason),
        h("td", {}, `${alert.delivery.status} (${alert.delivery.attempts.length})`)))))
      : h("p", { class: "empty" }, "No alerts yet."));
  }

  const kind = field({ label: "Kind", name: "kind", id: "rule-kind", options: KINDS });
  const inputs = {
    operator: field({ label: "When the value is", name: "operator", id: "rule-operator",
      options: [{ value: "above", label: "above" }, { value: "below", label: "below" }] }),
    value: field({ label: "Value", name: "value", id: "rule-value", type: "number", step: "any" }),
    sustained_for: field({ label: "For at least (s)", name: "sustained_for", id: "rule-sustained", type: "number",
      min: 0, step: "any", value: "0" }),
    change: field({ label: "Change of more than", name: "change", id: "rule-change", type: "number", min: 0,
      step: "any" }),
    period: field({ label: "Per / silent for (s)", name: "period", id: "rule-period", type: "number", min: 0,
      step: "any", value: "60" }),
    direction: field({ label: "Direction", name: "direction", id: "rule-direction",
      options: [{ value: "any", label: "either way" }, { value: "rise", label: "rising" },
        { value: "fall", label: "falling" }] }),
  };
  function showFields() {
    const wanted = FIELDS[kind.querySelector("select").value];
    for (const [name, el] of Object.entries(inputs)) el.hidden = !wanted.includes(name);
  }
  kind.querySelector("select").addEventListener("change", showFields);
  showFields();

  const createButton = h("button", { type: "submit", id: "rule-create" }, "Add rule");
  const form = h("form", { id: "rule-form", "aria-label": "New rule" },
    h("div", { class: "row" }, field({ label: "Name", name: "name", id: "rule-name", required: true, maxlength: 100 }),
      kind, ...Object.values(inputs),
      field({ label: "Webhook (https, optional)", name: "webhook_url", id: "rule-webhook", type: "url" })),
    errors, h("div", { class: "actions" }, createButton));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const chosen = String(data.get("kind"));
    const body = { name: String(data.get("name")).trim(), sensor_id: sensorId, kind: chosen };
    for (const name of FIELDS[chosen]) {
      const raw = String(data.get(name));
      body[name] = ["operator", "direction"].includes(name) ? raw : Number(raw);
    }
    const webhook = String(data.get("webhook_url")).trim();
    if (webhook) body.webhook_url = webhook;
    let created = null;
    const ok = await attempt(errors, async () => { created = await post("/api/rules", body); }, createButton);
    if (ok) {
      form.reset();
      showFields();
      flash(`Added rule "${created.name}"`);
      clear(secretSlot);
      if (created.webhook_url) {
        secretSlot.append(h("p", { class: "notice" }, "Webhook secret (shown once; the X-IoT-Signature header is ",
          "the HMAC-SHA256 of each body with it): ", h("code", { id: "rule-secret-value" }, created.webhook_secret)));
      }
      await attempt(listSlot, refresh);
    }
  });

  const refreshButton = h("button", { type: "button", class: "secondary small", id: "rules-refresh",
    onClick: () => attempt(listSlot, refresh, refreshButton) }, "Refresh");
  const element = h("section", { class: "card", id: "rules", "aria-labelledby": "rules-title" },
    h("div", { class: "card-header" }, h("h2", { id: "rules-title" }, "Rules and alerts"), refreshButton),
    h("p", { class: "muted" }, "A rule fires once when its condition starts and clears once when it ends; each " +
      "alert is kept here, published on the alerts topic and sent to the rule's webhook."),
    form, secretSlot, listSlot, h("h3", {}, "Recent alerts"), alertSlot);
  return { element, refresh: () => attempt(listSlot, refresh) };
}
