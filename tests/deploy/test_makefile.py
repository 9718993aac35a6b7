"""The Makefile: `make dev` needs only the platform's own prerequisites, the test and benchmark tools come with
`make test`/`make bench`, and without apt-get every target says what to install instead of failing in it.

The targets run for real with a PATH of our making: the commands a recipe uses, and stand-ins for java, gcloud,
apt-get and the tools, so nothing is installed and no Java or gcloud of this machine is consulted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.config import ROOT

pytestmark = pytest.mark.integration  # runs make

# What the recipes call besides the stand-ins.
SHELL_TOOLS = ("sh", "sed", "grep", "head", "cut", "tr", "cat", "cksum", "echo", "env")
TEST_PACKAGES = {"mosquitto-clients", "jq", "curl", "chromium", "chromium-driver"}
BENCH_PACKAGES = {"wrk", "mosquitto"}
JAVA_17 = 'openjdk version "17.0.15" 2025-04-15'
GCLOUD_FULL = "Google Cloud SDK 528.0.0\nbeta 2025.06.20\ncloud-firestore-emulator 1.19.9\npubsub-emulator 0.8.20\n"


class Machine:
    """A PATH holding the shell tools and whatever stand-ins a test adds."""

    def __init__(self, root: Path):
        self.bin = root / "bin"
        self.bin.mkdir()
        self.calls = root / "calls"
        for tool in SHELL_TOOLS:
            (self.bin / tool).symlink_to(shutil.which(tool))

    def add(self, name: str, output: str = "", stderr: bool = False) -> None:
        """A command that prints ``output`` (on stderr when asked) and records its arguments."""
        target = ">&2" if stderr else ""
        script = f"#!/bin/sh\necho \"{name} $*\" >> {self.calls}\ncat <<'EOF' {target}\n{output}\nEOF\n"
        path = self.bin / name
        path.write_text(script)
        path.chmod(0o755)

    def make(self, *targets: str) -> subprocess.CompletedProcess:
        env = {"PATH": str(self.bin), "HOME": str(self.bin.parent)}
        return subprocess.run([shutil.which("make"), "--no-print-directory", *targets], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    def called(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def machine(tmp_path) -> Machine:
    return Machine(tmp_path)


def _recipes(*targets: str) -> str:
    """What ``make -n -B`` would run (every recipe, installed or not)."""
    return subprocess.run(["make", "-n", "-B", *targets], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=True).stdout


def test_make_dev_installs_no_test_or_benchmark_tool():
    dev, test, bench = _recipes("dev"), _recipes("test"), _recipes("bench")
    # Java and the emulators are checked (their install hints name apt-get), never installed.
    assert "java -version" in dev and "gcloud --version" in dev
    assert "apt-get update" not in dev and "checkov" not in dev and "'.[dev]'" not in dev
    for package in TEST_PACKAGES:
        assert f":{package}:" in test, package
    assert "apt-get update" in test and "checkov==" in test and "'.[dev]'" in test
    for package in BENCH_PACKAGES:
        assert f":{package}:" in bench and f":{package}:" not in test, package
    assert "'.[load]'" in bench and "'.[load]'" in test and "'.[load]'" not in dev  # Locust runs in a test


def test_platform_check_passes_with_java_17_and_both_emulators(machine):
    machine.add("java", JAVA_17, stderr=True)
    machine.add("gcloud", GCLOUD_FULL)
    result = machine.make("platform-check")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("java, gcloud, says", [
    (None, GCLOUD_FULL, "Java 17 or newer is needed on PATH (found: none)"),
    ('openjdk version "11.0.2" 2019-01-15', GCLOUD_FULL, "Java 17 or newer is needed on PATH (found: 11)"),
    ('java version "1.8.0_202"', GCLOUD_FULL, "(found: 1)"),
    (JAVA_17, None, "The gcloud CLI is needed on PATH"),
    (JAVA_17, GCLOUD_FULL.replace("cloud-firestore-emulator 1.19.9\n", ""), "cloud-firestore-emulator is missing"),
    (JAVA_17, GCLOUD_FULL.replace("pubsub-emulator 0.8.20\n", ""), "pubsub-emulator is missing"),
])
def test_platform_check_says_what_is_missing_and_how_to_install_it(machine, java, gcloud, says):
    if java:
        machine.add("java", java, stderr=True)
    if gcloud:
        machine.add("gcloud", gcloud)
    result = machine.make("platform-check")
    assert result.returncode != 0
    assert says in result.stdout
    assert "brew install openjdk@17" in result.stdout or "gcloud components install" in result.stdout


def test_without_apt_the_test_tools_are_named_with_their_packages_and_make_goes_on(machine):
    machine.add("curl")
    result = machine.make("test-tools")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "apt-get is not available" in result.stdout
    assert "mosquitto_pub: Debian/Ubuntu package mosquitto-clients, Homebrew: brew install mosquitto" in result.stdout
    assert "chromedriver: Debian/Ubuntu package chromium-driver, Homebrew: brew install --cask chromedriver" \
        in result.stdout
    assert "curl:" not in result.stdout  # present, so not named
    assert machine.called() == []


def test_without_apt_the_benchmarks_stop_and_say_what_to_install(machine):
    result = machine.make("bench-tools")
    assert result.returncode != 0
    assert "wrk: Debian/Ubuntu package wrk, Homebrew: brew install wrk" in result.stdout
    assert "mosquitto: Debian/Ubuntu package mosquitto" in result.stdout


def test_with_apt_only_the_missing_test_tools_are_installed(machine):
    machine.add("apt-get")
    machine.add("id", "0")  # root: no sudo
    machine.add("jq")
    machine.add("chromium")
    result = machine.make("test-tools")
    assert result.returncode == 0, result.stdout + result.stderr
    install = [call for call in machine.called() if call.startswith("apt-get install")]
    assert len(install) == 1
    assert set(install[0].split()[-3:]) == {"mosquitto-clients", "curl", "chromium-driver"}
    assert "jq" not in install[0].split() and "chromium" not in install[0].split()


def test_nothing_is_installed_when_every_tool_is_present(machine):
    machine.add("apt-get")
    for command in ("wrk", "mosquitto"):
        machine.add(command)
    result = machine.make("bench-tools")
    assert result.returncode == 0, result.stdout + result.stderr
    assert machine.called() == []
