"""OIDC on pushes: with IOT_PUSH_AUDIENCE set only Google-signed tokens of the push service account get in.

Offline: a local server plays Google's certificate endpoint (IOT_PUSH_CERTS_URL) with a test key's certificate,
and the tests sign ID tokens with that key.
"""

import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import orjson
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.pipeline.conftest import count_documents, envelope, telemetry
from tests.support.names import unique

pytestmark = pytest.mark.e2e

AUDIENCE = "https://pipeline.example.test/pubsub/push"
ACCOUNT = "pubsub-push@iot-local.iam.gserviceaccount.com"


def _key_and_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test google certs")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def google(stack):
    """A certificate server and a pipeline instance that verifies push tokens against it."""
    key, certificate = _key_and_certificate()
    body = orjson.dumps({"test-kid": certificate})
    fetches = []

    class Certs(BaseHTTPRequestHandler):
        def do_GET(self):
            fetches.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "public, max-age=600")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Certs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    service = unique("pl-oidc")
    stack.start_service("pipeline", key=service, extra_env={
        "IOT_PUSH_AUDIENCE": AUDIENCE, "IOT_PUSH_SERVICE_ACCOUNT": ACCOUNT,
        "IOT_PUSH_CERTS_URL": f"http://127.0.0.1:{server.server_port}/oauth2/v1/certs"})

    class Google:
        url = stack.url(service, "/pubsub/push")
        certificate_fetches = fetches

        @staticmethod
        def token(signing_key=key, kid="test-kid", **overrides) -> str:
            now = int(time.time())
            claims = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "azp": "1234", "sub": "1234",
                      "email": ACCOUNT, "email_verified": True, "iat": now, "exp": now + 3600, **overrides}
            return jwt.encode({k: v for k, v in claims.items() if v is not None}, signing_key, algorithm="RS256",
                              headers={"kid": kid})

    yield Google
    stack.stop_service(service)
    server.shutdown()
    server.server_close()


def push(google, device, value: float, headers: dict) -> requests.Response:
    records = [{"sensor_id": device.sensors["temp"], "type": "double", "timestamp": "2025-11-28T09:00:00Z",
                "value": value}]
    return requests.post(google.url, data=envelope(*telemetry(device, records)), headers=headers, timeout=15)


def test_a_push_with_the_service_accounts_google_token_is_indexed(google, seed, pl_es):
    device = seed()
    for issuer in ("https://accounts.google.com", "accounts.google.com"):
        response = push(google, device, 1.0, {"Authorization": f"Bearer {google.token(iss=issuer)}"})
        assert response.status_code == 204, response.text
    assert count_documents(pl_es, device.sensors["temp"]) == 1
    # The certificates were fetched once and then served from the cache (max-age).
    assert len(google.certificate_fetches) == 1


def test_a_push_without_a_token_is_refused(google, seed):
    device = seed()
    assert push(google, device, 1.0, {}).status_code == 401
    assert push(google, device, 1.0, {"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401


@pytest.mark.parametrize("overrides, status", [
    ({"aud": "https://somewhere-else.example"}, 401),
    ({"iss": "https://evil.example"}, 401),
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, 401),
    ({"email": "intruder@example.iam.gserviceaccount.com"}, 403),
    ({"email_verified": False}, 403),
    ({"email": None}, 403),
])
def test_a_token_with_a_wrong_claim_is_refused(google, seed, pl_es, overrides, status):
    device = seed()
    response = push(google, device, 2.0, {"Authorization": f"Bearer {google.token(**overrides)}"})
    assert response.status_code == status, response.text
    assert count_documents(pl_es, device.sensors["temp"]) == 0


def test_a_token_signed_by_another_key_is_refused(google, seed, pl_es):
    device = seed()
    other_key, _ = _key_and_certificate()
    for token in (google.token(signing_key=other_key), google.token(kid="unknown-kid"), "not.a.jwt"):
        assert push(google, device, 3.0, {"Authorization": f"Bearer {token}"}).status_code == 401
    assert count_documents(pl_es, device.sensors["temp"]) == 0


def test_without_an_audience_the_check_is_off(pipeline, seed, pl_es):
    device = seed()
    records = [{"sensor_id": device.sensors["temp"], "type": "double", "timestamp": "2025-11-28T09:00:00Z",
                "value": 4.0}]
    response = requests.post(f"{pipeline}/pubsub/push", data=envelope(*telemetry(device, records)), timeout=15)
    assert response.status_code == 204
    assert count_documents(pl_es, device.sensors["temp"]) == 1


@pytest.mark.parametrize("tick", ["retention", "deletions"])
def test_the_lifecycle_ticks_take_the_same_token(google, tick):
    url = google.url.replace("/pubsub/push", f"/ticks/{tick}")
    assert requests.post(url, timeout=30).status_code == 401
    intruder = google.token(email="intruder@example.iam.gserviceaccount.com")
    assert requests.post(url, headers={"Authorization": f"Bearer {intruder}"}, timeout=30).status_code == 403
    if tick == "deletions":  # (a retention tick here would drop the old months other tests of the session wrote)
        reply = requests.post(url, headers={"Authorization": f"Bearer {google.token()}"}, timeout=30)
        assert reply.status_code == 200 and "open" in reply.json(), reply.text
