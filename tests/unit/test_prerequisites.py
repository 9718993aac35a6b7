"""Without gcloud or Java the local stack stops with instructions instead of a trace."""

import pytest

from emulators import gcloud
from emulators.process import StartupError


def test_missing_gcloud_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: neither gcloud nor java
    with pytest.raises(StartupError) as err:
        gcloud.check_prerequisites()
    message = str(err.value)
    assert "gcloud and java not found" in message
    assert "gcloud components install beta pubsub-emulator cloud-firestore-emulator" in message
    assert "google-cloud-cli-pubsub-emulator" in message


def test_a_failing_emulator_start_explains_itself(monkeypatch, tmp_path):
    fake = tmp_path / "gcloud"
    fake.write_text("#!/bin/sh\necho 'ERROR: (gcloud) component pubsub-emulator is not installed' >&2\nexit 1\n")
    fake.chmod(0o755)
    (tmp_path / "java").symlink_to("/bin/true")
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(StartupError) as err:
        gcloud.start_pubsub(1, "p", tmp_path / "logs")
    assert "exited with code 1" in str(err.value)
    assert "not installed" in str(err.value)
    assert "gcloud components install" in str(err.value)
