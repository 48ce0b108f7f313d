"""The modeler in a real browser: open it, rename a task on the canvas, deploy, and see version 2 listed.

Needs the bundles of `make assets` (web/static/vendor/); without them the test fails and says so.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.workflow.deployment import latest
from engine.models import ProcessDefinition
from tests.test_browser import log_in

pytestmark = pytest.mark.browser
VENDOR = Path(__file__).resolve().parent.parent / "web" / "static" / "vendor"


def test_rename_a_task_in_the_modeler_and_deploy_version_2(server, browser, demo_db):
    assert (VENDOR / "modeler.js").exists(), "web/static/vendor/modeler.js is missing: run `make assets`"
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, server, "admin")
    page.goto(f"{server}/admin/modeler")
    task = page.locator('.djs-element[data-element-id="assign_item"]')
    task.wait_for()
    assert page.locator(".bio-properties-panel").count() == 1

    task.dblclick()  # bpmn-js direct editing of the label
    editor = page.locator(".djs-direct-editing-parent")
    editor.wait_for()
    page.keyboard.press("Control+A")
    page.keyboard.type("交办（新）")
    page.locator(".canvas").click(position={"x": 5, "y": 5})  # commit the label
    page.locator('.djs-element[data-element-id="assign_item"]').click()
    assert "常规" in page.inner_text(".properties")  # the properties panel speaks Chinese

    page.click("button.deploy-button")
    page.wait_for_selector(".flash.success")
    assert "v2" in page.inner_text(".flash.success")
    versions = page.inner_text("table.versions")
    assert "v2" in versions and "v1" in versions and "admin" in versions
    assert errors == []
    with demo_db.reading() as s:
        newest = latest(s, "item_handling")
        assert newest.version == 2 and newest.deployed_by == "admin"
        assert 'name="交办（新）"' in newest.bpmn_xml
        assert s.scalars(select(ProcessDefinition.version).order_by(ProcessDefinition.version)).all() == [1, 2]
