// DOM building from elements and text nodes only: user data never becomes markup, only text or attribute values.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  return el;
}

// h("button", {class: "x", onClick: fn}, "text", child, ...)
export function h(tag, attrs, ...children) {
  const el = apply(document.createElement(tag), attrs);
  append(el, children);
  return el;
}

export function svg(tag, attrs, ...children) {
  const el = apply(document.createElementNS(SVG_NS, tag), attrs);
  append(el, children);
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

let nextId = 0;
export const uid = (prefix) => `${prefix}-${++nextId}`;

// A labelled form field: {label, name, type, required, ...input attributes, hint, options (for select)}
export function field({ label, hint, options, textarea, ...attrs }) {
  const id = attrs.id || uid("f");
  let control;
  if (options) {
    control = h("select", { ...attrs, id },
      options.map((o) => h("option", { value: o.value ?? o, selected: o.selected }, o.label ?? o)));
  } else if (textarea) {
    control = h("textarea", { rows: 2, ...attrs, id });
  } else {
    control = h("input", { type: "text", ...attrs, id });
  }
  const hintEl = hint ? h("small", { id: `${id}-hint`, class: "hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

// The readable form of an API error: message, code and any details.
export function errorBox(error) {
  const box = h("div", { class: "error", role: "alert" },
    h("strong", {}, error.message || String(error)),
    error.code ? h("span", { class: "code" }, ` (${error.code}${error.status ? ", " + error.status : ""})`) : null);
  const details = error.details;
  if (details && typeof details === "object") {
    const rows = Array.isArray(details) ? details.map((d, i) => [String(i), d]) : Object.entries(details);
    if (rows.length) {
      box.append(h("ul", { class: "details" }, rows.map(([key, value]) =>
        h("li", {}, h("code", {}, key), ": ", typeof value === "string" ? value : JSON.stringify(value)))));
    }
  }
  return box;
}

// Show ``error`` in ``slot`` (an element whose content it replaces); ``null`` clears it.
export function showError(slot, error) {
  clear(slot);
  if (error) slot.append(errorBox(error));
}

// Run an async action for a form or button: disables it, shows errors in ``slot``; answers whether it worked.
export async function attempt(slot, action, busyEl) {
  if (slot) showError(slot, null);
  if (busyEl) busyEl.disabled = true;
  try {
    await action();
    return true;
  } catch (error) {
    if (slot) showError(slot, error);
    else flash(error.message || String(error), "error");
    return false;
  } finally {
    if (busyEl) busyEl.disabled = false;
  }
}

let flashTimer = null;
export function flash(message, kind = "ok") {
  const el = document.getElementById("flash");
  clear(el);
  el.append(h("span", { class: `flash-${kind}` }, message));
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => clear(el), 4000);
}

export function download(filename, content, type = "text/plain") {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export async function copy(text, what = "Copied") {
  try {
    await navigator.clipboard.writeText(text);
    flash(`${what} to the clipboard`);
  } catch {
    flash("Copying is not allowed here: select the text and copy it yourself", "error");
  }
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function pageHeader(title, ...extra) {
  return h("div", { class: "page-header" }, title instanceof Node ? title : h("h1", {}, title), ...extra);
}

export function breadcrumbs(...links) {
  return h("nav", { class: "crumbs", "aria-label": "Breadcrumb" },
    links.map(([label, href], i) => [i ? h("span", { "aria-hidden": "true" }, " / ") : null,
      href ? h("a", { href }, label) : h("span", { "aria-current": "page" }, label)]));
}
