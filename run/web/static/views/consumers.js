// Consumers: list, create, delete.

import { del, enc, listAll, post } from "../api.js";
import { attempt, clear, field, flash, formatTime, h, pageHeader } from "../dom.js";

export async function renderConsumers(main) {
  const listSlot = h("div", { id: "consumer-list", class: "card table-card" });
  const errors = h("div");
  const button = h("button", { type: "submit", id: "consumer-create" }, "Create consumer");
  const form = h("form", { class: "card", id: "consumer-form", "aria-labelledby": "consumer-form-title" },
    h("h2", { id: "consumer-form-title" }, "New consumer"),
    h("p", { class: "muted" },
      "A consumer is a read-only identity (e.g. a dashboard) that reads the sensors you grant it."),
    h("div", { class: "row" },
      field({ label: "Name", name: "name", id: "consumer-name", required: true, maxlength: 100 }),
      field({ label: "Description", name: "description", id: "consumer-description", maxlength: 1000 })),
    errors, h("div", { class: "actions" }, button));

  async function refresh() {
    const consumers = await listAll("/api/consumers");
    clear(listSlot);
    if (!consumers.length) {
      listSlot.append(h("p", { class: "empty" }, "No consumers yet."));
      return;
    }
    consumers.sort((a, b) => a.name.localeCompare(b.name));
    listSlot.append(h("table", { class: "list" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Description"),
        h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      h("tbody", {}, consumers.map((consumer) => h("tr", { dataset: { id: consumer.id } },
        h("td", {}, h("a", { href: `#/consumers/${enc(consumer.id)}`, class: "consumer-link" }, consumer.name)),
        h("td", { class: "description" }, consumer.description),
        h("td", { class: "nowrap" }, formatTime(consumer.created_at)),
        h("td", { class: "actions" }, h("button", { type: "button", class: "danger small",
          "aria-label": `Delete consumer ${consumer.name}`,
          onClick: (event) => remove(consumer, event.currentTarget) }, "Delete")))))));
  }

  async function remove(consumer, button) {
    if (!confirm(`Delete consumer "${consumer.name}"? Its key stops working.`)) return;
    if (await attempt(null, () => del(`/api/consumers/${enc(consumer.id)}`), button)) {
      flash(`Deleted consumer "${consumer.name}"`);
      await refresh();
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    let created;
    if (await attempt(errors, async () => {
      created = await post("/api/consumers", { name: String(data.get("name")).trim(),
        description: String(data.get("description")) });
    }, button)) {
      form.reset();
      flash(`Created consumer "${created.name}"`);
      await refresh();
    }
  });

  main.append(pageHeader("Consumers"), listSlot, form);
  await refresh();
}
