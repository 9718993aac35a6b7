"""Signing in and out in the browser: the token lives in sessionStorage only, errors are readable, 401 → sign-in."""

import json

import pytest
import requests

pytestmark = pytest.mark.e2e


def test_the_console_page_is_served_with_a_strict_policy(services):
    response = requests.get(services["api"] + "/", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "<script>" not in response.text and "style=" not in response.text
    asset = requests.get(services["api"] + "/console/app.js", timeout=10)
    assert asset.status_code == 200 and asset.headers["Content-Type"].startswith("text/javascript")
    assert asset.headers["Cache-Control"] == "public, max-age=300"
    assert asset.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(services["api"] + "/console/nothing.js", timeout=10).status_code == 404
    # the console leaves the API's routing alone
    assert requests.get(services["api"] + "/api/devices", timeout=10).status_code == 401
    assert requests.get(services["api"] + "/.well-known/jwks.json", timeout=10).status_code == 200


def test_the_gateway_url_of_the_examples_comes_from_the_configuration(services):
    page = requests.get(services["api"] + "/", timeout=10).text
    assert f'<meta name="iot-gateway-url" content="{services["gateway"]}">' in page


def test_a_wrong_password_shows_the_api_error_and_keeps_the_form(browser, new_user):
    user = new_user()
    browser.sign_out_quietly()
    browser.open("/signin")
    browser.fill("#signin-username", user.username)
    browser.fill("#signin-password", "not the password")
    browser.click("#signin-submit")
    error = browser.wait_for("#signin-error [role=alert]")
    assert "invalid" in error.text.lower() or "wrong" in error.text.lower() or "incorrect" in error.text.lower()
    assert "401" in error.text
    assert browser.session_storage("iot.session") is None
    assert browser.find("#signin-form").is_displayed()


def test_sign_in_keeps_the_token_in_session_storage_shows_the_user_and_signs_out(browser, new_user):
    user = new_user()
    browser.sign_in(user.username, user.password)
    stored = json.loads(browser.session_storage("iot.session"))
    assert stored["user"]["username"] == user.username
    # the stored token is a real one the API accepts
    assert requests.get(browser.base_url + "/api/users/self", timeout=10,
                        headers={"Authorization": f"Bearer {stored['token']}"}).json()["username"] == user.username
    assert browser.local_storage_size() == 0
    assert user.username in browser.wait_for("#session-user").text
    browser.click("#signout")
    browser.wait_for("#signin-form")
    assert browser.session_storage("iot.session") is None
    assert not browser.find("#nav").is_displayed()


def test_a_revoked_session_goes_back_to_sign_in(browser, new_user, admin):
    user = new_user()
    browser.sign_in(user.username, user.password)
    admin.update_user(user.user["id"], password="a brand new password")  # signs the user out everywhere
    browser.go("/consumers")
    browser.wait_for("#signin-form")
    assert "sign in again" in browser.wait_for("#flash").text.lower()
    assert browser.session_storage("iot.session") is None


def test_without_a_session_every_page_asks_to_sign_in(browser):
    browser.sign_out_quietly()
    browser.open("/devices/abc")
    browser.wait_for("#signin-form")
    assert browser.driver.current_url.endswith("#/signin")


def test_no_console_errors_while_signing_in(browser, new_user):
    user = new_user()
    browser.severe_logs()  # forget earlier ones (the wrong password's 401 is logged by the browser)
    browser.sign_in(user.username, user.password)
    browser.go("/consumers")
    browser.wait_for("#consumer-list")
    assert browser.severe_logs() == []
