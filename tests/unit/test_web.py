"""The shared Flask skeleton: JSON errors everywhere, optional trailing slashes, body parsing, tracing."""

import io
import logging

import orjson
import pytest

from infra.config import Settings
from infra.domain.errors import ConflictError, RateLimitedError
from infra.logs import CloudLoggingFormatter, current_trace, trace_from_headers
from infra.web.app import MAX_BODY_BYTES, MAX_JSON_DEPTH, create_flask_app, json_body


@pytest.fixture
def app():
    app = create_flask_app("test", Settings.from_env({}))

    @app.post("/things")
    def things():
        return {"got": json_body()}

    @app.post("/lenient")
    def lenient():
        return {"got": json_body(lenient=True)}

    @app.get("/conflict")
    def conflict():
        raise ConflictError("name taken", details={"field": "name"})

    @app.get("/slow-down")
    def slow_down():
        raise RateLimitedError("too many attempts", retry_after=30)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    @app.get("/trace")
    def trace():
        return {"trace": current_trace.get()}

    return app


def test_healthz_answers_ok(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "service": "test"}


def test_healthz_reports_a_failed_dependency():
    def down():
        raise ConnectionError("firestore unreachable")

    app = create_flask_app("test", Settings.from_env({}), health=down)
    assert app.test_client().get("/healthz").status_code == 503


def test_trailing_slash_is_optional(app):
    client = app.test_client()
    for path in ("/things", "/things/"):
        assert client.post(path, json={"a": 1}).json == {"got": {"a": 1}}


def test_app_errors_render_the_json_shape_with_headers(app):
    client = app.test_client()
    response = client.get("/conflict")
    assert response.status_code == 409
    assert response.json == {"error": {"code": "conflict", "message": "name taken", "details": {"field": "name"}}}
    limited = client.get("/slow-down")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "30"
    assert limited.json["error"]["code"] == "rate_limited"


def test_unknown_route_and_method_are_json(app):
    client = app.test_client()
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong = client.delete("/things/")  # the optional slash keeps 405
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    assert wrong.json["error"]["code"] == "method_not_allowed"


def test_unexpected_errors_hide_their_detail(app, caplog):
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.json == {"error": {"code": "internal", "message": "internal server error"}}
    assert "secret detail" not in response.get_data(as_text=True)
    assert any("secret detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)


@pytest.mark.parametrize("body, content_type, status, code", [
    (b"{not json", "application/json", 400, "bad_request"),
    (b"[1, 2]", "application/json", 400, "bad_request"),
    (b'{"a": 1}', "text/csv", 415, "unsupported_media_type"),
    (b'{"a": 1}', None, 415, "unsupported_media_type"),
])
def test_bodies_are_checked(app, body, content_type, status, code):
    headers = {"Content-Type": content_type} if content_type else {}
    response = app.test_client().post("/things", data=body, headers=headers)
    assert response.status_code == status
    assert response.json["error"]["code"] == code


def _body(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    return b'{"a": "' + b"x" * (size - 9) + b'"}'


@pytest.mark.parametrize("chunked", [False, True], ids=["declared length", "chunked"])
def test_bodies_over_the_limit_are_413_declared_or_chunked(app, chunked):
    client = app.test_client()

    def post(body: bytes):
        if not chunked:
            return client.post("/things", data=body, content_type="application/json")
        # What gunicorn hands over for Transfer-Encoding: chunked: no length, a stream it ends itself.
        return client.post("/things", input_stream=io.BytesIO(body), content_type="application/json",
                           headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})

    assert len(_body(MAX_BODY_BYTES)) == MAX_BODY_BYTES
    assert post(_body(MAX_BODY_BYTES)).status_code == 200
    for size in (MAX_BODY_BYTES + 1, 3 * MAX_BODY_BYTES):
        response = post(_body(size))
        assert (response.status_code, response.json["error"]["code"]) == (413, "too_large"), size


@pytest.mark.parametrize("depth, status", [(MAX_JSON_DEPTH, 200), (MAX_JSON_DEPTH + 1, 400), (1000, 400)])
def test_bodies_nest_at_most_max_json_depth_levels(app, depth, status):
    # Alternating objects and arrays, as a query nests: {"a": [{"a": [... 1 ...]}]}
    opening = "".join('{"a": ' if level % 2 == 0 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 == 0 else "]" for level in reversed(range(depth)))
    response = app.test_client().post("/things", data=opening + "1" + closing, content_type="application/json")
    assert response.status_code == status, response.json
    if status == 400:
        assert response.json["error"] == {"code": "bad_request",
                                          "message": f"the body nests deeper than {MAX_JSON_DEPTH} levels"}


def test_lenient_bodies_accept_curls_default_type(app):
    client = app.test_client()
    response = client.post("/lenient", data=b'{"a": 1}', content_type="application/x-www-form-urlencoded")
    assert response.json == {"got": {"a": 1}}
    assert client.post("/lenient", data=b'{"a": 1}', content_type="image/png").status_code == 415


def test_trace_is_bound_from_cloud_run_and_w3c_headers(app):
    client = app.test_client()
    cloud = client.get("/trace", headers={"X-Cloud-Trace-Context": "abc123/456;o=1"})
    assert cloud.json == {"trace": "abc123"}
    w3c = client.get("/trace", headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
    assert w3c.json == {"trace": "a" * 32}
    assert trace_from_headers({}) is None


def test_log_lines_are_cloud_logging_json():
    formatter = CloudLoggingFormatter(project_id="p1", service="svc")
    token = current_trace.set("t1")
    try:
        record = logging.makeLogRecord({"levelname": "WARNING", "msg": "hello %s", "args": ("world",),
                                        "name": "x", "device_id": "d1"})
        entry = orjson.loads(formatter.format(record))
    finally:
        current_trace.reset(token)
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "hello world"
    assert entry["logging.googleapis.com/trace"] == "projects/p1/traces/t1"
    assert entry["device_id"] == "d1"
    assert entry["serviceContext"] == {"service": "svc"}
