"""Routes of web: the browser console (``/`` serves the single page, ``/console/<file>`` its ES modules,
stylesheet and icon) and ``/api/openapi.json``.

Everything the console does goes through the public API from the browser with the user's token; this blueprint
only hands out files, under a strict Content-Security-Policy (no inline script or style, same-origin only).
Hash routing (``/#/devices/<id>``) means no other server routes are needed.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory
from markupsafe import escape

from infra.wiring import wiring_of
from run.web.openapi import build_document

STATIC_DIR = Path(__file__).with_name("static")
ASSET_PREFIX = "/console"
ASSET_MAX_AGE = 300  # seconds: assets are not fingerprinted, so keep browsers' copies short-lived
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
    "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'"))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

bp = Blueprint("web", __name__)


@bp.get("/api/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of the platform's HTTP API.

    On the cloud URL map ``/api/openapi.json`` matches no API group's prefix, so it falls through to this (default)
    service; locally the composition routes it the same way.
    """
    return build_document(), 200, {"Cache-Control": "public, max-age=300"}


def gateway_url() -> str:
    """The HTTP gateway URL the console shows in its examples (``IOT_CONSOLE_GATEWAY_URL``)."""
    return wiring_of().settings.console_gateway_url


@bp.get("/")
def index():
    """The console page; the gateway URL goes into a meta tag (escaped), read by the scripts."""
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{gateway_url}}", str(escape(gateway_url())))
    response = Response(page, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get(f"{ASSET_PREFIX}/<path:filename>")
def asset(filename: str):
    """A console asset (only the listed file types; never the page template itself)."""
    suffix = Path(filename).suffix
    if suffix not in _TYPES or suffix == ".html":
        abort(404)
    response = send_from_directory(STATIC_DIR, filename, mimetype=_TYPES[suffix], max_age=ASSET_MAX_AGE,
                                   conditional=True)
    response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}"
    return response


@bp.after_app_request
def secure(response: Response) -> Response:
    """Every reply of the web service gets the console's security headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
