"""In a real browser: a reply returned by the office reopens with the last draft, ready to correct."""
from __future__ import annotations

import pytest

from tests.test_browser import log_in

pytestmark = pytest.mark.browser

TITLE = "完善社区医疗服务"  # the demo's item whose reply waits for the office's review (区卫健委)


def test_returned_draft_keeps_its_text(server, browser):
    page = browser.new_page()
    log_in(page, server, "office")
    page.wait_for_selector("text=我的待办")
    page.click(f"tr:has-text('{TITLE}'):has-text('审核答复') a")
    page.select_option("#f-review_decision", "return")
    page.fill("#f-review_opinion", "请补充服务站的选址和进度。")
    page.click("button.primary")
    page.wait_for_selector(".flash.success")
    assert "驳回修改" in page.inner_text(".flash.success") and "驳回修改" in page.inner_text(".timeline")
    page.click("button.link")  # log out

    log_in(page, server, "wjw_staff")
    page.wait_for_selector("text=我的待办")
    page.click(f"tr:has-text('{TITLE}'):has-text('拟写答复') a")
    page.wait_for_selector("#f-reply_text")
    assert page.input_value("#f-reply_text") == "正在推进社区卫生服务中心标准化建设。"
    assert page.input_value("#f-promised") == "年内新增两个服务站。"
    assert page.input_value("#f-reply_class") == "B" and page.input_value("#f-disclosure") == "summary"
    assert "请补充服务站的选址和进度。" in page.inner_text(".side")  # the office's opinion beside the form
    page.fill("#f-reply_text", "正在推进社区卫生服务中心标准化建设，新增服务站选址已确定。")
    page.click("button.primary")
    page.wait_for_selector(".flash.success")
    assert "新增服务站选址已确定" in page.inner_text(".side, main")
