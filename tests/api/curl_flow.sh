#!/usr/bin/env bash
# The original README's flow with curl and jq, unchanged in shape: sign in, create a device, create a sensor with
# the mapping as a JSON string, get the device key. Needs BASE_URL and ADMIN_PASSWORD (ADMIN_USERNAME: root).
# Each step checks its own output and says what it got when it fails.
set -euo pipefail

: "${BASE_URL:?set BASE_URL, e.g. http://127.0.0.1:8080}"
: "${ADMIN_PASSWORD:?set ADMIN_PASSWORD}"
ADMIN_USERNAME="${ADMIN_USERNAME:-root}"

fail() { echo "FAILED: $*" >&2; exit 1; }

# 1. Sign in (a JSON body built by jq, so any password is quoted right).
CREDENTIALS=$(jq -n --arg u "$ADMIN_USERNAME" --arg p "$ADMIN_PASSWORD" '{username: $u, password: $p}')
SIGNIN=$(curl -sS -X POST "$BASE_URL/api/users/signin" -H "Content-Type: application/json" -d "$CREDENTIALS")
TOKEN=$(echo "$SIGNIN" | jq -r .token)
[ -n "$TOKEN" ] && [ "$TOKEN" != "null" ] || fail "signin returned no token: $SIGNIN"
[ "$(echo "$TOKEN" | tr -cd . | wc -c)" -eq 2 ] || fail "the token is not a JWT: $TOKEN"
echo "signed in"

# 2. Create a device (trailing slash, as in the original README).
DEVICE=$(curl -sS -X POST "$BASE_URL/api/devices/" -H "Authorization: Bearer $TOKEN" \
  -H "Content-Type: application/json" -d '{"name": "curl-device", "description": "made by curl_flow.sh"}')
DEVICE_ID=$(echo "$DEVICE" | jq -r .id)
[ -n "$DEVICE_ID" ] && [ "$DEVICE_ID" != "null" ] || fail "device creation returned no id: $DEVICE"
[ "$(echo "$DEVICE" | jq -r .name)" = "curl-device" ] || fail "unexpected device: $DEVICE"
echo "device $DEVICE_ID"

# 3. Create a sensor; the mapping is a string holding JSON. No Content-Type: curl's default form type is read as JSON.
SENSOR=$(curl -sS -X POST "$BASE_URL/api/devices/$DEVICE_ID/sensors/" -H "Authorization: Bearer $TOKEN" \
  -d '{"name": "temperature", "description": "boiler water", "mapping": "{\"type\":\"double\"}"}')
SENSOR_ID=$(echo "$SENSOR" | jq -r .id)
[ -n "$SENSOR_ID" ] && [ "$SENSOR_ID" != "null" ] || fail "sensor creation returned no id: $SENSOR"
[ "$(echo "$SENSOR" | jq -r .type)" = "double" ] || fail "sensor type is not double: $SENSOR"
[ "$(echo "$SENSOR" | jq -r .device_id)" = "$DEVICE_ID" ] || fail "sensor is not on the device: $SENSOR"
echo "sensor $SENSOR_ID"

# 4. Get the device key.
KEY=$(curl -sS "$BASE_URL/api/devices/$DEVICE_ID/key" -H "Authorization: Bearer $TOKEN")
DEVICE_TOKEN=$(echo "$KEY" | jq -r .token)
[ -n "$DEVICE_TOKEN" ] && [ "$DEVICE_TOKEN" != "null" ] || fail "no device token: $KEY"
[ "$(echo "$KEY" | jq -r .device_id)" = "$DEVICE_ID" ] || fail "key of another device: $KEY"
echo "device key received"

# The three ids and the device token, for the caller to check further.
echo "RESULT $DEVICE_ID $SENSOR_ID $DEVICE_TOKEN"
