"""The Content-Security-Policy in a real browser: the pages with scripts (modeler, diagram viewer, charts)
work under it, and the browser reports no violation."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.models import Item
from tests.test_browser import log_in

pytestmark = pytest.mark.browser


def test_script_pages_run_under_the_content_security_policy(server, browser, demo_db):
    with demo_db.reading() as s:
        key_item = s.scalars(select(Item.id).where(Item.title == "关于老旧小区加装电梯的建议")).first()
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    log_in(page, server, "admin")
    page.goto(f"{server}/admin/modeler")
    page.locator('.djs-element[data-element-id="assign_item"]').wait_for()
    page.goto(f"{server}/items/{key_item}")
    page.locator(".djs-element").first.wait_for()  # the live diagram drew
    page.goto(f"{server}/reports/?year=2025")
    page.wait_for_selector("#chart-units canvas")
    assert not problems, problems
