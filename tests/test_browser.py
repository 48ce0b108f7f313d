"""A real browser (Debian's chromium, headless, driven by Playwright; fixtures in conftest) against the real server."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

def log_in(page, base, username):
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", "banli2026")
    page.click("button[type=submit]")


def test_sign_for_in_the_browser_shows_on_the_timeline(server, browser):
    page = browser.new_page()
    log_in(page, server, "jyj_staff")
    page.wait_for_selector("text=我的待办")
    page.click("text=关于加强中小学课后服务的提案")
    page.select_option("#f-sign_decision", "sign")
    page.click("button.primary")
    page.wait_for_selector(".flash.success")
    timeline = page.inner_text(".timeline")
    assert "签收" in timeline and "王教育（经办人）" in timeline
    page.goto(f"{server}/tasks/")
    assert "课后服务" not in page.inner_text("main")  # the next step is the unit head's


def test_phone_sized_inbox(server, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, server, "office")
    page.wait_for_selector("table.list")
    page.wait_for_load_state("networkidle")
    # Rows stack on a phone: no horizontal scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Nothing the page asks for is missing, the tab's icon included (a browser asks for it on its own).
    assert errors == []
    icon = page.evaluate("fetch('/favicon.ico').then(r => r.status + ' ' + r.headers.get('content-type'))")
    assert icon.startswith("200 image/svg+xml")


def test_the_api_reference_renders_under_the_sites_content_policy(server, browser):
    """/api/v1/docs is Swagger UI served from our own static files: its start-up script is one of them too, as
    the site's Content-Security-Policy (script-src 'self') runs no inline script."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "banli 办理 REST API" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock-summary-path").count() > 10  # the operations are listed
    assert errors == []
