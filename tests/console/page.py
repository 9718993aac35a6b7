"""The console as a test sees it: a selenium driver on the console's URL with explicit waits (never sleeps)."""

from __future__ import annotations

from pathlib import Path

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 20  # seconds an element may take to appear (API calls from the page included)


class Console:
    def __init__(self, driver, base_url: str, downloads: Path):
        self.driver = driver
        self.base_url = base_url
        self.downloads = downloads

    # navigation and session
    def open(self, route: str = "") -> None:
        """Load the console (a fresh page) at ``#<route>``."""
        self.driver.get(f"{self.base_url}/#{route}")
        self.driver.refresh()

    def sign_out_quietly(self) -> None:
        self.driver.get(f"{self.base_url}/")
        self.driver.execute_script("sessionStorage.clear()")

    def sign_in(self, username: str, password: str) -> None:
        """Sign in through the form and wait for the devices page."""
        self.sign_out_quietly()
        self.open("/signin")
        self.fill("#signin-username", username)
        self.fill("#signin-password", password)
        self.click("#signin-submit")
        self.wait_for("#device-list")

    def go(self, route: str) -> None:
        """Follow a hash route within the loaded page (rendered afresh even when it is the current one)."""
        self.driver.execute_script("if (location.hash === '#' + arguments[0]) window.dispatchEvent(new HashChangeEvent("
                                   "'hashchange')); else location.hash = arguments[0];", route)

    # elements
    def wait(self, condition, timeout: float = WAIT):
        return WebDriverWait(self.driver, timeout).until(condition)

    def wait_for(self, css: str, timeout: float = WAIT) -> WebElement:
        return self.wait(ec.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)

    def wait_for_text(self, css: str, text: str, timeout: float = WAIT) -> WebElement:
        self.wait(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text), timeout)
        return self.find(css)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def fill(self, css: str, value: str) -> None:
        element = self.wait_for(css)
        element.clear()
        element.send_keys(value)

    def select(self, css: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.wait_for(css)).select_by_value(value)

    def click(self, css: str) -> None:
        self.wait(ec.element_to_be_clickable((By.CSS_SELECTOR, css))).click()

    def accept_confirm(self) -> str:
        """Accept the confirm dialog the last click opened; answers its text."""
        alert = self.wait(ec.alert_is_present())
        text = alert.text
        alert.accept()
        return text

    def no_alert(self) -> bool:
        try:
            self.driver.switch_to.alert
        except NoAlertPresentException:
            return True
        return False

    def session_storage(self, key: str):
        return self.driver.execute_script("return sessionStorage.getItem(arguments[0])", key)

    def local_storage_size(self) -> int:
        return self.driver.execute_script("return localStorage.length")

    def severe_logs(self) -> list[dict]:
        """Browser console errors since the last call (CSP violations and script errors show up here)."""
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def downloaded(self, name: str, timeout: float = WAIT) -> Path:
        """The file ``name`` once the browser has finished downloading it."""
        path = self.downloads / name
        self.wait(lambda _: path.exists() and path.stat().st_size > 0, timeout)
        return path
