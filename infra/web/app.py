"""Flask plumbing every service shares: the app skeleton, JSON errors, trace binding, /healthz, body parsing."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import orjson
from flask import Flask, Response, current_app, request
from flask.json.provider import JSONProvider
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from infra.wiring import attach
from infra.wiring.clients import Clients
from infra.config import Settings
from infra.domain.errors import (AppError, BadRequestError, PayloadTooLargeError, ServiceUnavailableError,
                                UnsupportedMediaTypeError)
from infra.logs import current_trace, trace_from_headers
from infra.web.routing import CONVERTERS

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], None]  # raises when the service cannot serve

MAX_BODY_BYTES = 1024 * 1024  # any request body of the API; gateway-http and the pipeline set their own
MAX_JSON_DEPTH = 100  # nesting of a JSON body: far beyond any real request, far below Python's recursion limit
_BODY_LIMIT = "IOT_MAX_BODY_BYTES"  # the app.config key limit_bodies sets


class OrjsonProvider(JSONProvider):
    """Flask JSON provider backed by orjson (several times faster than the stdlib on the hot paths)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=str).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


def create_flask_app(name: str, settings: Settings | None = None, clients: Clients | None = None, *,
                     health: HealthCheck | None = None) -> Flask:
    """Build a Flask app with JSON errors, trace binding, optional-trailing-slash routes and ``/healthz``.

    ``settings`` default to the environment; ``clients`` (shared when several apps share a process) default
    to a new set. Routes reach both, and everything built on them, through ``infra.wiring.wiring_of()``.
    """
    settings = settings or Settings.from_env()
    app = Flask(name)
    app.json = OrjsonProvider(app)
    # Rules are declared without a trailing slash; with strict_slashes off they match either form.
    app.url_map.strict_slashes = False
    app.url_map.converters.update(CONVERTERS)
    limit_bodies(app, MAX_BODY_BYTES)
    # On the emulators each service's clients refuse what its IAM does not allow (Clients.for_service).
    attach(app, settings, (clients or Clients(settings)).for_service(name))
    register_error_handlers(app)

    @app.before_request
    def bind_trace() -> None:
        current_trace.set(trace_from_headers(request.headers))

    @app.get("/healthz")
    def healthz():
        """Answer 200 when the service can serve, 503 when a dependency it needs is down."""
        if health is not None:
            try:
                health()
            except Exception as exc:  # any failure means "not ready"; the reason goes to the log only
                logger.warning("health check failed: %s", exc)
                return {"status": "unavailable"}, 503
        return {"status": "ok", "service": name}

    return app


def before_first_request(app: Flask, step: Callable[[], Any]) -> None:
    """Run ``step`` once per process, before the first request ``app`` serves; until it succeeds, every request
    tries it again (a failure answers 503, so the caller retries). Requests that reach no route (404, 405) and
    ``OPTIONS`` serve nothing and skip it."""
    done = threading.Event()
    lock = threading.Lock()

    @app.before_request
    def run_step() -> None:
        if done.is_set() or request.routing_exception is not None or request.method == "OPTIONS":
            return
        with lock:
            if done.is_set():
                return
            try:
                step()
            except AppError:
                raise
            except Exception as exc:
                logger.error("a start-up step failed; retrying on the next request: %s", exc)
                raise ServiceUnavailableError("the service is starting; try again", retry_after=2) from exc
            done.set()


def register_error_handlers(app: Flask) -> None:
    """Render AppError, HTTP errors and unexpected exceptions as ``{"error": {"code", "message"}}``."""

    @app.errorhandler(AppError)
    def app_error(exc: AppError):
        return error_response(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if isinstance(exc, RequestEntityTooLarge):  # Werkzeug refused a declared length: the platform's code
            return error_response(_too_large())
        code = (exc.name or "error").lower().replace(" ", "_")
        body = {"error": {"code": code, "message": exc.description or exc.name}}
        response = app.json.response(body)
        response.status_code = exc.code or 500
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # The traceback goes to the log only; callers get a generic message.
        logger.exception("unhandled error on %s %s", request.method, request.path)
        body = {"error": {"code": "internal", "message": "internal server error"}}
        return app.json.response(body), 500


def error_response(exc: AppError) -> Response:
    """Turn an AppError into its JSON response with status and headers."""
    response = current_app.json.response(exc.to_dict())
    response.status_code = exc.status
    response.headers.update(exc.headers)
    return response


# curl -d sends form-urlencoded unless told otherwise, and small device HTTP stacks often send no type at all;
# the management API and gateway-http read such bodies as JSON, so the original README's curl calls work
# unchanged.
_LENIENT_TYPES = ("", "application/x-www-form-urlencoded", "text/plain")


def require_json_type(*, lenient: bool = False, what: str = "the body") -> None:
    """415 unless the request declares JSON; with ``lenient``, no type or curl's default types pass too."""
    mimetype = request.mimetype or ""
    declared_json = mimetype == "application/json" or mimetype.endswith("+json")
    if not declared_json and not (lenient and mimetype in _LENIENT_TYPES):
        raise UnsupportedMediaTypeError(f"send {what} as application/json")


def limit_bodies(app: Flask, max_bytes: int) -> None:
    """Refuse request bodies over ``max_bytes`` (read through ``request_bytes``) with 413 ``too_large``.

    Werkzeug refuses a declared length over ``MAX_CONTENT_LENGTH`` unread, but stops reading a chunked body there
    without a word: it would reach the app cut short. So Werkzeug is told one byte more, and ``request_bytes``
    refuses a body that holds that byte.
    """
    app.config["MAX_CONTENT_LENGTH"] = max_bytes + 1
    app.config[_BODY_LIMIT] = max_bytes


def request_bytes() -> bytes:
    """The request body, whole.

    Raises:
        PayloadTooLargeError: the body, declared or chunked, is over the app's limit (``limit_bodies``).
    """
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise _too_large() from None
    if len(data) > current_app.config[_BODY_LIMIT]:
        raise _too_large()
    return data


def _too_large() -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the body exceeds {current_app.config[_BODY_LIMIT]} bytes")


def json_body(*, allow_list: bool = False, lenient: bool = False) -> Any:
    """Parse the request body as JSON: 415 when it is not declared JSON, 413 over the body limit, 400 when
    malformed or nested deeper than ``MAX_JSON_DEPTH``.

    With ``lenient``, a body without a content type (or curl's default form type) is read as JSON too.
    Returns a dict (or a list when ``allow_list``); anything else is a 400.
    """
    require_json_type(lenient=lenient)
    try:
        body = orjson.loads(request_bytes())
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"malformed JSON: {exc}") from None
    if _deeper_than(body, MAX_JSON_DEPTH):
        # Whatever walks the body next (a copy, a validator) recurses; refuse before it hits the recursion limit.
        raise BadRequestError(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(body, dict) or (allow_list and isinstance(body, list)):
        return body
    raise BadRequestError("the body must be a JSON object" + (" or array" if allow_list else ""))


def _deeper_than(value: Any, limit: int) -> bool:
    """True when objects and arrays nest more than ``limit`` levels in ``value`` (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
