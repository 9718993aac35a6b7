"""``python -m infra.ops.jwks``: the key set of a rotation is built from private keys and loses only what is retired."""

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.adapters.keys import SigningKey, parse_jwks
from infra.ops import jwks


def _key_file(path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return SigningKey.from_pem(path.read_bytes())


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return [(folder / f"{name}.pem", _key_file(folder / f"{name}.pem")) for name in ("old", "new")]


def _run(capsys, *argv):
    code = jwks.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_then_retire_walks_a_rotation(keys, tmp_path, capsys):
    (old_pem, old), (new_pem, new) = keys
    code, first, _ = _run(capsys, "add", str(old_pem))
    assert code == 0 and list(parse_jwks(first)) == [old.kid]
    (tmp_path / "v1.json").write_text(first)

    code, second, err = _run(capsys, "add", str(new_pem), "--to", str(tmp_path / "v1.json"))
    assert code == 0 and list(parse_jwks(second)) == [old.kid, new.kid]
    assert f"added {new.kid}" in err and "PRIVATE" not in second and '"d"' not in second
    (tmp_path / "v2.json").write_text(second)
    code, again, _ = _run(capsys, "add", str(new_pem), "--to", str(tmp_path / "v2.json"))
    assert json.loads(again) == json.loads(second)  # adding twice changes nothing

    code, third, err = _run(capsys, "retire", old.kid, "--from", str(tmp_path / "v2.json"))
    assert code == 0 and list(parse_jwks(third)) == [new.kid]
    assert f"retired {old.kid}" in err


def test_retiring_an_unknown_or_the_last_key_is_refused(keys, tmp_path, capsys):
    (old_pem, old), (_, new) = keys
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [old.public_jwk()]}))
    code, out, err = _run(capsys, "retire", new.kid, "--from", str(jwks_file))
    assert (code, out) == (2, "") and f"no key {new.kid}" in err
    code, out, err = _run(capsys, "retire", old.kid, "--from", str(jwks_file))
    assert (code, out) == (2, "") and "last key" in err


def test_unreadable_input_is_an_error_not_a_set(keys, tmp_path, capsys):
    (old_pem, _), _ = keys
    (tmp_path / "bad.json").write_text('{"keys": [{"kty": "EC", "kid": "x"}]}')
    code, out, err = _run(capsys, "add", str(old_pem), "--to", str(tmp_path / "bad.json"))
    assert (code, out) == (2, "") and "RSA" in err
    (tmp_path / "bad.pem").write_text("not a key")
    code, out, err = _run(capsys, "add", str(tmp_path / "bad.pem"))
    assert (code, out) == (2, "") and "PEM" in err


def test_a_kid_that_begins_with_a_dash_can_be_retired(keys, tmp_path, capsys):
    """Thumbprints are base64url: one in 64 begins with "-", which must not be read as an option."""
    (old_pem, old), (new_pem, new) = keys
    _, document, _ = _run(capsys, "add", str(old_pem))
    (tmp_path / "one.json").write_text(document)
    _, document, _ = _run(capsys, "add", str(new_pem), "--to", str(tmp_path / "one.json"))
    keyset = json.loads(document)
    keyset["keys"][0]["kid"] = dashed = "-" + old.kid[1:]
    (tmp_path / "dash.json").write_text(json.dumps(keyset))
    code, out, err = _run(capsys, "retire", dashed, "--from", str(tmp_path / "dash.json"))
    assert code == 0 and [entry["kid"] for entry in json.loads(out)["keys"]] == [new.kid]
    assert f"retired {dashed}" in err
