#!/usr/bin/env bash
# README's "Device state and commands" with curl and jq: the owner sets a desired state and sends a command through
# the API, the device reads the state, reports its own, takes the command and answers it through gateway-http, and
# the owner sees both. Needs API, GW and ADMIN_PASSWORD (ADMIN_USERNAME: root). Each step checks its own output.
set -euo pipefail

: "${API:?set API, e.g. http://127.0.0.1:8080}"
: "${GW:?set GW, e.g. http://127.0.0.1:8083}"
: "${ADMIN_PASSWORD:?set ADMIN_PASSWORD}"
ADMIN_USERNAME="${ADMIN_USERNAME:-root}"

fail() { echo "FAILED: $*" >&2; exit 1; }
expect() { [ "$2" = "$3" ] || fail "$1: expected $3, got $2"; }

CREDENTIALS=$(jq -n --arg u "$ADMIN_USERNAME" --arg p "$ADMIN_PASSWORD" '{username: $u, password: $p}')
TOKEN=$(curl -s $API/api/users/signin -d "$CREDENTIALS" | jq -r .token)
DEVICE=$(curl -s $API/api/devices/ -H "Authorization: Bearer $TOKEN" -d '{"name":"boiler","description":"basement"}' | jq -r .id)
KEY=$(curl -s $API/api/devices/$DEVICE/key -H "Authorization: Bearer $TOKEN" | jq -r .token)

# The owner
expect "a new device" "$(curl -s $API/api/devices/$DEVICE -H "Authorization: Bearer $TOKEN" | jq -c .status.online)" false
DESIRED=$(curl -s -X PUT $API/api/devices/$DEVICE/twin/desired -H "Authorization: Bearer $TOKEN" -H 'If-Match: "0"' \
  -d '{"setpoint": 21, "mode": "eco"}')
expect "the desired version" "$(echo "$DESIRED" | jq .desired_version)" 1
STALE=$(curl -s -o /dev/null -w '%{http_code}' -X PUT $API/api/devices/$DEVICE/twin/desired \
  -H "Authorization: Bearer $TOKEN" -H 'If-Match: "0"' -d '{"setpoint": 22}')
expect "a stale If-Match" "$STALE" 412
COMMAND=$(curl -s $API/api/devices/$DEVICE/commands -H "Authorization: Bearer $TOKEN" \
  -d '{"name": "reboot", "payload": {"delay": 5}, "ttl": 600}' | jq -r .id)
expect "the queued commands" "$(curl -s "$API/api/devices/$DEVICE/commands?status=queued" \
  -H "Authorization: Bearer $TOKEN" | jq -r '.items[0].id')" "$COMMAND"
echo "owner: desired state set, command $COMMAND queued"

# The HTTP device
expect "the desired state" "$(curl -s $GW/twin/desired -H "Authorization: Bearer $KEY" | jq -c .)" \
  '{"version":1,"desired":{"setpoint":21,"mode":"eco"}}'
expect "an unchanged desired state" "$(curl -s -o /dev/null -w '%{http_code}' "$GW/twin/desired?wait=1" \
  -H "Authorization: Bearer $KEY" -H 'If-None-Match: "1"')" 304
expect "the report" "$(curl -s -X PUT $GW/twin/reported -H "Authorization: Bearer $KEY" \
  -d '{"setpoint": 19, "fw": "1.4"}' | jq .version)" 1
expect "the polled command" "$(curl -s $GW/commands -H "Authorization: Bearer $KEY" | jq -r '.items[0].id')" "$COMMAND"
expect "the answer" "$(curl -s $GW/commands/$COMMAND/result -H "Authorization: Bearer $KEY" \
  -d '{"status": "succeeded", "result": {"up": 3}}' | jq -r .status)" succeeded
echo "device: desired state read, state reported, command answered"

# The owner again
expect "the command" "$(curl -s $API/api/devices/$DEVICE/commands/$COMMAND -H "Authorization: Bearer $TOKEN" \
  | jq -r .status)" succeeded
expect "the delta" "$(curl -s $API/api/devices/$DEVICE/twin -H "Authorization: Bearer $TOKEN" | jq -c .delta)" \
  '{"setpoint":21,"mode":"eco"}'
expect "the online filter" "$(curl -s "$API/api/devices?status=online" -H "Authorization: Bearer $TOKEN" \
  | jq -r --arg d "$DEVICE" '[.items[] | select(.id == $d)] | length')" 1
echo "owner: command succeeded, device online"
