"""Schema-driven tests: schemathesis generates requests for every operation of the OpenAPI document and sends them
to the real API process (gunicorn on the Firestore and Pub/Sub emulators and the Elasticsearch stand-in), once per
kind of caller: a user who owns real objects, a consumer granted one of them, a device, and the admin.

Every reply must be no 5xx and what the document says: a documented status, content type, headers and body.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi.checks import (allow_header_conformance, content_type_conformance,
                                                missing_required_header, response_headers_conformance,
                                                response_schema_conformance, status_code_conformance,
                                                unsupported_method)

from run.web.openapi import build_document
from tests.api.seeded_world import SeededWorld

pytestmark = pytest.mark.e2e

# Every check on the reply that sends nothing more. Left out: negative_data_rejection (list routes ignore unknown
# query parameters, and the caller's token set on every request undoes its "no Authorization" cases),
# positive_data_acceptance (a cursor, a mapping string or a time can match the document and still be refused),
# ignored_auth and use_after_free (test_authorization_matrix.py asserts every route's status per caller exactly),
# max_response_time (tests assert no timings).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, unsupported_method, allow_header_conformance, missing_required_header]


def _config(*, coverage: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": 11,  # one fixed seed (derived per operation): every run sends the same requests
        "generation": {"mode": "all", "max-examples": 8, "no-shrink": True, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": coverage}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
    })


# Loaded from the module that serves /api/openapi.json (the `http` fixture checks the served one is the same):
# schemathesis builds one test per operation at collection, before the API runs. Users and the admin get the
# coverage phase too (boundary and invalid values of every parameter and body field, unexpected methods); consumer
# and device tokens are refused by most routes before any input is read, so they get fuzzed cases only.
OWNER_SCHEMA = schemathesis.openapi.from_dict(build_document(), config=_config(coverage=True))
TOKEN_SCHEMA = schemathesis.openapi.from_dict(build_document(), config=_config(coverage=False))
_active: list[SeededWorld] = []  # the world of the caller under test, for the hooks below


def flatmap_path_parameters(context, path_parameters):
    """Fuzzed path parameters: a seeded id of that name (tried first) or the generated value."""
    if not path_parameters or not _active:  # no world yet while explicit examples are built at collection
        return st.just(path_parameters)
    known = _active[-1].ids
    return st.fixed_dictionaries({name: st.sampled_from([*known.get(name, []), value])
                                  for name, value in path_parameters.items()})


def flatmap_body(context, body):
    """A fuzzed body naming a sensor (a grant): naming a seeded sensor, or as generated."""
    if not _active or not isinstance(body, dict) or "sensor_id" not in body:
        return st.just(body)
    return st.sampled_from([*({**body, "sensor_id": sensor} for sensor in _active[-1].ids["sensor_id"]), body])


for _schema in (OWNER_SCHEMA, TOKEN_SCHEMA):
    _schema.hook(flatmap_path_parameters)
    _schema.hook(flatmap_body)


@pytest.fixture(scope="module")
def caller(request) -> str:
    """The kind of caller whose token the requests carry (each test parametrizes it)."""
    return request.param


@pytest.fixture(scope="module")
def world(api, stack, caller) -> SeededWorld:
    """A fresh world per kind of caller, active for the hooks while that caller's tests run."""
    world = SeededWorld.create(api, stack.es_url)
    _active.append(world)
    yield world
    _active.remove(world)
    world.close()


@pytest.fixture(scope="module")
def http(api) -> requests.Session:
    """One connection pool for every generated request."""
    assert requests.get(f"{api.base_url}/api/openapi.json", timeout=10).json() == build_document()
    with requests.Session() as session:
        yield session


@OWNER_SCHEMA.parametrize()
@pytest.mark.parametrize("caller", ["user", "admin"], indirect=True, scope="module")
def test_as_owner_and_admin_every_operation_answers_as_documented(case, api, caller, world, http):
    _call_and_validate(case, api, caller, world, http)


@TOKEN_SCHEMA.parametrize()
@pytest.mark.parametrize("caller", ["consumer", "device"], indirect=True, scope="module")
def test_with_consumer_and_device_tokens_every_operation_answers_as_documented(case, api, caller, world, http):
    _call_and_validate(case, api, caller, world, http)


def _call_and_validate(case, api, caller: str, world: SeededWorld, http: requests.Session) -> None:
    if case.meta is not None and case.meta.phase.name == TestPhase.COVERAGE:
        world.aim(case)  # coverage cases are built at collection, before any object exists
    response = case.call_and_validate(base_url=api.base_url, session=http, checks=CHECKS,
                                      headers={"Authorization": f"Bearer {world.tokens[caller]}"})
    world.after(case, response)
