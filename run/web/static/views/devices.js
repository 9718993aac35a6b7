// Devices: list (with their status, filtered online or offline), create, delete.

import { del, enc, listAll, post } from "../api.js";
import { attempt, clear, field, flash, formatTime, h, pageHeader } from "../dom.js";
import { statusView } from "./device_status.js";

export async function renderDevices(main) {
  const listSlot = h("div", { id: "device-list", class: "card table-card" },
    h("p", { class: "muted" }, "Loading devices…"));
  const errors = h("div");
  const button = h("button", { type: "submit", id: "device-create" }, "Create device");
  const form = h("form", { class: "card", id: "device-form", "aria-labelledby": "device-form-title" },
    h("h2", { id: "device-form-title" }, "New device"),
    h("div", { class: "row" },
      field({ label: "Name", name: "name", id: "device-name", required: true, maxlength: 100 }),
      field({ label: "Description", name: "description", id: "device-description", maxlength: 1000 })),
    errors, h("div", { class: "actions" }, button));

  const filter = field({ label: "Show", name: "status", id: "device-status-filter",
    options: [{ value: "", label: "all devices" }, { value: "online", label: "online" },
      { value: "offline", label: "offline" }] });
  filter.querySelector("select").addEventListener("change", () => attempt(listSlot, refresh));

  async function refresh() {
    const status = filter.querySelector("select").value;
    const devices = await listAll("/api/devices", { status });
    clear(listSlot);
    if (!devices.length) {
      listSlot.append(h("p", { class: "empty" }, status ? `No ${status} devices.` : "No devices yet: create one below."));
      return;
    }
    devices.sort((a, b) => a.name.localeCompare(b.name));
    listSlot.append(h("table", { class: "list" },
      h("caption", { class: "sr-only" }, "Your devices"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Status"),
        h("th", { scope: "col" }, "Description"), h("th", { scope: "col" }, "Created"),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      h("tbody", {}, devices.map((device) => h("tr", { dataset: { id: device.id } },
        h("td", {}, h("a", { href: `#/devices/${enc(device.id)}`, class: "device-link" }, device.name)),
        h("td", { class: "status" }, statusView(device.status)),
        h("td", { class: "description" }, device.description),
        h("td", { class: "nowrap" }, formatTime(device.created_at)),
        h("td", { class: "actions" }, h("button", {
          type: "button", class: "danger small", "aria-label": `Delete device ${device.name}`,
          onClick: (event) => remove(device, event.currentTarget),
        }, "Delete")))))));
  }

  async function remove(device, button) {
    if (!confirm(`Delete device "${device.name}" with all its sensors and their grants?`)) return;
    if (await attempt(null, () => del(`/api/devices/${enc(device.id)}`), button)) {
      flash(`Deleted device "${device.name}"`);
      await refresh();
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    let created = null;
    const ok = await attempt(errors, async () => {
      created = await post("/api/devices", { name: String(data.get("name")).trim(),
        description: String(data.get("description")) });
    }, button);
    if (ok) {
      form.reset();
      flash(`Created device "${created.name}"`);
      await refresh();
    }
  });

  main.append(pageHeader("Devices", filter), listSlot, form);
  await refresh();
}
