// One consumer: its grants (grant one of your sensors, revoke), its key, delete.

import { del, enc, get, listAll, post } from "../api.js";
import { attempt, breadcrumbs, clear, field, flash, h, pageHeader } from "../dom.js";
import { keyPanel } from "./key_panel.js";

// Every sensor the signed-in user can grant: [{sensor, device}] (devices → sensors).
async function grantableSensors(ownerId) {
  const devices = (await listAll("/api/devices")).filter((d) => d.owner_id === ownerId);
  const lists = await Promise.all(devices.map(async (device) =>
    (await listAll(`/api/devices/${enc(device.id)}/sensors`)).map((sensor) => ({ sensor, device }))));
  const label = ({ sensor, device }) => `${device.name}/${sensor.name}`;
  return lists.flat().sort((a, b) => label(a).localeCompare(label(b)));
}

export async function renderConsumer(main, consumerId) {
  const base = `/api/consumers/${enc(consumerId)}`;
  const consumer = await get(base);
  document.title = `${consumer.name} · IoT console`;
  const grantsSlot = h("div", { id: "grants" });
  const grantErrors = h("div");
  const choices = await grantableSensors(consumer.owner_id);
  const deviceNames = new Map(choices.map(({ sensor, device }) => [sensor.id, device.name]));

  async function refresh() {
    const granted = await listAll(`${base}/sensors`);
    clear(grantsSlot);
    if (!granted.length) {
      grantsSlot.append(h("p", { class: "empty" }, "No sensors granted yet."));
      return;
    }
    grantsSlot.append(h("ul", { class: "grants" }, granted.map((sensor) => h("li", { dataset: { id: sensor.id } },
      h("a", { href: `#/devices/${enc(sensor.device_id)}/sensors/${enc(sensor.id)}` },
        `${deviceNames.get(sensor.id) ?? sensor.device_id} / ${sensor.name}`),
      h("span", { class: "badge" }, sensor.type), h("code", { class: "muted small-id" }, sensor.id),
      h("button", { type: "button", class: "danger small", "aria-label": `Revoke ${sensor.name}`,
        onClick: (event) => revoke(sensor, event.currentTarget) }, "Revoke")))));
  }

  async function revoke(sensor, button) {
    if (!confirm(`Revoke "${consumer.name}"'s access to sensor "${sensor.name}"?`)) return;
    if (await attempt(grantErrors, () => del(`${base}/sensors/${enc(sensor.id)}`), button)) {
      flash(`Revoked sensor "${sensor.name}"`);
      await refresh();
    }
  }

  const grantButton = h("button", { type: "submit", id: "grant-submit", disabled: !choices.length }, "Grant");
  const grantForm = h("form", { class: "row", id: "grant-form" },
    field({ label: "Sensor", name: "sensor_id", id: "grant-sensor", options: choices.length
      ? choices.map(({ sensor, device }) => ({ value: sensor.id,
        label: `${device.name} / ${sensor.name} (${sensor.type})` }))
      : [{ value: "", label: "You have no sensors yet" }] }),
    h("div", { class: "actions" }, grantButton));
  grantForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const sensorId = new FormData(grantForm).get("sensor_id");
    if (await attempt(grantErrors, () => post(`${base}/sensors`, { sensor_id: sensorId }), grantButton)) {
      flash("Sensor granted");
      await refresh();
    }
  });

  const deleteButton = h("button", { type: "button", class: "danger", id: "consumer-delete", onClick: async () => {
    if (!confirm(`Delete consumer "${consumer.name}"? Its key stops working.`)) return;
    if (await attempt(grantErrors, () => del(base), deleteButton)) {
      flash(`Deleted consumer "${consumer.name}"`);
      location.hash = "#/consumers";
    }
  } }, "Delete consumer");

  main.append(breadcrumbs(["Consumers", "#/consumers"], [consumer.name]), pageHeader(consumer.name, deleteButton),
    consumer.description ? h("p", { class: "description" }, consumer.description) : "",
    h("section", { class: "card", "aria-labelledby": "grants-title" },
      h("h2", { id: "grants-title" }, "Granted sensors"), grantsSlot, grantForm, grantErrors),
    keyPanel({ kind: "consumers", id: consumerId, noun: "consumer" }),
    h("section", { class: "card", "aria-labelledby": "consumer-use-title" },
      h("h2", { id: "consumer-use-title" }, "Reading with the key"),
      h("p", { class: "muted" }, "Send the key as ", h("code", {}, "Authorization: Bearer <key>"), " to ",
        h("code", {}, `${location.origin}/api/sensors/<sensor id>/data`), " or use the Elasticsearch-compatible ",
        h("code", {}, `${location.origin}/api/consumers/consume`), ".")));
  await refresh();
}
