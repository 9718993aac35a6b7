"""The key set verifiers trust (``IOT_JWKS``, secret ``iot-jwks``), edited for a signing-key rotation.

    python -m infra.ops.jwks add KEY.pem [--to JWKS]    the set JWKS (default: none) plus the public half of KEY.pem
    python -m infra.ops.jwks retire KID --from JWKS      the set JWKS without the key KID

``-`` reads a file from standard input (``gcloud secrets versions access N --secret=iot-jwks``). The new set goes to
standard output, ready for ``gcloud secrets versions add iot-jwks --data-file=-``, and a line saying what changed to
standard error. Keys are listed oldest first. The walk through a rotation is in README.md ("Rotating the signing
key"); only public halves ever enter the set.
"""

from __future__ import annotations

import argparse
import json
import sys

from infra.adapters.keys import SigningKey, parse_jwks
from infra.config import ConfigError


def with_key(document: dict, key: SigningKey) -> dict:
    """``document`` with the public half of ``key`` appended (unchanged if it already holds it)."""
    keys = list(document.get("keys", []))
    if key.kid not in {entry["kid"] for entry in keys}:
        keys.append(key.public_jwk())
    return {"keys": keys}


def without_key(document: dict, kid: str) -> dict:
    """``document`` without the key ``kid``.

    Raises:
        ConfigError: the set has no such key, or it is the last one (verifiers would trust nothing).
    """
    keys = [entry for entry in document["keys"] if entry["kid"] != kid]
    if len(keys) == len(document["keys"]):
        raise ConfigError(f"the key set holds no key {kid}; it holds {', '.join(_kids(document))}")
    if not keys:
        raise ConfigError("refusing to retire the last key of the set")
    return {"keys": keys}


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _load(path: str | None) -> dict:
    if path is None:
        return {"keys": []}
    text = _read(path)
    parse_jwks(text)  # refuse a document verifiers would refuse
    return json.loads(text)


def _kids(document: dict) -> list[str]:
    return [entry["kid"] for entry in document["keys"]]


def _kid_as_operand(argv: list[str]) -> list[str]:
    """A kid is base64url and may begin with ``-``, which argparse would read as an option: pass it after ``--``."""
    if len(argv) >= 2 and argv[0] == "retire" and argv[1].startswith("-") and argv[1] not in ("-h", "--help") \
            and not argv[1].startswith("--from"):
        return ["retire", *argv[2:], "--", argv[1]]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ops.jwks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    adding = commands.add_parser("add", help="print the key set with the public half of a private key added")
    adding.add_argument("key", help="PEM file of the RSA private key (- for standard input)")
    adding.add_argument("--to", help="JWKS file to add to (- for standard input; default: an empty set)")
    retiring = commands.add_parser("retire", help="print the key set without one key")
    retiring.add_argument("kid", help="kid of the key to retire")
    retiring.add_argument("--from", dest="source", required=True, help="JWKS file (- for standard input)")
    args = parser.parse_args(_kid_as_operand(sys.argv[1:] if argv is None else argv))
    if args.command == "add" and args.key == args.to == "-":
        parser.error("only one of KEY and --to can come from standard input")

    try:
        if args.command == "add":
            key = SigningKey.from_pem(_read(args.key))
            result = with_key(_load(args.to), key)
            change = f"added {key.kid}"
        else:
            result = without_key(_load(args.source), args.kid)
            change = f"retired {args.kid}"
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    print(f"{change}; the set holds, oldest first: {', '.join(_kids(result))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
