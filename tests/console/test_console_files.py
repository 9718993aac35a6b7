"""The console's files and headers, checked on the Flask app alone (no browser, no emulators)."""

import re
from pathlib import Path

import pytest

from infra.config import Settings
from run.web import create_app
from run.web.views import ASSET_PREFIX, STATIC_DIR

IMPORT = re.compile(r"""(?:^|\n)\s*import\s[^;]*?\sfrom\s+["']([^"']+)["']""")


def console_client(data_dir, **environ):
    return create_app(Settings.from_env({"IOT_DATA_DIR": str(data_dir), **environ})).test_client()


@pytest.fixture
def client(tmp_path):
    return console_client(tmp_path)


def test_every_module_import_resolves_to_a_console_file():
    modules = sorted(STATIC_DIR.rglob("*.js"))
    assert {p.name for p in modules} >= {"app.js", "api.js", "chart.js", "dom.js"}
    for module in modules:
        for target in IMPORT.findall(module.read_text()):
            assert target.startswith("."), f"{module.name} imports {target}: only relative imports, no CDN"
            assert (module.parent / target).resolve().is_file(), f"{module.name} imports missing {target}"


def test_no_inner_html_or_inline_code_in_the_console():
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in (".js", ".html"):
            text = path.read_text()
            assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", text), path.name
            assert not re.search(r"\son[a-z]+=|\sstyle=|<script>", text), path.name
            assert "localStorage" not in text, path.name


def test_the_page_references_only_served_assets(client):
    page = client.get("/").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="(/[^"]+)"', page):
        assert url.startswith(ASSET_PREFIX + "/")
        assert client.get(url).status_code == 200, url


def test_the_gateway_url_is_configurable_and_escaped(client, tmp_path):
    assert 'content="http://127.0.0.1:8083/"' in client.get("/").get_data(as_text=True)
    hostile = console_client(tmp_path, IOT_CONSOLE_GATEWAY_URL='https://gw.example/"><script>alert(1)</script>')
    page = hostile.get("/").get_data(as_text=True)
    assert "<script>alert" not in page and "https://gw.example/&#34;&gt;&lt;script&gt;" in page


@pytest.mark.parametrize("path", ["/console/index.html", "/console/../console.py", "/console/%2e%2e/console.py",
                                  "/console/missing.js", "/console/views"])
def test_only_console_assets_are_served(client, path):
    assert client.get(path).status_code == 404


def test_security_and_cache_headers(client):
    index = client.get("/")
    assert index.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in index.headers["Content-Security-Policy"]
    assert index.headers["X-Content-Type-Options"] == "nosniff"
    style = client.get("/console/app.css")
    assert style.mimetype == "text/css" and style.headers["Cache-Control"] == "public, max-age=300"
    module = client.get("/console/views/sensor.js")
    assert module.mimetype == "text/javascript" and module.headers["X-Content-Type-Options"] == "nosniff"
    # the web service still answers the API document and its health check
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/healthz").json["status"] == "ok"


def test_static_files_ship_in_the_image():
    ignore = (Path(__file__).parents[2] / ".dockerignore").read_text().split()
    assert "!run/" in ignore and not any("static" in line for line in ignore)
