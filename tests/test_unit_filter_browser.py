"""The unit filter's type-ahead in a browser: suggestions as one types, the unit picked sent by id, the list
filtered by it; on a phone, the public list's form fits the screen."""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import select

from engine.models import Unit
from tests.test_browser import log_in

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def _typed(page, text: str) -> list[str]:
    """Type `text` into the unit filter and return the suggestions answered for it."""
    with page.expect_response(lambda r: "q=" in r.url and r.url.endswith("q=" + quote(text))):
        page.locator('input[name="unit_name"]').press_sequentially(text, delay=30)
    page.locator("#unit-suggestions option").first.wait_for(state="attached")
    return page.locator("#unit-suggestions option").evaluate_all("options => options.map(o => o.value)")


def test_the_item_list_suggests_units_and_filters_by_the_one_picked(server, browser, demo_db):
    with demo_db.reading() as s:
        jtj = s.scalars(select(Unit.id).where(Unit.code == "jtj")).one()
    page = browser.new_page(locale="zh-CN")
    log_in(page, server, "office")
    page.goto(f"{server}/items/")
    unfiltered = page.locator("table.list tbody tr").count()
    field = page.locator('input[name="unit_name"]')
    assert _typed(page, "交通") == ["区交通运输局"]
    field.fill("区交通运输局")  # what picking the suggestion puts in the field
    assert page.input_value('input[type="hidden"][name="unit"]') == str(jtj)
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(rf"unit={jtj}"))
    assert page.input_value('input[name="unit_name"]') == "区交通运输局"  # the filter still shows its value
    filtered = page.locator("table.list tbody tr").count()
    assert 0 < filtered < unfiltered

    field = page.locator('input[name="unit_name"]')
    field.fill("")
    assert len(_typed(page, "局")) >= 2 and page.input_value('input[type="hidden"][name="unit"]') == ""
    page.click("form.filters button[type=submit]")
    page.wait_for_selector(".unit-notice")
    page.click(".unit-notice a:text-is('区交通运输局')")
    page.wait_for_url(re.compile(rf"unit={jtj}"))
    assert page.locator("table.list tbody tr").count() == filtered


def test_the_public_unit_filter_on_a_phone(server, browser):
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page.goto(f"{server}/public/")
    field = page.locator('input[name="unit_name"]')
    assert _typed(page, "教育") == ["区教育局"]
    box = field.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 30
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    field.press("Enter")
    page.wait_for_url(re.compile(r"unit_name="))
    units = {u.strip() for u in page.locator(".pub-hit .meta span:nth-child(2)").all_inner_texts()}
    assert units == {"区教育局"}
