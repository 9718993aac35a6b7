"""Tokens: RS256 with kid, pinned algorithm, audiences, expiry, key versions, JWKS round trip."""

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.config import ConfigError, Settings
from infra.adapters.keys import SigningKey, jwks, load_public_keys, load_signing_key, parse_jwks
from infra.adapters.jwt_tokens import JwtIssuer, JwtVerifier
from infra.domain.claims import CONSUMER, DEVICE, USER, TokenError


def _pem(bits=2048):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def key():
    return SigningKey.from_pem(_pem())


@pytest.fixture
def issuer(key):
    return JwtIssuer(key, "iot-platform", user_ttl=3600)


@pytest.fixture
def verifier(key):
    return JwtVerifier(parse_jwks(json.dumps(jwks(key))), "iot-platform")


def test_round_trip_per_audience(issuer, verifier, key):
    token = issuer.issue(USER, "u1", role="admin")
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
    claims = verifier.verify(token, USER)
    assert (claims.subject, claims.audience, claims.role) == ("u1", USER, "admin")
    assert claims.expires_at - claims.issued_at == 3600
    device = verifier.verify(issuer.issue(DEVICE, "d1", version=3), DEVICE)
    assert (device.subject, device.version, device.expires_at) == ("d1", 3, None)
    assert issuer.issue(USER, "u1") != issuer.issue(USER, "u1")  # unique jti


@pytest.mark.parametrize("issued, wanted", [(USER, DEVICE), (DEVICE, CONSUMER), (CONSUMER, USER)])
def test_a_token_of_one_audience_is_refused_elsewhere(issuer, verifier, issued, wanted):
    token = issuer.issue(issued, "x", version=None if issued == USER else 1)
    with pytest.raises(TokenError) as err:
        verifier.verify(token, wanted)
    assert err.value.reason == "wrong_audience"


def test_expired_tokens_are_refused_even_when_cached(issuer, verifier, monkeypatch):
    token = issuer.issue(USER, "u1", ttl=60)
    assert verifier.verify(token, USER).subject == "u1"  # now cached
    later = time.time() + 60 + 31
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(TokenError) as err:
        verifier.verify(token, USER)
    assert err.value.reason == "expired"


def _unsigned(claims, header):
    part = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(claims)}."


def test_alg_none_and_hs256_with_the_public_key_are_refused(verifier, key):
    claims = {"iss": "iot-platform", "sub": "u1", "aud": USER, "iat": int(time.time()),
              "exp": int(time.time()) + 60, "jti": "j"}
    with pytest.raises(TokenError, match="RS256"):
        verifier.verify(_unsigned(claims, {"alg": "none", "kid": key.kid}), USER)
    public_pem = key.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    import hmac, hashlib
    signing_input = _unsigned(claims, {"alg": "HS256", "kid": key.kid, "typ": "JWT"})[:-1]
    signature = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    forged = f"{signing_input}.{signature.rstrip(b'=').decode()}"
    with pytest.raises(TokenError, match="RS256"):
        verifier.verify(forged, USER)


def test_a_token_signed_by_another_key_is_refused(verifier, key):
    stranger = SigningKey.from_pem(_pem())
    forged_same_kid = jwt.encode({"iss": "iot-platform", "sub": "u1", "aud": USER, "iat": 1, "jti": "j",
                                  "exp": int(time.time()) + 60}, stranger.private_key, algorithm="RS256",
                                 headers={"kid": key.kid})
    with pytest.raises(TokenError) as err:
        verifier.verify(forged_same_kid, USER)
    assert err.value.reason == "invalid"
    unknown_kid = JwtIssuer(stranger, "iot-platform", 60).issue(USER, "u1")
    with pytest.raises(TokenError, match="unknown key"):
        verifier.verify(unknown_kid, USER)


