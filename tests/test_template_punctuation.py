"""No Chinese full-width punctuation outside the translated strings of the templates.

Chinese is the default UI language, and a template that writes `{{ _('延期申请') }}：{{ date }}` or
`（{{ _('原期限') }} {{ date }}）` shows that colon and those brackets on the English pages too ("Extension
request：2026-05-01", "（originally 2026-05-01）"). Punctuation that belongs to words goes into their msgid
(`_('延期申请：%(old)s → %(new)s（%(reason)s）', ...)`); a bare separator between values is one of the
translated separators of web/helpers.py (`colon`, `list_sep`, `full_stop`, `paren(text)`), which the English
catalog renders as ": ", ", ", ". " and " (text)".

The scan reads each template with Jinja's own lexer: its text outside `{% trans %}` blocks and its string
literals other than a gettext call's message (`join('、')` shows on the page as it is), comments aside.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import Environment

from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "web/templates"
# Chinese punctuation with no place in English text (the curly quotes “” are English punctuation too).
FULL_WIDTH = re.compile(r"[：，（）；、。！？【】《》「」]")
GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext", "_l", "lazy_gettext"}
_LEXER = Environment(extensions=["jinja2.ext.i18n"]).lexer


def untranslated_punctuation(source: str) -> list[tuple[int, str, str]]:
    """(line, punctuation, what) for each full-width punctuation mark the template shows untranslated: in its
    text outside {% trans %} blocks, or in a string literal that is not a gettext message (the first
    argument of _(), or a singular/plural of ngettext). Comments are skipped by the lexer's token types."""
    tokens = [t for t in _LEXER.tokeniter(source, "template") if t[1] != "whitespace"]
    found = []
    in_trans = False
    calls: list[str | None] = []  # the open brackets of the current tag: the gettext function each one calls
    for n, (line, kind, value) in enumerate(tokens):
        before = tokens[n - 1] if n else (0, "", "")
        if kind == "name" and before[1] == "block_begin":
            in_trans = {"trans": True, "pluralize": True, "endtrans": False}.get(value, in_trans)
        elif kind in ("block_begin", "variable_begin"):
            calls = []
        elif kind == "operator" and value in "([{":
            calls.append(before[2] if value == "(" and before[1] == "name" and before[2] in GETTEXT else None)
        elif kind == "operator" and value in ")]}":
            calls = calls[:-1]
        elif kind == "data" and not in_trans:
            for m in FULL_WIDTH.finditer(value):
                found.append((line + value.count("\n", 0, m.start()), m.group(), "text"))
        elif kind == "string" and FULL_WIDTH.search(value):
            # a message: a positional argument of a gettext call (not a keyword argument's value)
            message = bool(calls) and calls[-1] is not None and before[2] in ("(", ",") and before[1] == "operator"
            if not message:
                found.extend((line, m.group(), f"string {value}") for m in FULL_WIDTH.finditer(value))
    return found


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_the_scan_finds_punctuation_outside_messages_only():
    source = """{# 注释：不显示（comment） #}
<p>{{ _('延期申请：%(d)s', d=x) }}</p>{% trans %}已有（%(n)s）件{% endtrans %}
<p>{{ _('延期申请') }}：{{ x }}</p>
<p>{{ ngettext('%(n)s 件（单）', '%(n)s 件（多）', n) }} {{ _('已答复 %(n)s', n=x or '（无）') }}</p>
<p>{{ units|join('、') }}{{ _(label) }}</p>
<p>{% if a %}（{{ a }}）{% endif %}</p>"""
    assert untranslated_punctuation(source) == [
        (3, "：", "text"), (4, "（", "string '（无）'"), (4, "）", "string '（无）'"),
        (5, "、", "string '、'"), (6, "（", "text"), (6, "）", "text")]


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_show_no_untranslated_full_width_punctuation(path):
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = untranslated_punctuation(source)
    assert not found, (f"full-width punctuation outside translated strings in {path.relative_to(ROOT)} (move it "
                       "into the msgid, or use a separator of web/helpers.py):\n" + "\n".join(
                           f"  {line}: {mark} ({what}): {lines[line - 1].strip()[:140]}"
                           for line, mark, what in found))


