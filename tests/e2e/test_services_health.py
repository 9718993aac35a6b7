"""Every service runs under its real server process, answers /healthz, and exits cleanly on SIGTERM."""

import pytest
import requests

from run.services import COMPOSED_NAME, SERVICES

NAMES = [COMPOSED_NAME, *(s.name for s in SERVICES)]


@pytest.mark.e2e
@pytest.mark.parametrize("name", NAMES)
def test_service_answers_healthz_and_stops_cleanly_on_sigterm(stack, name):
    process = stack.start_service(name)
    response = requests.get(f"http://127.0.0.1:{stack.ports.for_process(name)}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert stack.stop_service(name) == 0, process.log_tail()
