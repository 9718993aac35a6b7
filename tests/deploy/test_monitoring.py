"""terraform/monitoring.tf watches what the platform promises: no dead letter unnoticed, no service answering 5xx
unnoticed, pushes to the pipeline well inside their deadline, the API reachable, spending inside the budget."""

from __future__ import annotations

import re

import pytest

from infra.config import PubSubTopology
from run.services import SERVICES
from tests.deploy.deployfiles import Terraform

CHANNEL = "${google_monitoring_notification_channel.email.id}"


@pytest.fixture(scope="module")
def terraform() -> Terraform:
    return Terraform.read()


def _policies(terraform: Terraform) -> dict[str, dict]:
    return terraform.resources["google_monitoring_alert_policy"]


def _threshold(policy: dict) -> dict:
    (condition,) = policy["conditions"]
    (threshold,) = condition["condition_threshold"]
    return threshold


def _filter(text: str) -> dict[str, str]:
    """A monitoring filter's ``key = "value"`` terms (they are joined by AND)."""
    terms = [term.strip() for term in text.split(" AND ")]
    pairs = [re.fullmatch(r'([\w.]+) = "(.*)"', term) for term in terms]
    assert all(pairs), text
    return {pair.group(1): pair.group(2) for pair in pairs}


def test_every_alert_reaches_the_on_call_address(terraform):
    channel = terraform.resource("google_monitoring_notification_channel.email")
    assert channel["type"] == "email" and channel["labels"] == {"email_address": "${var.alert_email}"}
    assert "alert_email" in terraform.variables and "default" not in terraform.variables["alert_email"]
    policies = _policies(terraform)
    assert set(policies) == {"dead_letters", "errors", "push_latency", "uptime"}
    for name, policy in policies.items():
        assert policy["notification_channels"] == [CHANNEL], name
        assert policy["documentation"][0]["content"], name


def test_any_dead_letter_alerts(terraform):
    policy = _policies(terraform)["dead_letters"]
    threshold = _threshold(policy)
    assert _filter(threshold["filter"]) == {
        "resource.type": "pubsub_subscription",
        "resource.label.subscription_id": "${google_pubsub_subscription.dead_letter_hold.name}",
        "metric.type": "pubsub.googleapis.com/subscription/num_undelivered_messages",
    }
    assert (threshold["comparison"], threshold["threshold_value"], threshold["duration"]) == ("COMPARISON_GT", 0, "0s")
    # The subscription watched is the hold subscription of the topology's dead-letter topic.
    hold = terraform.resource("google_pubsub_subscription.dead_letter_hold")
    assert hold["topic"] == "${google_pubsub_topic.dead_letter.id}"
    assert hold["name"] == "${local.name_prefix}${local.topology.dead_letter_subscription}"
    assert "infra.ops.dead_letters replay" in policy["documentation"][0]["content"]


def test_each_service_alerts_on_its_share_of_5xx(terraform):
    policy = _policies(terraform)["errors"]
    assert policy["for_each"] == "${local.services}"
    assert sorted(terraform.locals["services"]) == sorted(service.name for service in SERVICES)
    threshold = _threshold(policy)
    service = {"resource.type": "cloud_run_revision",
               "resource.label.service_name": "${google_cloud_run_v2_service.service[each.key].name}",
               "metric.type": "run.googleapis.com/request_count"}
    assert _filter(threshold["filter"]) == {**service, "metric.label.response_code_class": "5xx"}
    assert _filter(threshold["denominator_filter"]) == service  # a ratio: 5xx over every request
    assert threshold["aggregations"] == threshold["denominator_aggregations"]
    assert threshold["comparison"] == "COMPARISON_GT" and threshold["threshold_value"] == "${local.error_ratio_threshold}"
    assert 0 < float(terraform.locals["error_ratio_threshold"]) <= 0.1


def test_slow_pushes_to_the_pipeline_alert_well_before_the_ack_deadline(terraform):
    threshold = _threshold(_policies(terraform)["push_latency"])
    assert _filter(threshold["filter"]) == {
        "resource.type": "pubsub_subscription",
        "resource.label.subscription_id": "${google_pubsub_subscription.indexer.name}",
        "metric.type": "pubsub.googleapis.com/subscription/push_request_latencies",
    }
    (aggregation,) = threshold["aggregations"]
    assert aggregation["cross_series_reducer"] == "REDUCE_PERCENTILE_95"
    assert threshold["threshold_value"] == "${local.push_latency_p95_us}"
    # microseconds (the metric's unit): a tenth of the ack deadline the pipeline's timeout equals
    assert terraform.locals["push_latency_p95_us"] == "${local.topology.ack_deadline_seconds / 10 * 1000000}"
    assert PubSubTopology.load().ack_deadline_seconds / 10 == 30  # the README's figure


def test_the_api_is_checked_through_the_load_balancer_domain(terraform):
    check = terraform.resource("google_monitoring_uptime_check_config.api")
    (http,) = check["http_check"]
    assert (http["path"], http["port"], http["use_ssl"], http["validate_ssl"]) == ("/healthz", 443, True, True)
    (resource,) = check["monitored_resource"]
    assert resource == {"type": "uptime_url", "labels": {"project_id": "${var.project_id}", "host": "${var.domain}"}}
    threshold = _threshold(_policies(terraform)["uptime"])
    assert _filter(threshold["filter"]) == {
        "resource.type": "uptime_url", "metric.type": "monitoring.googleapis.com/uptime_check/check_passed",
        "metric.label.check_id": "${google_monitoring_uptime_check_config.api.uptime_check_id}"}
    (aggregation,) = threshold["aggregations"]
    assert aggregation["cross_series_reducer"] == "REDUCE_COUNT_FALSE"


def test_the_budget_notifies_the_same_channel_and_needs_a_billing_account(terraform):
    budget = terraform.resource("google_billing_budget.monthly")
    assert budget["count"] == "${var.billing_account == null ? 0 : 1}"
    assert budget["billing_account"] == "${var.billing_account}"
    assert budget["budget_filter"][0]["projects"] == ["projects/${data.google_project.this.number}"]
    assert budget["all_updates_rule"][0]["monitoring_notification_channels"] == [CHANNEL]
    assert budget["threshold_rules"][0]["spend_basis"] == "FORECASTED_SPEND"
    # The budgets API belongs to the billing account: it is called with the project as quota project.
    assert budget["provider"] in ("${google.billing}", "google.billing")
    billing = next(provider["google"] for provider in terraform.blocks["provider"]
                   if provider.get("google", {}).get("alias") == "billing")
    assert billing["billing_project"] == "${var.project_id}" and billing["user_project_override"] is True
    apis = terraform.locals["apis"]
    assert {"monitoring.googleapis.com", "billingbudgets.googleapis.com"} <= set(apis)
