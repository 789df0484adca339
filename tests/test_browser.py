"""The dashboard in a real headless browser: sign in by URL, read a decision, retry a failed note.

Uses Debian's chromium and chromedriver (`apt-get install chromium chromium-driver`; .ci/run
installs them). Selenium Manager must not download a browser or a driver: the driver path is
given explicitly and SE_OFFLINE is set. Without them the test is skipped locally, and fails
under CI (CI=true), where a skip would hide that the browser test never ran.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from .fakehttp import FakeServer, Reply
from .test_dashboard import CONVERSATIONS, PUT, TOKEN, delivered, make_app, replay
from connectors.events import TicketRef

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--window-size=1280,2000")


def _missing() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    absent = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if absent:
        return f"{' and '.join(absent)} not found: apt-get install -y chromium chromium-driver"
    return None


@pytest.fixture
def browser(tmp_path: Path, monkeypatch):
    why = _missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test must run in CI: {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager: never download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")  # fresh: no state between runs
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def helpdesk():
    with FakeServer() as server:
        yield server


@pytest.fixture
def served(settings, helpdesk):
    """The app on a real loopback port, its store seeded through the pipeline; 101's note failed."""
    helpdesk.script("PUT", PUT.format("101"), Reply(404, {"error": "RecordNotFound"}))
    helpdesk.script("PUT", PUT.format("106"), delivered("106"))
    app = make_app(settings, helpdesk)
    runtime = app.extensions["vigil"]
    replay(runtime, CONVERSATIONS)
    runtime.processor.drain()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", runtime
    server.shutdown()
    thread.join(5)
    runtime.close()


def test_operator_signs_in_reads_a_decision_and_retries_a_failed_note(browser, served, helpdesk, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    base, runtime = served
    [failed] = [n for n in runtime.store.notes.list_notes() if n["status"] == "failed"]
    assert failed["ticket_id"] == "101"

    browser.get(f"{base}/dashboard?token={TOKEN}")
    assert browser.current_url == f"{base}/dashboard"  # the token left the address bar
    [cookie] = browser.get_cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] != TOKEN

    reasons = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#decisions tr.decision")]
    assert any("which failed on answer_confidence >= 0.3" in text for text in reasons)
    assert "invoices · export" in browser.find_element(By.ID, "gaps").text

    helpdesk.script("PUT", PUT.format("101"), delivered("101"))  # the helpdesk is back
    browser.find_element(By.CSS_SELECTOR, f"#failed-{failed['id']} button").click()
    WebDriverWait(browser, 15).until(ready.text_to_be_present_in_element((By.ID, "flash"), "delivered"))
    status = browser.find_element(By.CSS_SELECTOR, f"#note-{failed['id']} .status").text
    assert status == "delivered"
    assert not browser.find_elements(By.ID, f"failed-{failed['id']}")
    assert runtime.store.notes.list_notes(TicketRef("zendesk", "101"))[0]["status"] == "delivered"
    browser.save_screenshot(str(tmp_path / "dashboard.png"))  # kept with pytest's tmp dirs, to look at