# --- what the tester saw: an extension request and its deadline, in English -----------------------------

def visible_text(page: str) -> str:
    """A page's text as a reader sees it: markup, scripts and styles out, whitespace runs as one space."""
    import html

    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", page)))


def _extension(demo_db, approve: bool, title: str = "加装电梯"):
    """An extension request of the reply deadline of the 2026 item `title` (the demo's 加装电梯 is handled by the
    housing bureau), approved or pending: (item id, old date, new date)."""
    from datetime import timedelta

    from sqlalchemy import select

    from engine.items.extensions import decide_extension, open_reply_deadline, request_extension
    from engine.models import Item
    from tests.conftest import user

    with demo_db.transaction() as s:
        item = s.scalars(select(Item).where(Item.title.contains(title), Item.year == 2026)).one()
        old = open_reply_deadline(s, item).due_date
        new = old + timedelta(days=30)
        req = request_extension(s, item, user(s, "zjj_staff"), new.isoformat(), "需协调规划审批")
        item_id, req_id = item.id, req.id
    if approve:
        with demo_db.transaction() as s:
            decide_extension(s, req_id, user(s, "office"), True, "同意")
    return item_id, old.isoformat(), new.isoformat()


def _get(client, path: str, lang: str) -> str:
    client.get(f"/lang/{lang}")
    r = client.get(path)
    assert r.status_code == 200, f"{path} answered {r.status_code}"
    return visible_text(r.get_data(as_text=True))


def test_english_item_page_shows_an_extension_and_the_original_deadline_with_ascii_punctuation(client, demo_db):
    item_id, old, new = _extension(demo_db, approve=True)
    login(client, "office")
    en = _get(client, f"/items/{item_id}", "en")
    assert f"Extension request: {old} → {new} (需协调规划审批)" in en
    assert f"{new} (Previously due on {old})" in en
    assert not re.search(r"(Extension request|Previously due on)[^·]*?[：（）]", en), "full-width punctuation"
    zh = _get(client, f"/items/{item_id}", "zh")  # the Chinese page as before
    assert f"延期申请：{old} → {new}（需协调规划审批）" in zh and f"{new} （原期限 {old}）" in zh


def test_english_inbox_and_task_page_show_ascii_punctuation(client, demo_db):
    from sqlalchemy import select

    from engine.items.extensions import decide_extension
    from engine.models import ExtensionRequest
    from tests.conftest import csrf_token, user
    from tests.test_followup import handle_to_reply, new_item

    handle_to_reply(demo_db, new_item(demo_db, "关于社区食堂的建议"))  # the housing bureau drafts the reply
    item_id, old, new = _extension(demo_db, approve=False, title="社区食堂")
    login(client, "office")
    assert f"Decide the extension request ({old} → {new})" in _get(client, "/tasks/", "en")
    assert f"审批延期申请（{old} → {new}）" in _get(client, "/tasks/", "zh")
    # approved: the reply task's page shows its step deadline extended
    with demo_db.transaction() as s:
        req = s.scalars(select(ExtensionRequest).where(ExtensionRequest.item_id == item_id)).one()
        decide_extension(s, req.id, user(s, "office"), True, "同意")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/tasks/")})
    login(client, "zjj_staff")
    inbox = client.get("/tasks/").get_data(as_text=True)
    task = next(href for href, title in re.findall(r'href="(/tasks/[0-9a-f-]{36})">([^<]*)<', inbox)
                if "社区食堂" in title)
    en = _get(client, task, "en")
    assert re.search(rf"Status: [A-Za-z ]+ · Deadline of this step {new} [A-Za-z ]+ "
                     rf"\(extended; originally {old}\)", en)
    zh = _get(client, task, "zh")
    assert re.search(rf"状态：\w+ · 本环节期限 {new} \w+（经延期，原期限 {old}）", zh)
