"""RSA signing keys and the public key set (JWKS) verifiers trust.

The current private key comes from ``IOT_SIGNING_KEY`` (Secret Manager in the cloud) or ``IOT_SIGNING_KEY_FILE``;
in development only, one is generated into the ignored data folder. Verifiers need only public keys: the key set
``IOT_JWKS``/``IOT_JWKS_FILE`` (during a rotation the current key and the previous or next one, by ``kid``), or the
public half of the signing key. Issuers publish the same set, and must find their own key in it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from infra.config import ConfigError, Settings

KEY_BITS = 2048
DEV_KEY_NAME = "keys/signing-key.pem"


@dataclass(frozen=True)
class SigningKey:
    """A private RSA key and its ``kid`` (the RFC 7638 thumbprint of its public half)."""

    private_key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def from_pem(cls, pem: bytes | str) -> "SigningKey":
        """Load a PEM private key; it must be RSA of at least 2048 bits."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise ConfigError(f"the signing key is not a readable PEM private key: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
            raise ConfigError("the signing key must be an RSA private key of at least 2048 bits")
        return cls(key, thumbprint(key.public_key()))

    def public_jwk(self) -> dict:
        """The public key as a JWK with ``kid``, ``use`` and ``alg``."""
        return public_jwk(self.private_key.public_key(), self.kid)


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint: a stable ``kid`` derived from the key itself."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def public_jwk(public_key: rsa.RSAPublicKey, kid: str) -> dict:
    """A JWK for ``public_key``."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def jwks(*keys: SigningKey) -> dict:
    """The JWKS document of the public halves of ``keys``."""
    return {"keys": [key.public_jwk() for key in keys]}


def load_signing_key(settings: Settings) -> SigningKey:
    """The key that signs tokens: from env, from a file, or (development only) generated once.

    Raises:
        ConfigError: no key is configured outside development, or the key is unusable.
    """
    if settings.signing_key_pem:
        return SigningKey.from_pem(settings.signing_key_pem)
    if settings.signing_key_file:
        try:
            return SigningKey.from_pem(settings.signing_key_file.read_bytes())
        except OSError as exc:
            raise ConfigError(f"IOT_SIGNING_KEY_FILE cannot be read: {exc}") from None
    if not settings.development:
        raise ConfigError("IOT_SIGNING_KEY or IOT_SIGNING_KEY_FILE is required outside development")
    return SigningKey.from_pem(_development_key(settings.data_dir / DEV_KEY_NAME))


def load_public_keys(settings: Settings, signing_key: SigningKey | None = None) -> dict[str, rsa.RSAPublicKey]:
    """The public keys verifiers trust, by ``kid``: IOT_JWKS, IOT_JWKS_FILE, or the signing key's public half
    (``signing_key`` when the caller loaded it already: parsing a private key costs tens of milliseconds)."""
    if settings.jwks_json:
        document = settings.jwks_json
    elif settings.jwks_file:
        try:
            document = settings.jwks_file.read_text()
        except OSError as exc:
            raise ConfigError(f"IOT_JWKS_FILE cannot be read: {exc}") from None
    else:
        key = signing_key or load_signing_key(settings)
        return {key.kid: key.private_key.public_key()}
    return parse_jwks(document)


def require_published(key: SigningKey, public_keys: dict[str, rsa.RSAPublicKey]) -> None:
    """Refuse to sign with a key the trusted set lacks: its tokens would be refused by this and every verifier.

    Raises:
        ConfigError: naming the key, so a rotation step taken out of order stops the new revision at start.
    """
    if key.kid not in public_keys:
        raise ConfigError(f"IOT_JWKS lacks the signing key (kid {key.kid}): publish a key to the verifiers "
                          "(IOT_JWKS) before making it current (IOT_SIGNING_KEY)")


def parse_jwks(document: str) -> dict[str, rsa.RSAPublicKey]:
    """Parse a JWKS document into RSA public keys by ``kid``; other key types are refused."""
    try:
        entries = json.loads(document)["keys"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError("the JWKS must be a JSON object with a 'keys' list") from None
    keys = {}
    for entry in entries:
        if entry.get("kty") != "RSA" or not entry.get("kid"):
            raise ConfigError("every JWKS key must be RSA and carry a kid")
        keys[entry["kid"]] = RSAAlgorithm.from_jwk(entry)
    if not keys:
        raise ConfigError("the JWKS holds no keys")
    return keys


def _development_key(path: Path) -> bytes:
    """Read the development key, generating it first if needed; safe when several processes start at once."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    try:
        os.link(tmp, path)  # atomic: exactly one process's key wins, the others read it
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()
