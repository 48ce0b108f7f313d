"""Every page of every role, in both languages: no English in the Chinese UI, no engine text left in
Chinese in the English UI.

The crawler logs in as each demo role, follows the links it is shown (GET only, same site, downloads and
log-out skipped) up to a bound per role, and reads each page's text nodes (scripts, styles and form
values aside). Chinese UI: no English words except product and file-format names and identifiers
(usernames, unit codes, file names). English UI: no engine message (the msgids marked in engine/, which
reach pages as flashes, timeline entries and deadline steps) in Chinese. Item content, names and units
are data and stay as entered.
"""
from __future__ import annotations

import html
import re
from collections import deque
from urllib.parse import urljoin, urlparse

import pytest

from tests.conftest import login
from tests.test_i18n import KEYWORDS

ROLES = ("office", "jyj_staff", "jyj_head", "leader_wang", "deputy_chen", "supervisor", "admin")
PAGES_PER_ROLE = 30
SKIP = re.compile(r"/logout|/lang/|\.xlsx$|\.docx$|\.bpmn$|/attachments/|^/api/|^/static/|\.json$|^/diagram/")
# Names that stay as they are in a Chinese UI: the product, the language switch, file formats.
ALLOWED_WORDS = {"banli", "English", "Word", "Excel", "PDF", "OFD", "ECharts", "BPMN", "Camunda", "Modeler",
                 "SHA", "JSON", "API", "REST", "NDJSON", "XML"}
IDENTIFIER = re.compile(r"[a-z0-9_.@-]+|[\w.-]+\.(?:pdf|docx|xlsx|png|jpg|bpmn)|v\d+", re.IGNORECASE)
HAN = re.compile(r"[\u4e00-\u9fff]")


def _text_nodes(page: str) -> list[str]:
    page = re.sub(r"(?is)<(script|style|svg|textarea|select|code|pre|option)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<!--.*?-->", " ", page)
    return [t for t in (html.unescape(x).strip() for x in re.split(r"<[^>]+>", page)) if t]


PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _engine_messages() -> dict[str, re.Pattern]:
    """The Chinese messages marked in engine/ (N_), long enough not to be mistaken for a step's name, each
    with the pattern its filled-in text matches (a parameter stands for any text)."""
    from babel.messages.extract import extract_from_dir

    found = {m for _f, _l, m, _c, _x in extract_from_dir("engine", keywords=KEYWORDS) if isinstance(m, str)}
    return {m: re.compile(".+?".join(re.escape(part) for part in PLACEHOLDER.split(m)), re.S)
            for m in found if HAN.search(m) and len(PLACEHOLDER.sub("", m).strip()) >= (4 if "%(" in m else 6)}


def _crawl(client, start: str = "/"):
    seen, queue = set(), deque([start])
    while queue and len(seen) < PAGES_PER_ROLE:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        r = client.get(path, follow_redirects=True)
        assert r.status_code < 500, f"{path} answered {r.status_code}"
        if r.mimetype != "text/html":
            continue
        page = r.get_data(as_text=True)
        for href in re.findall(r'href="([^"#]+)"', page):
            u = urlparse(urljoin(f"http://localhost{path}", html.unescape(href)))
            if u.netloc == "localhost" and not SKIP.search(u.path) and "page=" not in u.query:
                target = u.path + (f"?{u.query}" if u.query else "")
                if target not in seen:
                    queue.append(target)
        yield r.request.path, page  # where it landed (a start page is a redirect)


def _english_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", text) if w not in ALLOWED_WORDS]


@pytest.mark.parametrize("role", ROLES)
def test_no_english_in_the_chinese_ui_and_no_engine_chinese_in_the_english_ui(client, role):
    engine_messages = _engine_messages()
    assert "此任务已办理或已不存在" in engine_messages
    assert engine_messages["新任务：%(step)s"].search("新任务：签收")
    login(client, role)
    leaks = []
    client.get("/lang/zh")
    for path, page in _crawl(client):
        # usernames and unit codes belong on the directory; BPMN ids on the process admin's pages
        ids_here = path.startswith("/directory") or (role == "admin" and path.startswith("/admin"))
        for node in _text_nodes(page):
            if ids_here and IDENTIFIER.fullmatch(node):
                continue
            words = [w for w in _english_words(node) if not (ids_here and IDENTIFIER.fullmatch(w))]
            if words:
                leaks.append(f"zh {path}: {node[:80]!r} ({', '.join(words)})")
    client.get("/lang/en")
    for path, page in _crawl(client):
        for node in _text_nodes(page):
            hit = next((m for m, pattern in engine_messages.items() if pattern.search(node)), None)
            if hit:
                leaks.append(f"en {path}: {node[:80]!r} (engine text {hit!r})")
    assert not leaks, "\n".join(sorted(set(leaks))[:60])


def test_timeline_entries_with_parameters_read_in_the_readers_language(client, demo_db):
    """A timeline title with parameters (an urge: channel and unit) is kept as a catalog message: the
    English item page shows it in English, the Chinese one in Chinese; a title stored as plain text by an
    older version still shows as it was written."""
    from sqlalchemy import select

    from engine.items import supervision
    from engine.models import AuditEvent, Item
    from tests.conftest import user

    with demo_db.transaction() as s:
        item = s.scalars(select(Item).where(Item.lead_unit_id.is_not(None), Item.status == "handling")).first()
        supervision.urge(s, user(s, "office"), item, item.lead_unit.code, "phone", "", "请抓紧答复。")
        s.add(AuditEvent(item_id=item.id, action="urged", title="旧版催办记录"))
        item_id, unit = item.id, item.lead_unit.name
    login(client, "office")
    client.get("/lang/en")
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert f"Urged by phone: {unit}" in page and "催办（电话催办）" not in page
    assert "旧版催办记录" in page
    client.get("/lang/zh")
    assert f"催办（电话催办）：{unit}" in client.get(f"/items/{item_id}").get_data(as_text=True)
