"""OpenAPI fragment of api-users: sign-in, the caller's account, user administration, JWKS."""

from __future__ import annotations

from infra.domain.model import PASSWORD_MAX, PASSWORD_MIN, ROLES
from infra.web.openapi import (LIST_PARAMETERS, NAME, TIMESTAMP, ID, list_schema, obj, operation, path_parameter,
                           ref)
from run.api_devices.deletion_openapi import accepting

TAG = "users"
TAGS = [{"name": TAG, "description": "Sign-in, accounts and the token signing keys."}]

USERNAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{2,39}$"}
PASSWORD = {"type": "string", "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX}
ROLE = {"type": "string", "enum": list(ROLES)}
USER_ID = path_parameter("user_id", "The user's id.")

SCHEMAS = {
    "User": obj({"id": ID, "username": USERNAME, "name": NAME, "role": ROLE, "created_at": TIMESTAMP,
                 "updated_at": TIMESTAMP},
                ["id", "username", "name", "role", "created_at", "updated_at"],
                description="An account. Password hashes are never returned."),
    "UserList": list_schema("User"),
    "UserCreate": obj({"username": USERNAME, "password": PASSWORD, "name": NAME, "role": ROLE},
                      ["username", "password"], description="`name` defaults to the username, `role` to `user`."),
    "UserPatch": obj({"name": NAME, "password": PASSWORD, "role": ROLE},
                     description="Fields to change; `username`, `id` and timestamps cannot change."),
    "SelfPatch": obj({"name": NAME, "password": PASSWORD, "current_password": {"type": "string"}},
                     description="A new `password` needs the `current_password`, and signs the account out "
                                 "everywhere: every earlier token, this one included, gets 401 `invalid_token`."),
    "SignIn": obj({"username": {"type": "string"}, "password": {"type": "string"}}, ["username", "password"]),
    "SignedIn": obj({"token": {"type": "string"}, "token_type": {"const": "Bearer"},
                     "expires_in": {"type": "integer", "description": "Seconds until the token expires."},
                     "user": ref("User")}, ["token", "token_type", "expires_in", "user"]),
    "Jwks": obj({"keys": {"type": "array", "items": {"type": "object"}}}, ["keys"], closed=False),
}

PATHS = {
    "/api/users/signin": {"post": operation(
        "signIn", "Exchange a username and password for a user token", TAG, body=ref("SignIn"),
        reply=ref("SignedIn"), errors=[401, 429], security=None,
        description="Throttled per (username, client address): after IOT_SIGNIN_MAX_FAILURES attempts that did "
                    "not succeed within IOT_SIGNIN_WINDOW seconds, 429 with Retry-After, even with the right "
                    "password. A wrong username and a wrong password both give 401 `invalid_credentials`.")},
    "/api/users/self": {
        "get": operation("getSelf", "The caller's own account", TAG, reply=ref("User")),
        "patch": operation("updateSelf", "Change the caller's own name or password", TAG, body=ref("SelfPatch"),
                           reply=ref("User"), errors=[403]),
    },
    "/api/users": {
        "get": operation("listUsers", "Every account (admins)", TAG, reply=ref("UserList"),
                         parameters=LIST_PARAMETERS, errors=[400, 403]),
        "post": operation("createUser", "Create an account (admins)", TAG, ok=201, reply=ref("User"),
                          reply_description="Created", body=ref("UserCreate"), errors=[403, 409],
                          description="409 `username_taken` when the username exists."),
    },
    "/api/users/{user_id}": {
        "parameters": [USER_ID],
        "get": operation("getUser", "One account (admins)", TAG, reply=ref("User"), errors=[403, 404]),
        "patch": operation("updateUser", "Change an account's name, password or role (admins)", TAG,
                           body=ref("UserPatch"), reply=ref("User"), errors=[403, 404, 409],
                           description="409 `cannot_change_own_role` when an admin would demote themself."),
        "delete": accepting(operation(
            "deleteUser", "Delete an account and everything it owns (admins)", TAG, ok=204,
            reply_description="Deleted", errors=[403, 404, 409],
            description="Deletes the user's devices, sensors, consumers and grants too, and erases their readings "
                        "(the reply's deletion task). 409 `cannot_delete_self` for the caller's own account.")),
    },
    "/.well-known/jwks.json": {"get": operation(
        "getJwks", "The public keys that verify the platform's tokens (RS256, by kid)", TAG, reply=ref("Jwks"),
        security=None)},
}
