"""The OpenAPI document describes every route of every API app with its methods, and nothing else."""

from __future__ import annotations

import json
import re

import pytest

from run.web.openapi import build_document


def _openapi_path(rule: str) -> str:
    """``/api/devices/<device_id>`` → ``/api/devices/{device_id}`` (converters dropped)."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_route_is_documented_with_its_methods(served_routes):
    served = {(_openapi_path(rule), method.lower())
              for routes in served_routes.values() for rule, method in routes}
    paths = build_document()["paths"]
    documented = {(path, method) for path, item in paths.items() for method in item if method != "parameters"}
    assert sorted(served - documented) == [], "routes missing from the OpenAPI document"
    assert sorted(documented - served) == [], "documented operations that no app serves"


def test_every_reference_resolves_and_operation_ids_are_unique():
    document = build_document()
    refs = set(re.findall(r'"\$ref": "#/components/([a-zA-Z]+)/([A-Za-z]+)"', json.dumps(document)))
    missing = [f"{kind}/{name}" for kind, name in refs if name not in document["components"].get(kind, {})]
    assert missing == []
    ids = [op["operationId"] for item in document["paths"].values() for key, op in item.items()
           if key != "parameters"]
    assert len(ids) == len(set(ids))


def test_document_is_valid_openapi_3_1():
    validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator not installed")
    document = build_document()
    assert document["openapi"].startswith("3.1")
    validator.validate(document)


@pytest.mark.e2e
def test_the_document_is_served_at_api_openapi_json(api):
    response = api.client().request("GET", "/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == build_document()
