"""The optional Elastic Cloud configuration (terraform/elasticsearch): the cluster in the platform's region, the two
API keys with the privileges the README states and the code needs, and nothing of it in the platform's configuration."""

from __future__ import annotations

import json
import re

from infra.adapters.elasticsearch.schema import INDEX_PREFIX
from infra.config import ROOT
from tests.deploy.deployfiles import TERRAFORM, Terraform

MODULE = TERRAFORM / "elasticsearch"
PRIVILEGES = json.loads((MODULE / "privileges.json").read_text())


def _role(key: str) -> dict:
    (role,) = PRIVILEGES[key].values()
    return role


def test_the_deployment_runs_in_the_platforms_region_on_an_8x_stack():
    module = Terraform.read(MODULE)
    deployment = module.resources["ec_deployment"]["telemetry"]
    assert deployment["region"] == "gcp-${var.region}"
    assert deployment["version"] == "${data.ec_stack.latest.version}"
    stack = module.blocks["data"][0]["ec_stack"]["latest"]
    assert stack["version_regex"] == "8.?" and stack["region"] == "gcp-${var.region}" and stack["lock"] is True
    assert module.variables["region"]["default"] == Terraform.read().variables["region"]["default"]


def test_each_key_is_made_from_its_entry_of_the_privileges_file():
    keys = Terraform.read(MODULE).resources["elasticstack_elasticsearch_security_api_key"]
    assert {name: body["role_descriptors"] for name, body in keys.items()} == {
        "writer": "${jsonencode(local.privileges.writer)}", "reader": "${jsonencode(local.privileges.reader)}"}
    outputs = {name for block in Terraform.read(MODULE).blocks["output"] for name in block}
    assert outputs == {"elasticsearch_url", "writer_key", "reader_key"}


def test_the_keys_reach_the_telemetry_indices_only_and_the_reader_cannot_write():
    for key in ("writer", "reader"):
        assert [entry["names"] for entry in _role(key)["indices"]] == [[f"{INDEX_PREFIX}*"]]
    assert set(_role("reader")["indices"][0]["privileges"]) == {"read", "view_index_metadata"}
    assert _role("reader")["cluster"] == []
    # the pipeline puts the index template (cluster) and creates the monthly indices it writes
    assert _role("writer")["cluster"] == ["manage_index_templates"]
    assert {"create_index", "write"} <= set(_role("writer")["indices"][0]["privileges"])


def test_the_readme_states_the_privileges_of_the_file():
    text = " ".join((ROOT / "README.md").read_text().split())
    writer, reader = _role("writer"), _role("reader")
    stated = re.search(r"its own API key \(cluster privilege (.*?); on `telemetry\*`: (.*?)\); api-data.*?read-only "
                       r"one \((.*?) on `telemetry\*`\)", text)
    assert stated, "the README's Secrets section no longer states the keys' privileges"

    def names(fragment: str) -> list[str]:
        return re.findall(r"`([a-z_]+)`", fragment)

    assert names(stated.group(1)) == writer["cluster"]
    assert names(stated.group(2)) == writer["indices"][0]["privileges"]
    assert names(stated.group(3)) == reader["indices"][0]["privileges"]
    assert "terraform/elasticsearch" in text


def test_the_platforms_configuration_needs_no_elastic_provider():
    platform = Terraform.read()
    assert not any(rtype.startswith(("ec_", "elasticstack_")) for rtype in platform.resources)
