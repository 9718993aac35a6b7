"""A small client for the management API (used by tests, the device simulator and the load tests).

    api = ApiClient("http://127.0.0.1:8080")
    api.signin("root", password)
    device = api.create_device("boiler")
    sensor = api.create_sensor(device["id"], "temperature", {"type": "double"}, path=["Water"])
    token = api.device_key(device["id"])["token"]

Every call returns the decoded JSON reply (None for 204) or raises ``ApiError`` with the HTTP status and the
error code of the reply's ``{"error": {"code", "message"}}``. List calls follow ``next_cursor`` and return
every item.
"""

from __future__ import annotations

from typing import Any, Iterator

import requests

DEFAULT_TIMEOUT = 30.0


class ApiError(Exception):
    """A reply with a status of 400 or more; ``code`` is the API's error code."""

    def __init__(self, status: int, code: str, message: str, *, details: Any = None,
                 retry_after: int | None = None, headers: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.retry_after = retry_after
        self.headers = headers or {}


class ApiClient:
    """The management API at ``base_url``, acting with ``token`` (set by ``signin`` or given)."""

    def __init__(self, base_url: str, token: str | None = None, *, session: requests.Session | None = None,
                 timeout: float = DEFAULT_TIMEOUT, headers: dict[str, str] | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session or requests.Session()
        self.timeout = timeout
        self.headers = dict(headers or {})

    # ---- transport -----------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                data: bytes | str | None = None, headers: dict[str, str] | None = None) -> requests.Response:
        """Send one request and return the raw response, whatever its status."""
        merged = dict(self.headers)
        if self.token:
            merged["Authorization"] = f"Bearer {self.token}"
        merged.update(headers or {})
        return self.session.request(method, self.base_url + path, json=json, params=params, data=data,
                                    headers=merged, timeout=self.timeout)

    def call(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        """Send one request; return its JSON (None when empty) or raise ``ApiError``."""
        response = self.request(method, path, json=json, params=params)
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _all(self, path: str, params: dict | None = None) -> list[dict]:
        return list(self.iterate(path, params))

    def iterate(self, path: str, params: dict | None = None, page_size: int = 1000) -> Iterator[dict]:
        """Every item of a listing, following ``next_cursor``."""
        query = {**(params or {}), "limit": page_size}
        while True:
            page = self.call("GET", path, params=query)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    # ---- users ---------------------------------------------------------------------------------------------

    def signin(self, username: str, password: str, *, headers: dict[str, str] | None = None) -> dict:
        """Sign in; the client then acts with the new token. Returns ``{token, expires_in, user, ...}``."""
        response = self.request("POST", "/api/users/signin", json={"username": username, "password": password},
                                headers=headers)
        if response.status_code >= 400:
            raise _error(response)
        reply = response.json()
        self.token = reply["token"]
        return reply

    def me(self) -> dict:
        """The signed-in user."""
        return self.call("GET", "/api/users/self")

    def update_me(self, **fields) -> dict:
        """Change the signed-in user's name or password (a new password needs ``current_password``)."""
        return self.call("PATCH", "/api/users/self", json=fields)

    def create_user(self, username: str, password: str, *, name: str | None = None, role: str = "user") -> dict:
        """Create an account (admins)."""
        body = {"username": username, "password": password, "role": role}
        if name is not None:
            body["name"] = name
        return self.call("POST", "/api/users", json=body)

    def list_users(self) -> list[dict]:
        """Every account (admins)."""
        return self._all("/api/users")

    def get_user(self, user_id: str) -> dict:
        """One account (admins)."""
        return self.call("GET", f"/api/users/{user_id}")

    def update_user(self, user_id: str, /, **fields) -> dict:
        """Change an account's name, password or role (admins)."""
        return self.call("PATCH", f"/api/users/{user_id}", json=fields)

    def delete_user(self, user_id: str) -> dict:
        """Delete an account and everything it owns (admins); the deletion task erasing its readings."""
        return self.call("DELETE", f"/api/users/{user_id}")

    # ---- devices, sensors, keys ----------------------------------------------------------------------------

    def create_device(self, name: str, description: str = "") -> dict:
        """Register a device owned by the caller."""
        return self.call("POST", "/api/devices", json={"name": name, "description": description})

    def list_devices(self, owner_id: str | None = None, status: str | None = None) -> list[dict]:
        """The caller's devices (an admin's: everyone's, or ``owner_id``'s), each with its ``status``; only the
        ``online`` or ``offline`` ones with ``status``."""
        params = {name: value for name, value in (("owner_id", owner_id), ("status", status)) if value}
        return self._all("/api/devices", params or None)

    def get_device(self, device_id: str) -> dict:
        """One device."""
        return self.call("GET", f"/api/devices/{device_id}")

    def update_device(self, device_id: str, /, **fields) -> dict:
        """Change a device's name or description."""
        return self.call("PATCH", f"/api/devices/{device_id}", json=fields)

    def delete_device(self, device_id: str) -> dict:
        """Delete a device with its sensors and their grants; the deletion task erasing its readings."""
        return self.call("DELETE", f"/api/devices/{device_id}")

    def device_key(self, device_id: str) -> dict:
        """A device token for the current key version: ``{token, device_id, key_version}``."""
        return self.call("GET", f"/api/devices/{device_id}/key")

    def rotate_device_key(self, device_id: str) -> dict:
        """Revoke the device's tokens; return a new ``{token, device_id, key_version}``."""
        return self.call("POST", f"/api/devices/{device_id}/key/rotate")

    def device_tree(self, device_id: str) -> dict:
        """The device's sensors nested under the groups of their paths."""
        return self.call("GET", f"/api/devices/{device_id}/tree")

    # ---- device control: the twin and commands ------------------------------------------------------------

    def twin(self, device_id: str) -> dict:
        """The device's desired and reported state, their versions and the delta."""
        return self.call("GET", f"/api/devices/{device_id}/twin")

    def set_desired(self, device_id: str, desired: dict, *, version: int | None = None) -> dict:
        """Replace the device's desired state (only if still at ``version``, when given); return the twin."""
        return self.call("PUT", f"/api/devices/{device_id}/twin/desired", json=desired,
                         params={"version": version} if version is not None else None)

    def send_command(self, device_id: str, name: str, payload: Any = None, *, ttl: int | None = None) -> dict:
        """Queue a command for the device; return it (``status`` queued)."""
        body = {"name": name, "payload": payload, **({"ttl": ttl} if ttl is not None else {})}
        return self.call("POST", f"/api/devices/{device_id}/commands", json=body)

    def commands(self, device_id: str, status: str | None = None) -> list[dict]:
        """The device's commands, newest first (only those in ``status`` when given)."""
        return self._all(f"/api/devices/{device_id}/commands", {"status": status} if status else None)

    def command(self, device_id: str, command_id: str) -> dict:
        """One command of the device."""
        return self.call("GET", f"/api/devices/{device_id}/commands/{command_id}")

    def create_sensor(self, device_id: str, name: str, mapping: dict | str, *, description: str = "",
                      path: list[str] | None = None) -> dict:
        """Add a sensor to a device (``mapping`` as an object or a JSON string)."""
        body: dict[str, Any] = {"name": name, "description": description, "mapping": mapping}
        if path is not None:
            body["path"] = path
        return self.call("POST", f"/api/devices/{device_id}/sensors", json=body)

    def list_sensors(self, device_id: str) -> list[dict]:
        """The sensors of a device."""
        return self._all(f"/api/devices/{device_id}/sensors")

    def get_sensor(self, device_id: str, sensor_id: str) -> dict:
        """One sensor."""
        return self.call("GET", f"/api/devices/{device_id}/sensors/{sensor_id}")

    def update_sensor(self, device_id: str, sensor_id: str, /, **fields) -> dict:
        """Change a sensor's name, description or path."""
        return self.call("PATCH", f"/api/devices/{device_id}/sensors/{sensor_id}", json=fields)

    def delete_sensor(self, device_id: str, sensor_id: str) -> dict:
        """Delete a sensor and its grants; the deletion task erasing its readings."""
        return self.call("DELETE", f"/api/devices/{device_id}/sensors/{sensor_id}")

    def deletion(self, deletion_id: str) -> dict:
        """One deletion task (``state`` is ``pending`` until its readings are erased, then ``done``)."""
        return self.call("GET", f"/api/deletions/{deletion_id}")

    def open_deletions(self) -> list[dict]:
        """The deletion tasks still erasing (an admin: everyone's)."""
        return self.call("GET", "/api/deletions")["items"]

    # ---- consumers, grants, keys ---------------------------------------------------------------------------

    def create_consumer(self, name: str, description: str = "") -> dict:
        """Create a consumer owned by the caller."""
        return self.call("POST", "/api/consumers", json={"name": name, "description": description})

    def list_consumers(self, owner_id: str | None = None) -> list[dict]:
        """The caller's consumers (an admin's: everyone's, or ``owner_id``'s)."""
        return self._all("/api/consumers", {"owner_id": owner_id} if owner_id else None)

    def get_consumer(self, consumer_id: str) -> dict:
        """One consumer."""
        return self.call("GET", f"/api/consumers/{consumer_id}")

    def update_consumer(self, consumer_id: str, /, **fields) -> dict:
        """Change a consumer's name or description."""
        return self.call("PATCH", f"/api/consumers/{consumer_id}", json=fields)

    def delete_consumer(self, consumer_id: str) -> None:
        """Delete a consumer and its grants."""
        self.call("DELETE", f"/api/consumers/{consumer_id}")

    def consumer_key(self, consumer_id: str) -> dict:
        """A consumer token for the current key version: ``{token, consumer_id, key_version}``."""
        return self.call("GET", f"/api/consumers/{consumer_id}/key")

    def rotate_consumer_key(self, consumer_id: str) -> dict:
        """Revoke the consumer's tokens; return a new ``{token, consumer_id, key_version}``."""
        return self.call("POST", f"/api/consumers/{consumer_id}/key/rotate")

    def grant(self, consumer_id: str, sensor_id: str) -> dict:
        """Let a consumer read a sensor of the same owner."""
        return self.call("POST", f"/api/consumers/{consumer_id}/sensors", json={"sensor_id": sensor_id})

    def revoke(self, consumer_id: str, sensor_id: str) -> None:
        """Take a sensor away from a consumer."""
        self.call("DELETE", f"/api/consumers/{consumer_id}/sensors/{sensor_id}")

    def granted_sensors(self, consumer_id: str) -> list[dict]:
        """The sensors a consumer may read."""
        return self._all(f"/api/consumers/{consumer_id}/sensors")


def _error(response: requests.Response) -> ApiError:
    try:
        error = response.json()["error"]
        code, message, details = error["code"], error.get("message", ""), error.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", response.text[:200], None
    retry_after = response.headers.get("Retry-After")
    return ApiError(response.status_code, code, message, details=details,
                    retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None,
                    headers=dict(response.headers))
