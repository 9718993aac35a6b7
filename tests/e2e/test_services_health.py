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


@pytest.mark.e2e
def test_starting_a_running_service_again_is_refused_and_leaks_nothing(stack):
    first = stack.start_service("gateway-http")
    try:
        with pytest.raises(RuntimeError, match="already running"):
            stack.spawn_service("gateway-http")
        assert stack.processes["gateway-http"] is first and first.alive()
    finally:
        assert stack.stop_service("gateway-http") == 0, first.log_tail()
