"""Settings come from the environment with documented defaults; bad values are named."""

import pytest

from infra.config import ROOT, VARIABLES, ConfigError, PubSubTopology, Settings


def test_defaults_point_at_loopback_and_the_local_project():
    settings = Settings.from_env({})
    assert settings.project_id == "iot-local"
    assert settings.bind_host == "127.0.0.1"
    assert settings.elasticsearch_url == "http://127.0.0.1:9200"
    assert settings.push_endpoint == "http://127.0.0.1:8090/pubsub/push"
    assert settings.data_dir == ROOT / ".local"
    assert settings.env == "development"
    assert settings.admin_password is None and settings.signing_key_pem is None


def test_cloud_run_defaults_to_production():
    assert Settings.from_env({"K_SERVICE": "api-users"}).env == "production"
    assert Settings.from_env({"K_SERVICE": "x", "IOT_ENV": "development"}).development


def test_values_are_read_and_typed():
    settings = Settings.from_env({"PORT": "9999", "IOT_PUBLISH_TIMEOUT": "2.5", "IOT_DATA_DIR": "/tmp/x",
                                  "LOG_LEVEL": "debug"})
    assert settings.port == 9999
    assert settings.publish_timeout == 2.5
    assert str(settings.data_dir) == "/tmp/x"
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize("name", ["PORT", "IOT_USER_TOKEN_TTL", "IOT_PUBLISH_TIMEOUT"])
def test_a_malformed_number_names_its_variable(name):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: "soon"})


def test_unknown_environment_mode_is_refused():
    with pytest.raises(ConfigError, match="IOT_ENV"):
        Settings.from_env({"IOT_ENV": "staging"})


def test_every_variable_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [v.name for v in VARIABLES if f"`{v.name}`" not in readme]
    assert missing == []


def test_topology_names_match_the_design():
    topology = PubSubTopology.load()
    assert (topology.topic, topology.dead_letter_topic, topology.push_subscription) == (
        "telemetry", "telemetry-dead-letter", "telemetry-indexer")
    assert topology.max_delivery_attempts == 100  # the most Pub/Sub allows: the outage budget
    assert topology.push_path == "/pubsub/push"


def test_an_environment_prefix_names_every_pubsub_resource_and_nothing_else():
    plain = Settings.from_env({}).topology
    prefixed = Settings.from_env({"IOT_PUBSUB_PREFIX": "staging-"}).topology
    names = ("topic", "dead_letter_topic", "push_subscription", "dead_letter_subscription", "alerts_topic",
             "rules_subscription", "extension_subscription_prefix")
    for name in names:
        assert getattr(prefixed, name) == "staging-" + getattr(plain, name)
    others = {key: value for key, value in vars(plain).items() if key not in names}
    assert others == {key: value for key, value in vars(prefixed).items() if key not in names}
    assert prefixed.push_path == plain.push_path == "/pubsub/push"
