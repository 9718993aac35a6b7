"""Building blocks of the OpenAPI 3.1 document served at ``/api/openapi.json``.

Each API group describes its own routes in a fragment module (``run/<group>/openapi.py``) exposing ``PATHS``
(OpenAPI path items) and ``SCHEMAS`` (component schemas), written with the helpers here; ``run/web`` merges
the fragments with ``document()``. Shared pieces: the error shape and error responses, the three bearer-token
security schemes, listing parameters and the list reply shape.
"""

from __future__ import annotations

from typing import Any, Iterable

from infra.domain.model import DESCRIPTION_MAX, NAME_MAX

OPENAPI_VERSION = "3.1.0"

DESCRIPTION = """\
Management and data API of the IoT platform.

* Authentication: `Authorization: Bearer <token>`. User tokens come from `POST /api/users/signin`; device and
  consumer tokens from the `key` routes. A token of one kind is refused everywhere else.
* Errors are JSON: `{"error": {"code": "...", "message": "...", "details"?: {...}}}`. A missing token is 401
  `unauthorized`; a bad, expired, revoked or wrong-kind token is 401 `invalid_token`; a missing role is 403;
  another tenant's object is 404 (its existence is not revealed).
* Create calls answer 201 with the created object at the top level (with its `id`). Lists answer
  `{"items": [...], "next_cursor": "..." | null}`; pass `cursor` to get the next page.
* Request bodies are JSON objects (sent as `application/json`, or without a content type as curl does).
  Unknown fields are refused (400 `unknown_field`), as are fields that cannot change (400 `read_only_field`).
* Trailing slashes are optional on every path.
"""

TIMESTAMP = {"type": "string", "format": "date-time", "description": "ISO-8601 UTC"}
ID = {"type": "string", "pattern": "^[a-z0-9]{1,64}$", "examples": ["3f9a1c0b7d2e"]}
NAME = {"type": "string", "minLength": 1, "maxLength": NAME_MAX}
DESCRIPTION_FIELD = {"type": "string", "maxLength": DESCRIPTION_MAX}
DESCRIPTION_INPUT = {**DESCRIPTION_FIELD, "type": ["string", "null"], "description": "null means empty"}

_ERRORS = {
    400: ("BadRequest", "Malformed JSON, a body that is not an object, or a field that is unknown, read-only, "
                        "missing or invalid (codes `bad_request`, `unknown_field`, `read_only_field`, "
                        "`missing_field`, `invalid_field`, `invalid_mapping`, `unknown_sensor_type`, "
                        "`weak_password`, `invalid_query`, `invalid_header`)."),
    401: ("Unauthorized", "No bearer token (`unauthorized`), or one that is not valid here (`invalid_token`)."),
    403: ("Forbidden", "Authenticated, but the role (or rule) does not allow this (`forbidden`)."),
    404: ("NotFound", "No such object, or one of another tenant (`not_found`)."),
    409: ("Conflict", "The request conflicts with the current state."),
    412: ("PreconditionFailed", "The version the request names (`If-Match`) is no longer current "
                                "(`version_conflict`): read it again, then retry."),
    413: ("TooLarge", "The body, or a document in it, is larger than its limit (`too_large`)."),
    415: ("UnsupportedMediaType", "The body is declared as something other than JSON."),
    429: ("RateLimited", "Too many attempts; retry after `Retry-After` seconds (`rate_limited`)."),
}

COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                               "details": {"type": "object"}}}},
        },
    },
    "responses": {
        name: {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
               **({"headers": {"Retry-After": {"schema": {"type": "integer"}}}} if status == 429 else {}),
               **({"headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}} if status == 401 else {})}
        for status, (name, text) in _ERRORS.items()
    },
    "securitySchemes": {
        "userToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                      "description": "A user token from POST /api/users/signin (expires)."},
        "deviceToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                        "description": "A device token from GET /api/devices/{device_id}/key (revoked by rotation)."},
        "consumerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                          "description": "A consumer token from GET /api/consumers/{consumer_id}/key."},
    },
    "parameters": {
        "limit": {"name": "limit", "in": "query", "required": False,
                  "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                  "description": "Items per page."},
        "cursor": {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
                   "description": "`next_cursor` of the previous page."},
    },
}


def ref(name: str) -> dict:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def path_parameter(name: str, description: str) -> dict:
    """A path parameter (ids are strings)."""
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


def query_parameter(name: str, description: str, schema: dict | None = None) -> dict:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"},
            "description": description}


LIST_PARAMETERS = [{"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/cursor"}]


def list_schema(item: str) -> dict:
    """The schema of a list reply of ``item`` objects."""
    return {"type": "object", "required": ["items", "next_cursor"],
            "properties": {"items": {"type": "array", "items": ref(item)},
                           "next_cursor": {"type": ["string", "null"]}}}


def obj(properties: dict, required: Iterable[str] = (), *, closed: bool = True, **extra) -> dict:
    """An object schema; ``closed`` (the default) refuses properties not listed, as the API does."""
    schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def operation(operation_id: str, summary: str, tag: str, *, ok: int = 200, reply: dict | None = None,
              reply_description: str = "OK", body: dict | None = None, errors: Iterable[int] = (),
              parameters: Iterable[dict] = (), security: str | None = "userToken", description: str = "",
              reply_headers: dict | None = None) -> dict:
    """One operation: its reply (``ok`` status with ``reply`` schema, or none for 204), body and error replies.

    Every authenticated operation also documents 401; every operation with a body documents 400 and 415.
    """
    statuses = set(errors)
    if security:
        statuses.add(401)
    if body is not None:
        statuses |= {400, 415}
    success: dict[str, Any] = {"description": reply_description}
    if reply is not None:
        success["content"] = {"application/json": {"schema": reply}}
    if reply_headers:
        success["headers"] = reply_headers
    result: dict[str, Any] = {
        "operationId": operation_id, "summary": summary, "tags": [tag],
        "responses": {str(ok): success,
                      **{str(status): {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
                         for status in sorted(statuses)}},
    }
    if description:
        result["description"] = description
    if parameters:
        result["parameters"] = list(parameters)
    if body is not None:
        result["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    result["security"] = [{security: []}] if security else []
    return result


def document(fragments: Iterable[Any], *, title: str = "IoT platform API", version: str = "1") -> dict:
    """Merge fragment modules (each with ``PATHS`` and ``SCHEMAS``) into one OpenAPI document.

    Raises:
        ValueError: two fragments describe the same path or schema.
    """
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(COMPONENTS["schemas"])
    tags: list[dict] = []
    for fragment in fragments:
        for path, item in fragment.PATHS.items():
            if path in paths:
                raise ValueError(f"{path} is described twice")
            paths[path] = item
        for name, schema in fragment.SCHEMAS.items():
            if name in schemas:
                raise ValueError(f"schema {name} is described twice")
            schemas[name] = schema
        tags.extend(getattr(fragment, "TAGS", []))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": DESCRIPTION},
        "tags": tags,
        "paths": dict(sorted(paths.items())),
        "components": {**COMPONENTS, "schemas": schemas},
    }


OWNER_FILTER = query_parameter("owner_id", "Admins only: list one owner's objects (ignored for others).")


def keyholder_fragment(noun: str, tag: str, *, deletes: str, key_description: str) -> tuple[dict, dict, dict]:
    """Schemas, paths and the id parameter of the routes ``run/keyholder_routes.py`` adds for ``noun``
    (``device`` or ``consumer``): list, create, get, patch, delete, key, key rotation.

    ``deletes`` says what goes with a deleted one; ``key_description`` describes its token.
    """
    title, base = noun.capitalize(), f"/api/{noun}s"
    item = f"{base}/{{{noun}_id}}"
    id_parameter = path_parameter(f"{noun}_id", f"The {noun}'s id.")
    schemas = {
        title: obj({"id": ID, "owner_id": ID, "name": NAME, "description": DESCRIPTION_FIELD,
                    "key_version": {"type": "integer", "minimum": 1}, "created_at": TIMESTAMP,
                    "updated_at": TIMESTAMP},
                   ["id", "owner_id", "name", "description", "key_version", "created_at", "updated_at"]),
        f"{title}List": list_schema(title),
        f"{title}Create": obj({"name": NAME, "description": DESCRIPTION_INPUT}, ["name"]),
        f"{title}Patch": obj({"name": NAME, "description": DESCRIPTION_INPUT},
                             description="Only the name and description can change."),
        f"{title}Key": obj({"token": {"type": "string"}, f"{noun}_id": ID, "key_version": {"type": "integer"}},
                           ["token", f"{noun}_id", "key_version"], description=key_description),
    }
    paths = {
        base: {
            "get": operation(f"list{title}s", f"The caller's {noun}s (admins: everyone's)", tag,
                             reply=ref(f"{title}List"), parameters=[*LIST_PARAMETERS, OWNER_FILTER], errors=[400]),
            "post": operation(f"create{title}", f"Create a {noun} owned by the caller", tag, ok=201,
                              reply_description="Created", reply=ref(title), body=ref(f"{title}Create")),
        },
        item: {
            "parameters": [id_parameter],
            "get": operation(f"get{title}", f"One {noun}", tag, reply=ref(title), errors=[404]),
            "patch": operation(f"update{title}", f"Change a {noun}'s name or description", tag,
                               body=ref(f"{title}Patch"), reply=ref(title), errors=[404]),
            "delete": operation(f"delete{title}", f"Delete a {noun} {deletes}", tag, ok=204,
                                reply_description="Deleted", errors=[404]),
        },
        f"{item}/key": {
            "parameters": [id_parameter],
            "get": operation(f"get{title}Key", f"A {noun} token for the current key version", tag,
                             reply=ref(f"{title}Key"), errors=[404]),
        },
        f"{item}/key/rotate": {
            "parameters": [id_parameter],
            "post": operation(f"rotate{title}Key", f"Revoke every token of the {noun} and return a new one", tag,
                              reply=ref(f"{title}Key"), errors=[404],
                              description="Verifiers refuse the old tokens within IOT_REVOCATION_CACHE_TTL seconds."),
        },
    }
    return schemas, paths, id_parameter
