"""The top bar in a real browser: one line on a phone behind a menu button, one line at 1366 px for every role."""
from __future__ import annotations

import pytest

from tests.test_browser import log_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
# One login per role; the admin's and the office's menus are the longest.
ROLES = ["admin", "office", "supervisor", "leader_wang", "jtj_staff", "jtj_head", "deputy_chen"]

# The visible boxes the bar lays out side by side (the menu's parts where it is open or never closed).
BAR_ITEMS = """() => [...document.querySelectorAll(
    '.topbar > .brand, .topbar .bell, .topbar .menu-toggle, .topbar .nav, .topbar .who, .topbar .lang')]
  .filter(e => e.offsetParent !== null).map(e => { const r = e.getBoundingClientRect();
    return {cls: e.className, top: r.top, bottom: r.bottom, left: r.left, right: r.right}; })"""


def one_line(items) -> bool:
    """Every box shares a horizontal band with every other: nothing sits below another."""
    return max(i["top"] for i in items) < min(i["bottom"] for i in items)


def link_tops(page) -> list[float]:
    return page.evaluate("[...document.querySelectorAll('.topbar .nav a')].map(a => a.getBoundingClientRect().top)")


def fits(page, width) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_phone_bar_is_one_line_and_its_menu_button_opens_the_links(server, browser):
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    log_in(page, server, "admin")
    page.wait_for_selector("nav.nav", state="attached")
    for lang in ("zh", "en"):
        page.goto(f"{server}/lang/{lang}?next=/tasks/")
        toggle = page.locator(".topbar button.menu-toggle")
        assert toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false"
        menu = page.locator("#" + toggle.get_attribute("aria-controls"))
        links = menu.locator("nav a")
        assert links.count() == 11 and not links.first.is_visible()
        items = page.evaluate(BAR_ITEMS)
        assert {i["cls"].split()[0] for i in items} == {"brand", "bell", "menu-toggle"}, items
        assert one_line(items) and fits(page, PHONE["width"]), items

        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        assert all(links.nth(i).is_visible() for i in range(links.count()))
        assert menu.locator(".who button.link").is_visible() and menu.locator(".lang").is_visible()  # log out, 中文|English
        assert all(b["right"] <= PHONE["width"] for b in page.evaluate(BAR_ITEMS)) and fits(page, PHONE["width"])
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "false" and not links.first.is_visible()

        toggle.focus()  # from the keyboard: Enter opens, Escape closes and leaves the focus on the button
        page.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "true" and links.first.is_visible()
        page.keyboard.press("Escape")
        assert toggle.get_attribute("aria-expanded") == "false" and not links.first.is_visible()
        assert page.evaluate("document.activeElement.classList.contains('menu-toggle')")


def test_without_javascript_the_phone_shows_the_links(server, browser):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    log_in(page, server, "office")
    page.wait_for_selector("nav.nav", state="attached")
    assert not page.locator(".topbar button.menu-toggle").is_visible()  # a button that could not work
    links = page.locator(".topbar .nav a")
    assert links.count() == 9 and all(links.nth(i).is_visible() for i in range(links.count()))
    assert page.locator(".topbar .who button.link").is_visible() and fits(page, PHONE["width"])
    context.close()


def test_every_roles_menu_is_one_line_at_1366_in_both_languages(server, browser):
    seen = {}
    for username in ROLES:
        context = browser.new_context(viewport=LAPTOP)
        page = context.new_page()
        log_in(page, server, username)
        page.wait_for_selector("nav.nav", state="attached")
        for lang in ("zh", "en"):
            page.goto(f"{server}/lang/{lang}?next=/tasks/")
            assert not page.locator(".topbar button.menu-toggle").is_visible()
            tops = link_tops(page)
            items = page.evaluate(BAR_ITEMS)
            seen[username, lang] = len(tops)
            assert len(set(tops)) == 1, (username, lang, tops)  # every link on the first line: none wrapped
            assert one_line(items) and all(i["right"] <= LAPTOP["width"] for i in items), (username, lang, items)
            assert page.locator(".topbar .nav a:visible").count() == len(tops)  # none hidden to make room
            assert fits(page, LAPTOP["width"])
        context.close()
    assert seen["admin", "en"] == 11 and seen["office", "en"] == 9
