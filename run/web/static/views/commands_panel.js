// Commands to a device: send one (name, JSON payload, time to live) and follow each through its lifecycle
// (queued → delivered → succeeded or failed, or expired).

import { enc, listAll, post } from "../api.js";
import { attempt, clear, field, flash, formatTime, h } from "../dom.js";

const STATUSES = ["queued", "delivered", "succeeded", "failed", "expired"];

export function commandsPanel(deviceId) {
  const base = `/api/devices/${enc(deviceId)}/commands`;
  const listSlot = h("div", { id: "command-list" });
  const filter = field({ label: "Show", name: "status", id: "command-status-filter",
    options: [{ value: "", label: "all" }, ...STATUSES] });
  const errors = h("div");

  async function refresh() {
    const status = filter.querySelector("select").value;
    const commands = await listAll(base, { status });
    clear(listSlot);
    if (!commands.length) {
      listSlot.append(h("p", { class: "empty" }, status ? `No ${status} commands.` : "No commands yet."));
      return;
    }
    listSlot.append(h("div", { class: "scroll" }, h("table", { class: "list" },
      h("caption", { class: "sr-only" }, "Commands, newest first"),
      h("thead", {}, h("tr", {}, ["Command", "Status", "Sent", "Expires", "Delivered", "Finished", "Answer"]
        .map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, commands.map((command) => h("tr", { dataset: { id: command.id } },
        h("td", {}, h("code", {}, command.name), command.payload === null ? null
          : h("code", { class: "sample" }, " ", JSON.stringify(command.payload))),
        h("td", {}, h("span", { class: `badge command-${command.status}` }, command.status)),
        h("td", { class: "nowrap" }, formatTime(command.created_at)),
        h("td", { class: "nowrap" }, formatTime(command.expires_at)),
        h("td", { class: "nowrap" }, formatTime(command.delivered_at)),
        h("td", { class: "nowrap" }, formatTime(command.finished_at)),
        h("td", {}, command.error ? h("span", { class: "command-error" }, command.error)
          : command.result === null ? "—" : h("code", { class: "sample" }, JSON.stringify(command.result)))))))));
  }
  filter.querySelector("select").addEventListener("change", () => attempt(listSlot, refresh));

  const sendButton = h("button", { type: "submit", id: "command-send" }, "Send command");
  const form = h("form", { id: "command-form", "aria-label": "New command" },
    h("div", { class: "row" },
      field({ label: "Name", name: "name", id: "command-name", required: true, maxlength: 64,
        placeholder: "reboot", hint: "a-z, 0-9, _ . -" }),
      field({ label: "Payload (JSON, optional)", name: "payload", id: "command-payload", placeholder: '{"delay": 5}' }),
      field({ label: "Time to live (s)", name: "ttl", id: "command-ttl", type: "number", min: 1, max: 86400,
        value: "300" })),
    errors, h("div", { class: "actions" }, sendButton));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    let sent = null;
    const ok = await attempt(errors, async () => {
      const text = String(data.get("payload")).trim();
      let payload = null;
      try {
        payload = text ? JSON.parse(text) : null;
      } catch (error) {
        throw Object.assign(new Error(`The payload is not JSON: ${error.message}`), { code: "invalid_json" });
      }
      sent = await post(base, { name: String(data.get("name")).trim(), payload, ttl: Number(data.get("ttl")) });
    }, sendButton);
    if (ok) {
      form.reset();
      flash(`Sent command "${sent.name}"`);
      await attempt(listSlot, refresh);
    }
  });

  const refreshButton = h("button", { type: "button", class: "secondary small", id: "commands-refresh",
    onClick: () => attempt(listSlot, refresh, refreshButton) }, "Refresh");
  const element = h("section", { class: "card", id: "commands", "aria-labelledby": "commands-title" },
    h("div", { class: "card-header" }, h("h2", { id: "commands-title" }, "Commands"), refreshButton),
    h("p", { class: "muted" }, "A connected device gets a command at once, an HTTP device when it polls; one that " +
      "stays away until the time to live runs out sees it expire."),
    form, filter, listSlot);
  return { element, refresh: () => attempt(listSlot, refresh) };
}
