"""The modeler speaks Chinese: the palette and the properties panel of a user task, a multi-instance and a
lane show no English label (ids, variable names and the user's own values aside)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_browser import log_in

pytestmark = pytest.mark.browser
VENDOR = Path(__file__).resolve().parent.parent / "web" / "static" / "vendor"
# Words that may stay as they are: technical names the admin types or reads in the XML.
ALLOWED = {"ID", "Camunda", "QName", "ISO", "8601", "Python", "BPMN", "JSON", "XML", "UTC", "P3D"}


def _english_labels(page, selector: str) -> set[str]:
    """Visible label texts (section headers, field labels) and button tooltips made of Latin words. Some of
    the panel's own buttons (Toggle section, Create new list item) bypass the translate service; the
    modeler translates their titles as they are drawn, and this checks that it does."""
    texts = page.eval_on_selector_all(
        f"{selector} .bio-properties-panel-group-header-title, {selector} label",
        "els => els.map(e => (e.innerText || e.getAttribute('title') || '').trim())")
    texts += page.eval_on_selector_all(f"{selector} [title]", "els => els.map(e => e.getAttribute('title').trim())")
    found = set()
    for t in texts:
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z\-]+", t) if w not in ALLOWED]
        if words and not re.search(r"[\u4e00-\u9fff]", t):
            found.add(t)
    return found


def test_palette_and_properties_panel_are_in_chinese(server, browser):
    assert (VENDOR / "modeler.js").exists(), "web/static/vendor/modeler.js is missing: run `make assets`"
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    log_in(page, server, "admin")
    page.goto(f"{server}/admin/modeler")
    page.locator('.djs-element[data-element-id="assign_item"]').wait_for()
    palette = page.eval_on_selector_all(".djs-palette .entry", "els => els.map(e => e.getAttribute('title') || '')")
    english = [t for t in palette if t and not re.search(r"[\u4e00-\u9fff]", t)]
    assert english == [], english
    problems = {}
    for element in ("co_part", "sign_remind", "Lane_co_unit", "Flow_gw_assign_mark_assigned"):  # co_part: multi-instance
        page.locator(f'.djs-element[data-element-id="{element}"]').first.click(force=True)
        closed = page.locator(".properties .bio-properties-panel-group-header:not(.open)")
        for _ in range(30):  # open every section: each click re-renders the list
            if closed.count() == 0:
                break
            closed.first.click()
        found = _english_labels(page, ".properties")
        if found:
            problems[element] = sorted(found)
    assert problems == {}, repr(problems)
