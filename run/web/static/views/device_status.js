// A device's status as the API reports it: online or offline, how it is connected, when it was last seen.

import { formatTime, h } from "../dom.js";

// A badge "online" / "offline" with the device's last sighting, e.g. "online · mqtt · seen 12:00:01".
export function statusView(status) {
  const online = Boolean(status?.online);
  const parts = [];
  if (status?.connected) parts.push(`connected over ${status.protocols.join(", ")} since ${formatTime(status.connected_since)}`);
  parts.push(status?.last_seen ? `last seen ${formatTime(status.last_seen)}` : "never seen");
  return h("span", { class: "device-status" },
    h("span", { class: `badge ${online ? "online" : "offline"}` }, online ? "online" : "offline"),
    " ", h("span", { class: "muted last-seen" }, parts.join(" · ")));
}
