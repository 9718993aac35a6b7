// A key holder's key (device or consumer): show, copy, download as a file, rotate (with confirm).

import { enc, get, post } from "../api.js";
import { attempt, copy, download, flash, h } from "../dom.js";

// kind: "devices" | "consumers"; onKey(token) is told about every key shown (e.g. to fill an example).
export function keyPanel({ kind, id, noun, onKey = () => {} }) {
  const base = `/api/${kind}/${enc(id)}/key`;
  const errors = h("div");
  const keyBox = h("textarea", { id: `${noun}-key`, class: "key", readonly: true, rows: 4, spellcheck: "false",
    "aria-label": `${noun} key` });
  const version = h("span", { class: "muted", id: `${noun}-key-version` });
  const keyArea = h("div", { class: "key-area", hidden: true }, keyBox, version);
  const filename = `${noun}-${id}.key`;
  let token = null;

  function show(reply) {
    token = reply.token;
    keyBox.value = token;
    version.textContent = `Key version ${reply.key_version}`;
    keyArea.hidden = false;
    onKey(token);
  }

  async function fetchKey() {
    if (!token) show(await get(base));
    return token;
  }

  const showButton = h("button", { type: "button", id: `${noun}-key-show`, class: "secondary",
    onClick: () => attempt(errors, fetchKey, showButton) }, "Show key");
  const copyButton = h("button", { type: "button", id: `${noun}-key-copy`, class: "secondary",
    onClick: () => attempt(errors, async () => copy(await fetchKey(), "Key copied"), copyButton) }, "Copy key");
  const downloadButton = h("button", { type: "button", id: `${noun}-key-download`, class: "secondary",
    onClick: () => attempt(errors, async () => download(filename, await fetchKey()), downloadButton) },
  "Download key");
  const rotateButton = h("button", { type: "button", id: `${noun}-key-rotate`, class: "danger",
    onClick: async () => {
      if (!confirm(`Rotate the ${noun} key? Every earlier key stops working within a minute.`)) return;
      if (await attempt(errors, async () => show(await post(`${base}/rotate`)), rotateButton)) {
        flash("Key rotated: earlier keys are revoked");
      }
    } }, "Rotate key");

  return h("section", { class: "card", "aria-labelledby": `${noun}-key-title` },
    h("h2", { id: `${noun}-key-title` }, "Key"),
    h("p", { class: "muted" }, `The ${noun}'s secret token. Keep it like a password; the file is named `,
      h("code", {}, filename), "."),
    h("div", { class: "actions" }, showButton, copyButton, downloadButton, rotateButton),
    errors, keyArea);
}
