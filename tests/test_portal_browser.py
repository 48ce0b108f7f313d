"""A proposer rates a reply on a phone (390x844): portal, rating form, result, without sideways scrolling."""
from __future__ import annotations

import pytest

from tests.test_browser import log_in
from tests.test_portal import merged  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_rating_form_on_a_phone(server, browser):  # noqa: F811
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    log_in(page, server, "deputy_chen")
    page.goto(f"{server}/portal/")
    waiting = page.locator("ul.cards > li.waiting").first
    assert "关于治理河道黑臭水体的建议" in waiting.inner_text()
    assert fits(page)
    waiting.locator("a.button").click()

    page.wait_for_selector("#f-attitude")
    assert fits(page)
    box = page.locator("#f-attitude").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 30  # tappable
    page.select_option("#f-attitude", "satisfied")
    page.select_option("#f-result", "unsatisfied")
    page.click("button.primary")
    assert "此项为必填项" in page.inner_text(".field.has-error")  # 不满意 needs a reason
    page.fill("#f-rating_reason", "答复没有给出治理时间表。")
    page.click("button.primary")
    page.wait_for_selector(".flash.success")

    page.goto(f"{server}/portal/")
    card = page.locator("ul.cards > li", has_text="关于治理河道黑臭水体的建议").first
    # rated: whether to re-handle is the office's deliberation (研究重新办理), not shown to the proposer
    assert "已评价" in card.inner_text() and "研究" not in card.inner_text() and card.locator("a.button").count() == 0
    card.locator("h3 a").click()
    assert "办理结果 不满意（答复没有给出治理时间表。）" in page.inner_text("main")
    assert fits(page)


def test_a_merged_items_proposer_rates_on_a_phone(server, browser, merged):  # noqa: F811
    """并案: the list asks Liu to rate, the form keeps the choices when a reason is missing, then takes the rating."""
    _lead, other = merged
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    log_in(page, server, "deputy_liu")
    page.goto(f"{server}/portal/")
    waiting = page.locator("ul.cards > li.waiting").first
    assert "关于延长公交末班车时间的建议" in waiting.inner_text() and "已答复，待评价" in waiting.inner_text()
    assert fits(page)
    waiting.locator("a.button").click()
    page.wait_for_selector("#rate #f-attitude")
    page.select_option("#f-attitude", "basically_satisfied")
    page.select_option("#f-result", "unsatisfied")
    page.click("#rate button.primary")
    assert "此项为必填项" in page.inner_text("#rate .field.has-error")
    assert page.input_value("#f-attitude") == "basically_satisfied" and page.input_value("#f-result") == "unsatisfied"
    assert fits(page)
    page.fill("#f-rating_reason", "末班车仍然太早。")
    page.click("#rate button.primary")
    page.wait_for_selector(".flash.success")
    assert "办理结果 不满意（末班车仍然太早。）" in page.inner_text("main") and "已评价" in page.inner_text("main")
    assert fits(page)


def test_public_and_statistics_pages_fit_a_phone(server, browser):  # noqa: F811
    page = browser.new_page(viewport=PHONE, locale="zh-CN")
    page.goto(f"{server}/public/")
    assert page.locator("li.pub-hit").count() > 0 and fits(page)
    log_in(page, server, "office")
    page.goto(f"{server}/reports/?year=2025")
    page.wait_for_selector("#chart-units")
    assert fits(page)


def test_assigner_takes_a_suggested_unit(server, browser):  # noqa: F811
    page = browser.new_page(locale="zh-CN")
    log_in(page, server, "office")
    page.goto(f"{server}/tasks/")
    page.click("text=关于优化老城区公交线路的建议")
    page.locator("#similar-items button[data-unit='jtj'][data-role='lead']").click()
    page.locator("#similar-items button[data-unit='jyj'][data-role='co']").click()
    assert page.input_value("#f-lead_unit") == "jtj"
    assert page.is_checked("input[name=co_units][value=jyj]")
