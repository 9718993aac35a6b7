// The sign-in form (POST /api/users/signin).

import { signIn } from "../api.js";
import { attempt, field, h } from "../dom.js";

export function renderSignIn(main) {
  const errors = h("div", { id: "signin-error" });
  const button = h("button", { type: "submit", id: "signin-submit" }, "Sign in");
  const form = h("form", { class: "card narrow", id: "signin-form", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    field({ label: "Username", name: "username", id: "signin-username", autocomplete: "username", required: true,
      autocapitalize: "none", spellcheck: "false" }),
    field({ label: "Password", name: "password", id: "signin-password", type: "password",
      autocomplete: "current-password", required: true }),
    errors, h("div", { class: "actions" }, button));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const ok = await attempt(errors, () => signIn(String(data.get("username")).trim(), String(data.get("password"))),
      button);
    if (ok) location.hash = "#/devices";
  });
  main.append(form);
  form.querySelector("input").focus();
}
