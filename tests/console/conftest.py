"""Fixtures of the console tests: the composed API (with the console), gateway-http and the pipeline as real
processes on the emulators, and one headless Chromium per test module driven by selenium."""

from __future__ import annotations

import os
import shutil

import pytest

from emulators.api_client import ApiClient
from tests.console.page import Console
from tests.support.accounts import signed_in_admin
from tests.support.names import unique
from tests.support.tools import missing

PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install chromium chromium-driver"


@pytest.fixture(scope="package")
def services(stack):
    """gateway-http, the pipeline and the composed API whose console shows that gateway's URL."""
    stack.start_service("gateway-http", key="console-gateway-http")
    stack.start_service("pipeline")
    gateway = stack.url("console-gateway-http", "/")
    stack.start_service("api", key="console-api", extra_env={"IOT_CONSOLE_GATEWAY_URL": gateway,
                                                               "IOT_REVOCATION_CACHE_TTL": "1"})
    yield {"api": stack.url("console-api", ""), "gateway": gateway}
    for key in ("console-api", "pipeline", "console-gateway-http"):
        stack.stop_service(key)


def _tool(preferred: str, name: str) -> str:
    path = preferred if os.access(preferred, os.X_OK) else shutil.which(name)
    if path is None:
        missing(f"{name} is missing: {INSTALL}")
    return path


@pytest.fixture(scope="module")
def browser(services, tmp_path_factory):
    """One headless Chromium for the module, its downloads going to a temporary folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = _tool(CHROMIUM, "chromium")
    driver_path = _tool(CHROMEDRIVER, "chromedriver")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--disable-gpu", "--lang=en-US"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield Console(driver, services["api"], downloads)
    finally:
        driver.quit()


@pytest.fixture
def admin(stack, services, firestore_db) -> ApiClient:
    """The development admin, signed in through the API (re-created after the per-test Firestore wipe)."""
    return signed_in_admin(stack.settings(), firestore_db, services["api"])


@pytest.fixture
def new_user(services, admin):
    """A factory of fresh users, each an API client signed in, with ``username`` and ``password``."""

    def make(role: str = "user") -> ApiClient:
        username = unique("u").replace("-", "")
        user = admin.create_user(username, PASSWORD, role=role)
        client = ApiClient(services["api"])
        client.signin(username, PASSWORD)
        client.username, client.password, client.user = username, PASSWORD, user
        return client

    return make
