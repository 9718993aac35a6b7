// The console's entry point: hash routing, the session bar, and sending the user to sign-in on 401.

import { session, setUnauthorizedHandler } from "./api.js";
import { clear, errorBox, flash, h } from "./dom.js";
import { renderSignIn } from "./views/signin.js";
import { renderDevices } from "./views/devices.js";
import { renderDevice } from "./views/device.js";
import { renderSensor } from "./views/sensor.js";
import { renderConsumers } from "./views/consumers.js";
import { renderConsumer } from "./views/consumer.js";
import { renderUsers } from "./views/users.js";

const ROUTES = [
  [/^\/signin$/, renderSignIn, { public: true }],
  [/^\/devices$/, renderDevices, { section: "devices" }],
  [/^\/devices\/([^/]+)$/, renderDevice, { section: "devices" }],
  [/^\/devices\/([^/]+)\/sensors\/([^/]+)$/, renderSensor, { section: "devices" }],
  [/^\/consumers$/, renderConsumers, { section: "consumers" }],
  [/^\/consumers\/([^/]+)$/, renderConsumer, { section: "consumers" }],
  [/^\/users$/, renderUsers, { section: "users", admin: true }],
];

const main = document.getElementById("main");
let cleanup = null;
let renderCount = 0;

export function go(path) {
  if (location.hash === "#" + path) route();
  else location.hash = path;
}

function updateSessionBar(section) {
  const current = session.get();
  const nav = document.getElementById("nav");
  nav.hidden = !current;
  document.getElementById("session").hidden = !current;
  document.getElementById("nav-users").hidden = !session.isAdmin();
  const who = document.getElementById("session-user");
  clear(who);
  if (current) {
    who.append(current.user.name || current.user.username,
      h("span", { class: "role" }, current.user.role));
  }
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const path = decodeURI(location.hash.replace(/^#/, "")) || "/";
  const signedIn = !!session.get();
  if (path === "/" || (!signedIn && path !== "/signin")) {
    location.replace(signedIn ? "#/devices" : "#/signin");
    return;
  }
  const found = ROUTES.map(([pattern, view, options]) => [path.match(pattern), view, options])
    .find(([match]) => match);
  const count = ++renderCount;
  clear(main);
  if (!found) {
    updateSessionBar(null);
    main.append(h("h1", {}, "Not found"), h("p", {}, "This page does not exist. ", h("a", { href: "#/devices" },
      "Go to your devices.")));
    return;
  }
  const [match, view, options] = found;
  if (signedIn && options.public) {
    location.replace("#/devices");
    return;
  }
  updateSessionBar(options.section);
  if (options.admin && !session.isAdmin()) {
    main.append(h("h1", {}, "Not allowed"), h("p", {}, "Only administrators manage users."));
    return;
  }
  document.title = "IoT console";
  try {
    const result = await view(main, ...match.slice(1).map(decodeURIComponent));
    if (count === renderCount) cleanup = typeof result === "function" ? result : null;
    else if (typeof result === "function") result();
  } catch (error) {
    if (count !== renderCount || error.status === 401) return;
    clear(main).append(h("h1", {}, "Something went wrong"), errorBox(error));
  }
  if (count === renderCount) main.focus({ preventScroll: true });
}

setUnauthorizedHandler(() => {
  if (!session.get()) return;
  session.clear();
  flash("Your session has ended: sign in again", "error");
  go("/signin");
});

document.getElementById("signout").addEventListener("click", () => {
  session.clear();
  flash("Signed out");
  go("/signin");
});

window.addEventListener("hashchange", route);
route();