@pytest.mark.parametrize("claims, match", [
    ({"sub": "u", "aud": "user", "iat": 1, "jti": "j", "iss": "someone-else", "exp": 2**40}, "not valid"),
    ({"sub": "u", "aud": "user", "iat": 1, "jti": "j", "iss": "iot-platform"}, "must expire"),
    ({"sub": "d", "aud": "device", "iat": 1, "jti": "j", "iss": "iot-platform"}, "key version"),
    ({"sub": "u", "aud": "admin", "iat": 1, "jti": "j", "iss": "iot-platform"}, "unknown audience"),
    ({"aud": "user", "iat": 1, "jti": "j", "iss": "iot-platform", "exp": 2**40}, "not valid"),
])
def test_claims_are_required(verifier, key, claims, match):
    token = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
    with pytest.raises(TokenError, match=match):
        verifier.verify(token, claims["aud"] if claims["aud"] in (USER, DEVICE) else USER)


def test_garbage_is_malformed(verifier):
    with pytest.raises(TokenError) as err:
        verifier.verify("not-a-token", USER)
    assert err.value.reason == "malformed"


def test_development_key_is_generated_once_and_private(tmp_path):
    settings = Settings.from_env({"IOT_DATA_DIR": str(tmp_path)})
    first, second = load_signing_key(settings), load_signing_key(settings)
    assert first.kid == second.kid
    key_file = tmp_path / "keys" / "signing-key.pem"
    assert key_file.stat().st_mode & 0o077 == 0
    assert list(load_public_keys(settings)) == [first.kid]


def test_production_requires_a_configured_key(tmp_path):
    with pytest.raises(ConfigError, match="IOT_SIGNING_KEY"):
        load_signing_key(Settings.from_env({"IOT_ENV": "production", "IOT_DATA_DIR": str(tmp_path)}))
    assert not (tmp_path / "keys").exists()


def test_keys_come_from_env_and_jwks(key):
    pem = key.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    settings = Settings.from_env({"IOT_ENV": "production", "IOT_SIGNING_KEY": pem})
    assert load_signing_key(settings).kid == key.kid
    verifier_only = Settings.from_env({"IOT_ENV": "production", "IOT_JWKS": json.dumps(jwks(key))})
    assert list(load_public_keys(verifier_only)) == [key.kid]


def test_weak_or_unreadable_keys_are_refused():
    with pytest.raises(ConfigError, match="2048"):
        SigningKey.from_pem(_pem(1024))
    with pytest.raises(ConfigError, match="PEM"):
        SigningKey.from_pem("nonsense")


def _pem_text(key: SigningKey) -> str:
    return key.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()


def test_a_verifier_accepts_tokens_of_every_key_of_its_set_and_no_other(key):
    """During a rotation old and new issuers sign with different keys; a verifier holding both accepts both."""
    previous, stranger = SigningKey.from_pem(_pem()), SigningKey.from_pem(_pem())
    verifier = JwtVerifier(parse_jwks(json.dumps(jwks(previous, key))), "iot-platform")
    for signer in (previous, key):
        token = JwtIssuer(signer, "iot-platform", 60).issue(DEVICE, "d1", version=1)
        assert jwt.get_unverified_header(token)["kid"] == signer.kid
        assert verifier.verify(token, DEVICE).subject == "d1"
    with pytest.raises(TokenError, match="unknown key"):
        verifier.verify(JwtIssuer(stranger, "iot-platform", 60).issue(DEVICE, "d1", version=1), DEVICE)


def test_an_issuer_starts_only_when_its_key_set_publishes_its_signing_key(key, tmp_path):
    """Making a key current before the verifiers know it is refused at start (the new revision never serves)."""
    from run.api_devices import create_app
    from infra.wiring import wiring_of

    previous = SigningKey.from_pem(_pem())
    env = {"IOT_ENV": "production", "IOT_DATA_DIR": str(tmp_path), "IOT_SIGNING_KEY": _pem_text(key)}
    with pytest.raises(ConfigError, match=f"IOT_JWKS lacks the signing key \\(kid {key.kid}\\)"):
        create_app(Settings.from_env({**env, "IOT_JWKS": json.dumps(jwks(previous))}))
    app = create_app(Settings.from_env({**env, "IOT_JWKS": json.dumps(jwks(previous, key))}))
    published = wiring_of(app).jwks
    assert [entry["kid"] for entry in published["keys"]] == [previous.kid, key.kid]
    assert all("d" not in entry for entry in published["keys"])  # public halves only
    token = wiring_of(app).issuer.issue(DEVICE, "d1", version=1)
    assert jwt.get_unverified_header(token)["kid"] == key.kid
