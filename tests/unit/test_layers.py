"""The dependency rule of infra/, checked on the source: the domain imports only the standard library and itself;
use cases import the domain, other use cases and pure libraries, never a backend SDK, the web framework or an
adapter (adapter types only under ``if TYPE_CHECKING:``); routes never touch SDK clients."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from infra.config import ROOT

INFRA = ROOT / "infra"
STDLIB = frozenset(sys.stdlib_module_names)
# What a layer may import besides the standard library (module prefixes).
ALLOWED = {
    "domain": ("infra.domain",),
    "usecases": ("infra.domain", "infra.usecases", "orjson"),
}
SDKS = ("google", "elasticsearch", "flask", "werkzeug", "jwt", "cryptography", "requests", "grpc", "websockets",
        "simple_websocket", "wsproto", "gunicorn", "paho")


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of ``path`` that runs (those under ``if TYPE_CHECKING:`` do not)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.extend((child.lineno, f"{child.module}.{alias.name}" if child.module == "infra" else child.module)
                             for alias in child.names)
            visit(child)

    visit(tree)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def violations(layer: str) -> list[str]:
    allowed = ALLOWED[layer]
    wrong = []
    for path in sorted((INFRA / layer).rglob("*.py")):
        for line, name in imports(path):
            top = name.split(".")[0]
            if name == "__future__" or (top in STDLIB and top != "infra"):
                continue
            if not any(name == prefix or name.startswith(prefix + ".") for prefix in allowed):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return wrong


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_the_layer_imports_only_what_the_rule_allows(layer):
    assert violations(layer) == []


def test_the_check_sees_a_forbidden_import(tmp_path, monkeypatch):
    """The rule can fail: a domain module importing Firestore, or an adapter, is reported; TYPE_CHECKING is not."""
    fake = tmp_path / "infra"
    (fake / "domain").mkdir(parents=True)
    (fake / "domain" / "bad.py").write_text(
        "from typing import TYPE_CHECKING\nimport json\nfrom google.cloud import firestore\n"
        "from infra.adapters import pubsub\nif TYPE_CHECKING:\n    from infra.adapters.firestore import X\n")
    monkeypatch.setattr(sys.modules[__name__], "INFRA", fake)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert violations("domain") == ["infra/domain/bad.py:3 imports google.cloud",
                                    "infra/domain/bad.py:4 imports infra.adapters"]


def test_routes_never_touch_sdk_clients():
    """Routes parse, call a use case or what ``wiring_of()`` holds, and shape the reply: no SDK, no adapter, no
    client, no raw ``app.extensions`` key."""
    wrong = []
    for path in sorted((ROOT / "run").rglob("*.py")):
        if path.parent.name == "gateway_mqtt" or path.name in ("server.py", "__main__.py", "compose.py"):
            continue  # the asyncio transport and the process entry points compose, they do not route
        for line, name in imports(path):
            if name.split(".")[0] in SDKS and name.split(".")[0] not in ("flask", "werkzeug", "simple_websocket",
                                                                          "wsproto"):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
            if name.startswith("infra.adapters") and name != "infra.adapters.google_oidc":  # a type, for injection
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
        text = path.read_text()
        for needle in ("clients.firestore", "clients.elasticsearch", "clients.publisher", "extensions["):
            if needle in text:
                wrong.append(f"{path.relative_to(ROOT)} uses {needle}")
    assert wrong == []
