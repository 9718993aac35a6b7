// One device: its status, details (rename, delete), sensor tree (add, delete), desired and reported state,
// commands, key, refused telemetry, a curl example, the export of its readings.

import { del, enc, get, patch, post } from "../api.js";
import { attempt, breadcrumbs, clear, field, flash, formatTime, h, pageHeader } from "../dom.js";
import { keyPanel } from "./key_panel.js";
import { curlExample } from "./curl_example.js";
import { commandsPanel } from "./commands_panel.js";
import { exportPanel } from "./export_panel.js";
import { statusView } from "./device_status.js";
import { twinPanel } from "./twin_panel.js";

export const SENSOR_TYPES = ["double", "long", "boolean", "keyword"];

export async function renderDevice(main, deviceId) {
  const base = `/api/devices/${enc(deviceId)}`;
  const device = await get(base);
  document.title = `${device.name} · IoT console`;
  const title = h("h1", {}, device.name);
  const description = h("p", { class: "description", id: "device-description-text" }, device.description);
  const status = h("p", { id: "device-status" }, statusView(device.status));
  const twin = twinPanel(deviceId);
  const commands = commandsPanel(deviceId);
  const treeSlot = h("div", { id: "sensor-tree" });
  const example = curlExample(deviceId);

  async function refreshTree() {
    const tree = await get(`${base}/tree`);
    clear(treeSlot);
    const sensors = [];
    const collect = (node) => {
      sensors.push(...node.sensors);
      node.groups.forEach(collect);
    };
    collect(tree);
    example.setSensors(sensors);
    if (!sensors.length) {
      treeSlot.append(h("p", { class: "empty" }, "No sensors yet: add one below."));
      return;
    }
    treeSlot.append(h("ul", { class: "tree", role: "tree", "aria-label": "Sensors" }, renderNode(tree)));
  }

  function renderNode(node) {
    return [
      ...node.sensors.map((sensor) => h("li", { class: "sensor", dataset: { id: sensor.id } },
        h("a", { href: `#/devices/${enc(deviceId)}/sensors/${enc(sensor.id)}`, class: "sensor-link" }, sensor.name),
        h("span", { class: "badge" }, sensor.type),
        sensor.mapping?.unit ? h("span", { class: "unit" }, sensor.mapping.unit) : null,
        sensor.description ? h("span", { class: "muted" }, sensor.description) : null,
        h("code", { class: "muted small-id" }, sensor.id),
        h("button", { type: "button", class: "danger small", "aria-label": `Delete sensor ${sensor.name}`,
          onClick: (event) => removeSensor(sensor, event.currentTarget) }, "Delete"))),
      ...node.groups.map((group) => h("li", { class: "group" },
        h("span", { class: "group-name" }, group.name), h("ul", {}, renderNode(group)))),
    ];
  }

  async function removeSensor(sensor, button) {
    if (!confirm(`Delete sensor "${sensor.name}"? Its grants go too, and its stored readings are erased.`)) return;
    if (await attempt(null, () => del(`${base}/sensors/${enc(sensor.id)}`), button)) {
      flash(`Deleted sensor "${sensor.name}"`);
      await refreshTree();
    }
  }

  // Rename / describe
  const editErrors = h("div");
  const saveButton = h("button", { type: "submit", id: "device-save" }, "Save");
  const editForm = h("form", { class: "card", id: "device-edit", "aria-labelledby": "device-edit-title" },
    h("h2", { id: "device-edit-title" }, "Details"),
    h("div", { class: "row" },
      field({ label: "Name", name: "name", id: "device-edit-name", value: device.name, required: true,
        maxlength: 100 }),
      field({ label: "Description", name: "description", id: "device-edit-description", value: device.description,
        maxlength: 1000 })),
    h("p", { class: "muted" }, "Id ", h("code", { id: "device-id" }, device.id), " · created ",
      formatTime(device.created_at)),
    editErrors,
    h("div", { class: "actions" }, saveButton,
      h("button", { type: "button", class: "danger", id: "device-delete", onClick: removeDevice }, "Delete device")));
  editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(editForm);
    let updated;
    if (await attempt(editErrors, async () => {
      updated = await patch(base, { name: String(data.get("name")).trim(),
        description: String(data.get("description")) });
    }, saveButton)) {
      Object.assign(device, updated);
      title.textContent = updated.name;
      description.textContent = updated.description;
      crumbs.lastChild.textContent = updated.name;
      flash("Device saved");
    }
  });

  async function removeDevice(event) {
    if (!confirm(`Delete device "${device.name}" with all its sensors, their grants and their stored readings?`)) {
      return;
    }
    if (await attempt(editErrors, () => del(base), event.currentTarget)) {
      flash(`Deleted device "${device.name}"`);
      location.hash = "#/devices";
    }
  }

  // Add a sensor
  const sensorErrors = h("div");
  const addButton = h("button", { type: "submit", id: "sensor-create" }, "Add sensor");
  const sensorForm = h("form", { class: "card", id: "sensor-form", "aria-labelledby": "sensor-form-title" },
    h("h2", { id: "sensor-form-title" }, "New sensor"),
    h("div", { class: "row" },
      field({ label: "Name", name: "name", id: "sensor-name", required: true, maxlength: 100 }),
      field({ label: "Type", name: "type", id: "sensor-type", options: SENSOR_TYPES }),
      field({ label: "Unit (optional)", name: "unit", id: "sensor-unit", maxlength: 32, placeholder: "°C" }),
      field({ label: "Group path (optional)", name: "path", id: "sensor-path", placeholder: "Wheels/Front",
        hint: "Groups separated by /" }),
      field({ label: "Description", name: "description", id: "sensor-description", maxlength: 1000 })),
    sensorErrors, h("div", { class: "actions" }, addButton));
  sensorForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(sensorForm);
    const mapping = { type: String(data.get("type")) };
    const unit = String(data.get("unit")).trim();
    if (unit) mapping.unit = unit;
    const body = { name: String(data.get("name")).trim(), description: String(data.get("description")), mapping };
    const path = String(data.get("path")).split("/").map((part) => part.trim()).filter(Boolean);
    if (path.length) body.path = path;
    let created;
    if (await attempt(sensorErrors, async () => { created = await post(`${base}/sensors`, body); }, addButton)) {
      sensorForm.reset();
      flash(`Added sensor "${created.name}"`);
      await refreshTree();
    }
  });

  // Refused telemetry
  const rejectionsSlot = h("div", { id: "rejections" });
  async function refreshRejections() {
    const { items } = await get(`${base}/rejections`);
    clear(rejectionsSlot);
    if (!items.length) {
      rejectionsSlot.append(h("p", { class: "empty" }, "Nothing refused."));
      return;
    }
    rejectionsSlot.append(h("div", { class: "scroll" }, h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["When", "Source", "Reason", "Sensor", "Sample"].map((label) =>
        h("th", { scope: "col" }, label)))),
      h("tbody", {}, items.map((item) => h("tr", {},
        h("td", { class: "nowrap" }, formatTime(item.at)), h("td", {}, item.source), h("td", {}, item.reason),
        h("td", {}, item.sensor_id || "—"), h("td", {}, h("code", { class: "sample" }, item.sample))))))));
  }
  const rejectionsButton = h("button", { type: "button", class: "secondary small", id: "rejections-refresh",
    onClick: () => attempt(rejectionsSlot, refreshRejections, rejectionsButton) }, "Refresh");

  const crumbs = breadcrumbs(["Devices", "#/devices"], [device.name]);
  main.append(crumbs, pageHeader(title), description, status,
    h("section", { class: "card", "aria-labelledby": "sensors-title" },
      h("h2", { id: "sensors-title" }, "Sensors"), treeSlot),
    sensorForm,
    twin.element,
    commands.element,
    keyPanel({ kind: "devices", id: deviceId, noun: "device", onKey: (token) => example.setKey(token) }),
    example.element,
    exportPanel(deviceId).element,
    h("section", { class: "card", "aria-labelledby": "rejections-title" },
      h("div", { class: "card-header" }, h("h2", { id: "rejections-title" }, "Refused telemetry"), rejectionsButton),
      h("p", { class: "muted" }, "Readings the platform accepted at the gateway but could not store, newest first."),
      rejectionsSlot),
    editForm);
  await Promise.all([refreshTree(), attempt(rejectionsSlot, refreshRejections), twin.refresh(), commands.refresh()]);
}
