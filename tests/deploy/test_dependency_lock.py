"""requirements.lock pins the image's dependencies: pyproject's pins, every transitive one, each with its hashes.

The image installs it with ``--require-hashes``; ``make dev``/``make test`` install it too, then the extras with its
versions as constraints, so the tests run on the versions the image ships.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.config import ROOT
from tests.deploy.deployfiles import DOCKERFILE, Dockerfile

LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")


def _locked() -> dict[str, tuple[str, list[str]]]:
    """Every pin of the lock: canonical name -> (version, its sha256 hashes)."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), [])
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
        if hashes:
            assert current, line
            pins[current][1].extend(hashes)
    return pins


def _direct() -> list[Requirement]:
    """The runtime dependencies of pyproject.toml's [project]."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return [Requirement(text) for text in tomllib.load(handle)["project"]["dependencies"]]


def test_every_direct_dependency_is_locked_at_its_pinned_version():
    locked = _locked()
    direct = _direct()
    assert direct
    for requirement in direct:
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{requirement} is not pinned in pyproject.toml"
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock: run `make lock`"
        assert locked[name][0] == specifier.version, f"{name}: pyproject pins {specifier.version}, lock {locked[name][0]}"


def test_every_locked_package_has_hashes_and_no_local_index():
    locked = _locked()
    assert len(locked) > len(_direct())  # transitive dependencies are pinned too
    assert all(hashes for _, hashes in locked.values()), [name for name, (_, h) in locked.items() if not h]
    text = LOCK.read_text()
    # A machine's own index or wheel folder must not leak into the file the image build reads.
    assert not re.search(r"^\s*--(index-url|extra-index-url|find-links)", text, re.MULTILINE)


def _closure() -> dict[str, str]:
    """Every distribution the direct dependencies pull in, as installed here: canonical name -> version."""
    found: dict[str, str] = {}
    pending = [(requirement, frozenset(requirement.extras)) for requirement in _direct()]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in found and not extras:
            continue
        distribution = metadata.distribution(requirement.name)
        found[name] = distribution.version
        for text in distribution.requires or []:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in {"", *extras}):
                pending.append((child, frozenset(child.extras)))
    return found


def test_the_lock_is_exactly_the_installed_closure_of_the_direct_dependencies():
    """Nothing transitive is missing or extra, and this environment (make test's) runs the locked versions."""
    locked = {name: version for name, (version, _) in _locked().items()}
    installed = _closure()
    assert set(installed) == set(locked), (sorted(set(installed) - set(locked)), sorted(set(locked) - set(installed)))
    assert installed == locked


def test_the_image_installs_the_lock_with_hashes_before_the_code():
    dockerfile = Dockerfile.read(DOCKERFILE)
    copy_lock = dockerfile.index("COPY", "requirements.lock")
    install = dockerfile.index("RUN", "pip install")
    first_code = min(dockerfile.index("COPY", "infra"), dockerfile.index("COPY", "run"))
    assert copy_lock < install < first_code
    command = dockerfile.instructions[install][1]
    assert "--require-hashes" in command and "-r requirements.lock" in command
    assert [args for args in dockerfile.all("RUN") if "pip install" in args] == [command]


@pytest.mark.integration  # runs make
def test_make_installs_the_lock_then_the_extras_constrained_by_it():
    recipes = subprocess.run(["make", "-n", "-B", "install-dev", "install-load"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, check=True).stdout.splitlines()
    lock = next(n for n, line in enumerate(recipes) if "--require-hashes -r requirements.lock" in line)
    constraints = next(n for n, line in enumerate(recipes) if "> .venv/constraints.txt" in line)
    extras = [n for n, line in enumerate(recipes) if re.search(r"-e '\.\[(dev|load)\]' -c \.venv/constraints\.txt", line)]
    assert len(extras) == 2 and lock < constraints < min(extras)
    assert not [line for line in recipes if "pip install" in line and "-e '.[" in line and "-c " not in line]
