"""Each kind of note as Zendesk shows it, in a real headless browser, screenshot kept to look at.

The notes are made by the pipeline from conversations (answer, flag, nudge, brief, summary),
rendered by the Zendesk connector's renderer, and opened in Chromium inside a page styled
like Zendesk's internal-note box. The assertions read what the browser built (lists, links
and their attributes); the screenshots are written to VIGIL_TEST_NOTE_SCREENSHOTS (or pytest's
temporary folder) for a person to judge. Uses the browser fixture of tests/test_browser.py.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pytest

from connectors.zendesk.render import to_html

from .note_kinds import notes_of_every_kind
from .test_action_notes import PRIVATE
from .test_browser import browser  # noqa: F401 - the fixture

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body {{ font: 14px/1.5 "SF Pro Text", system-ui, sans-serif; color: #2f3941; background: #f8f9f9; margin: 0; padding: 24px; }}
.note {{ max-width: 640px; background: #fff6e5; border: 1px solid #f5d9a8; border-radius: 4px; padding: 12px 16px; }}
.who {{ font-weight: 600; margin-bottom: 6px; }} .who span {{ color: #87929d; font-weight: 400; }}
p {{ margin: 0 0 10px; }} ol, ul {{ margin: 0 0 10px; padding-left: 22px; }} a {{ color: #1f73b7; }}
code {{ background: #e9ebed; padding: 0 3px; border-radius: 2px; }}
</style></head><body><div class="note"><div class="who">Vigil <span>internal note</span></div>
<div id="body">{body}</div></div></body></html>"""


def shots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("VIGIL_TEST_NOTE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_kind_of_note_renders_as_an_analyst_reads_it(browser, runtime, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    settings = runtime.settings.replace(knowledge_url="https://git.example.com/acme/kb/blob/main/knowledge")
    runtime.pipeline.settings = settings
    folder = shots_dir(tmp_path)
    for kind, body in notes_of_every_kind(runtime).items():
        page = folder / f"note-{kind}.html"
        page.write_text(PAGE.format(title=kind, body=to_html(body)), encoding="utf-8")
        browser.get(page.as_uri())
        shown = browser.find_element(By.ID, "body")
        text = shown.text
        assert "**" not in text and "`" not in text, kind  # Markdown rendered, not shown as typed
        assert text.startswith("Vigil:") and "Why you see this:" in text, kind
        for private in PRIVATE:
            assert private not in text, (kind, private)
        for link in shown.find_elements(By.TAG_NAME, "a"):
            assert link.get_attribute("href").startswith("https://"), kind
        browser.set_window_size(720, 320 + shown.size["height"])
        browser.save_screenshot(str(folder / f"note-{kind}.png"))
        if kind == "answer":
            steps = shown.find_elements(By.CSS_SELECTOR, "ol > li")
            assert [s.text.split()[0] for s in steps] == ["Confirm", "Send", "If"]
            [source] = shown.find_elements(By.CSS_SELECTOR, "ul > li > a")
            assert source.get_attribute("href") == ("https://git.example.com/acme/kb/blob/main/knowledge/"
                                                    "account/reset-password.md")
        if kind == "flag":
            facts = [li.text for li in shown.find_elements(By.CSS_SELECTOR, "ul > li")]
            assert "Money at stake: $4,200" in facts and "Deadline: launch is on Friday" in facts


def test_a_hostile_link_in_a_note_cannot_add_an_attribute(browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    hostile = ('See https://evil.test/x"onmouseover="document.title=1"style="display:block" and '
               '[click](https://evil.test/y"onclick="document.title=2) and <img src=x onerror="document.title=3">')
    page = tmp_path / "hostile.html"
    page.write_text(PAGE.format(title="safe", body=to_html(hostile)), encoding="utf-8")
    browser.get(page.as_uri())
    from selenium.webdriver.common.action_chains import ActionChains
    for link in browser.find_elements(By.TAG_NAME, "a"):
        ActionChains(browser).move_to_element(link).perform()  # an injected onmouseover would run now
        assert browser.execute_script("return arguments[0].getAttributeNames()", link) == ["href"]
    assert browser.title == "safe" and not browser.find_elements(By.TAG_NAME, "img")
    assert html.unescape(browser.find_element(By.ID, "body").text).count("onmouseover") == 1  # shown as text
