"""A push's deadlines agree: Elasticsearch's worst case < the pipeline's Cloud Run timeout = the ack deadline.

Pub/Sub redelivers a pushed message whose ack deadline passes, so a push still indexing past it runs twice; Cloud
Run ends a request at the service's timeout. The pipeline's timeout is therefore the ack deadline (one source:
infra/pubsub_topology.json, read by run/services.py, terraform and the emulator bootstrap), and everything a push
waits for in Elasticsearch must end before it, so a slow cluster becomes a 503 and a redelivery.
"""

from types import SimpleNamespace

from infra.adapters.elasticsearch import writes
from infra.adapters.elasticsearch.schema import Document
from infra.config import VARIABLES, PubSubTopology
from infra.wiring.clients import ELASTICSEARCH_MAX_RETRIES, ELASTICSEARCH_REQUEST_TIMEOUT
from run.services import BY_NAME, PUSH_DEADLINE
from tests.deploy.deployfiles import Terraform, deploy_steps, deployment_from_cloudbuild, read_cloudbuild

# Pub/Sub's bounds on a subscription's ack deadline, in seconds.
ACK_DEADLINE_RANGE = (10, 600)


class _Recorder:
    """Stands in for the Elasticsearch client: counts requests; every bulk item answers 429."""

    def __init__(self):
        self.requests = 0
        self.indices = SimpleNamespace(get_index_template=self._get, put_index_template=self._put)

    def _get(self, **_):
        self.requests += 1
        return {"index_templates": []}

    def _put(self, **_):
        self.requests += 1

    def bulk(self, operations, **_):
        self.requests += 1
        count = operations.count(b"\n") // 2
        return SimpleNamespace(body={"errors": True, "items": [
            {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}}] * count})


def _document(number: int) -> Document:
    return Document(index="telemetry-2026.12", id=f"s:{number}", source={"n": number})


def _max_records() -> int:
    return int(next(variable.default for variable in VARIABLES if variable.name == "IOT_INGEST_MAX_RECORDS"))


def _worst_case_seconds() -> float:
    """The longest a push can wait for Elasticsearch: every request it makes times out on every client attempt."""
    es = _Recorder()
    writes.install_template(es)
    slept = []
    report = writes.bulk_index(es, [_document(n) for n in range(_max_records())], sleep=slept.append)
    assert report.retryable, "every item kept failing, so the push answers 503"
    per_request = ELASTICSEARCH_REQUEST_TIMEOUT * (ELASTICSEARCH_MAX_RETRIES + 1)
    return es.requests * per_request + sum(slept)


def test_the_pipeline_timeout_is_the_ack_deadline_of_its_push_subscription():
    topology = PubSubTopology.load()
    assert ACK_DEADLINE_RANGE[0] <= topology.ack_deadline_seconds <= ACK_DEADLINE_RANGE[1]
    assert BY_NAME["pipeline"].timeout == PUSH_DEADLINE == topology.ack_deadline_seconds
    terraform = Terraform.read()
    indexer = terraform.resource("google_pubsub_subscription.indexer")
    assert indexer["ack_deadline_seconds"] == "${local.topology.ack_deadline_seconds}"
    assert deployment_from_cloudbuild(deploy_steps(read_cloudbuild())["pipeline"]).timeout == PUSH_DEADLINE
    assert int(terraform.locals["services"]["pipeline"]["timeout"]) == PUSH_DEADLINE


def test_elasticsearch_gives_up_before_the_push_deadline():
    worst = _worst_case_seconds()
    # Room is left for recording rejections in Firestore and for the request itself.
    assert worst + 60 <= PUSH_DEADLINE, f"a push may wait {worst:.0f} s for Elasticsearch; deadline {PUSH_DEADLINE} s"


def test_the_largest_request_of_a_device_is_one_bulk_request():
    assert _max_records() <= writes.BULK_CHUNK
