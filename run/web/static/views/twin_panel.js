// A device's twin: the desired state (edited as JSON, saved only over the version it was read at), the state the
// device reported, and the delta between them.

import { enc, get, put } from "../api.js";
import { attempt, clear, formatTime, h } from "../dom.js";

const pretty = (value) => JSON.stringify(value, null, 2);

export function twinPanel(deviceId) {
  const base = `/api/devices/${enc(deviceId)}/twin`;
  const errors = h("div");
  const editor = h("textarea", { id: "desired-editor", class: "json", rows: 8, spellcheck: "false",
    "aria-label": "Desired state (JSON object)" });
  const version = h("span", { class: "muted", id: "desired-version" });
  const reported = h("pre", { class: "json", id: "twin-reported" });
  const reportedVersion = h("span", { class: "muted", id: "reported-version" });
  const delta = h("pre", { class: "json", id: "twin-delta" });
  let loadedVersion = 0;

  function show(twin) {
    loadedVersion = twin.desired_version;
    editor.value = pretty(twin.desired);
    version.textContent = `version ${twin.desired_version}` +
      (twin.desired_at ? ` · set ${formatTime(twin.desired_at)}` : "");
    clear(reported).append(pretty(twin.reported));
    reportedVersion.textContent = `version ${twin.reported_version}` +
      (twin.reported_at ? ` · reported ${formatTime(twin.reported_at)}` : "");
    clear(delta).append(Object.keys(twin.delta).length ? pretty(twin.delta) : "in sync");
  }

  async function refresh() {
    show(await get(base));
  }

  const saveButton = h("button", { type: "submit", id: "desired-save" }, "Save desired state");
  const form = h("form", { id: "desired-form" },
    h("div", { class: "card-header" }, h("h3", {}, "Desired"), version), editor, errors,
    h("div", { class: "actions" }, saveButton));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await attempt(errors, async () => {
      let document;
      try {
        document = JSON.parse(editor.value || "{}");
      } catch (error) {
        throw Object.assign(new Error(`Not JSON: ${error.message}`), { code: "invalid_json" });
      }
      // Saved only over the version shown: a change made meanwhile (412) is reported, not overwritten.
      show(await put(`${base}/desired`, document, { version: loadedVersion }));
    }, saveButton);
  });

  const refreshButton = h("button", { type: "button", class: "secondary small", id: "twin-refresh",
    onClick: () => attempt(errors, refresh, refreshButton) }, "Reload");
  const element = h("section", { class: "card", id: "twin", "aria-labelledby": "twin-title" },
    h("div", { class: "card-header" }, h("h2", { id: "twin-title" }, "Desired and reported state"), refreshButton),
    h("p", { class: "muted" }, "The device gets the desired state when it connects or asks for it, and reports its " +
      "own; keys set to null are removed."),
    form,
    h("div", { class: "card-header" }, h("h3", {}, "Reported"), reportedVersion), reported,
    h("h3", {}, "Delta (desired values the device has not reported)"), delta);
  return { element, refresh: () => attempt(errors, refresh) };
}
