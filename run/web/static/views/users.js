// Users (administrators only): list, create, change role, delete.

import { del, enc, listAll, patch, post, session } from "../api.js";
import { attempt, clear, field, flash, formatTime, h, pageHeader } from "../dom.js";

const ROLES = ["user", "admin"];

export async function renderUsers(main) {
  const listSlot = h("div", { id: "user-list", class: "card table-card" });
  const errors = h("div");
  const listErrors = h("div");
  const button = h("button", { type: "submit", id: "user-create" }, "Create user");
  const form = h("form", { class: "card", id: "user-form", "aria-labelledby": "user-form-title" },
    h("h2", { id: "user-form-title" }, "New user"),
    h("div", { class: "row" },
      field({ label: "Username", name: "username", id: "user-username", required: true, autocomplete: "off",
        pattern: "[a-z0-9][a-z0-9_.\\-]{2,39}", hint: "3–40 lowercase letters, digits, _ . -" }),
      field({ label: "Name", name: "name", id: "user-name", maxlength: 100 }),
      field({ label: "Password", name: "password", id: "user-password", type: "password", required: true,
        minlength: 10, autocomplete: "new-password", hint: "At least 10 characters" }),
      field({ label: "Role", name: "role", id: "user-role", options: ROLES })),
    errors, h("div", { class: "actions" }, button));
  const me = session.get().user;

  async function refresh() {
    const users = await listAll("/api/users");
    clear(listSlot);
    users.sort((a, b) => a.username.localeCompare(b.username));
    listSlot.append(h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["Username", "Name", "Role", "Created", ""].map((label) =>
        h("th", { scope: "col" }, label || h("span", { class: "sr-only" }, "Actions"))))),
      h("tbody", {}, users.map((user) => {
        const roleSelect = h("select", { "aria-label": `Role of ${user.username}`, class: "role-select" },
          ROLES.map((role) => h("option", { value: role, selected: role === user.role }, role)));
        roleSelect.addEventListener("change", async () => {
          const ok = await attempt(listErrors, () => patch(`/api/users/${enc(user.id)}`, { role: roleSelect.value }),
            roleSelect);
          if (ok) flash(`${user.username} is now ${roleSelect.value === "admin" ? "an admin" : "a user"}`);
          else roleSelect.value = user.role;
          if (ok) user.role = roleSelect.value;
        });
        const self = user.id === me.id;
        return h("tr", { dataset: { id: user.id } },
          h("td", {}, user.username, self ? h("span", { class: "muted" }, " (you)") : null),
          h("td", {}, user.name), h("td", {}, roleSelect), h("td", { class: "nowrap" }, formatTime(user.created_at)),
          h("td", { class: "actions" }, self ? null : h("button", { type: "button", class: "danger small",
            "aria-label": `Delete user ${user.username}`, onClick: (event) => remove(user, event.currentTarget) },
          "Delete")));
      }))));
  }

  async function remove(user, button) {
    if (!confirm(`Delete user "${user.username}"?`)) return;
    if (await attempt(listErrors, () => del(`/api/users/${enc(user.id)}`), button)) {
      flash(`Deleted user "${user.username}"`);
      await refresh();
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { username: String(data.get("username")).trim(), password: String(data.get("password")),
      role: String(data.get("role")) };
    const name = String(data.get("name")).trim();
    if (name) body.name = name;
    let created;
    if (await attempt(errors, async () => { created = await post("/api/users", body); }, button)) {
      form.reset();
      flash(`Created user "${created.username}"`);
      await refresh();
    }
  });

  main.append(pageHeader("Users"), listErrors, listSlot, form);
  await refresh();
}
