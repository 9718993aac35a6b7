// A copy-paste curl command that sends one reading to the HTTP gateway with this device's key.

import { copy, h } from "../dom.js";

const SAMPLE_VALUES = { double: "21.5", long: "42", boolean: "true", keyword: '"on"' };

// The gateway URL the server configured (one place: run/web/console.py), read from the page's meta tag.
export function gatewayUrl() {
  return document.querySelector('meta[name="iot-gateway-url"]')?.content || "$GATEWAY_URL";
}

const shellQuote = (text) => `'${String(text).replaceAll("'", "'\\''")}'`;

export function curlExample(deviceId) {
  let key = null;
  let sensor = null;
  const code = h("code", { id: "curl-example" });
  const pre = h("pre", { class: "example" }, code);
  const note = h("p", { class: "muted" });

  function render() {
    const keyLine = key ? `KEY=${shellQuote(key)}` : `KEY=$(cat device-${deviceId}.key)`;
    const record = JSON.stringify({ sensor_id: sensor ? sensor.id : "SENSOR_ID" }).slice(0, -1) +
      `,"value":${SAMPLE_VALUES[sensor?.type] ?? "21.5"}}`;
    code.textContent = `${keyLine}\ncurl -s ${shellQuote(gatewayUrl())} -H "Authorization: Bearer $KEY" ` +
      `-H 'Content-Type: application/json' \\\n  -d ${shellQuote(record)}`;
    note.textContent = (key ? "The command holds this device's key: treat it as a secret. "
      : "Download the key first (or show it to put it into the command). ") +
      (sensor ? `It sends a reading of sensor "${sensor.name}".` : "Add a sensor, then use its id.");
  }

  const element = h("section", { class: "card", "aria-labelledby": "curl-title" },
    h("h2", { id: "curl-title" }, "Send a reading"), note, pre,
    h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", id: "curl-copy",
      onClick: () => copy(code.textContent, "Command copied") }, "Copy command")));
  render();
  return {
    element,
    setKey(token) { key = token; render(); },
    setSensors(sensors) { sensor = sensors.find((s) => s.type === "double") || sensors[0] || null; render(); },
  };
}
