"""Every page of every role, in both languages: no English in the Chinese UI, no engine or process text left
in Chinese in the English UI.

The crawler logs in as each demo role, opens the role's task pages (forms) and the pages of the scene below,
then follows the links it is shown (GET only, same site, downloads and log-out skipped) up to a bound per
role, and reads each page's text nodes (scripts, styles and form values aside). Chinese UI: no English words
except product and file-format names and identifiers (usernames, unit codes, file names). English UI: no
engine message (the msgids marked in engine/, which reach pages as flashes, timeline entries and deadline
steps) and no process text (the names, labels and enum names of processes/*.bpmn) in Chinese. Item content,
names and units are data and stay as entered.

The scene adds what the demo lacks: a script the sandbox refuses (an open incident, on the incidents pages
and its item's timeline) and a deadline computed without the next year's holidays (a calendar warning).
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


def _process_texts() -> tuple[set[str], set[str]]:
    """The Chinese texts of processes/*.bpmn that reach users (engine.workflow.process_text), lanes aside (the
    UI names roles and units itself): any of them as a whole text node (a heading, a label, a table cell), and
    the longer ones (计算答复期限) as a part of one ("签订责任状 · 教育局"). Shorter parts (联系人, 电话) are too
    often the words of item content, which stays as entered."""
    from engine.config import PROCESSES_DIR
    from engine.workflow.process_text import texts

    found = {t for path in PROCESSES_DIR.glob("*.bpmn") for _l, t, what in texts(path.read_bytes())
             if not what.startswith("lane ")}
    return found, {t for t in found if len(t) >= 5}


PARTS = re.compile(r"[\s·、，,：:；;（）()\[\]【】/|>›→—-]+")


def _scene(demo_db) -> list[str]:
    """A sandbox-refusal incident and a deadline with a calendar warning; the pages that show them."""
    import time_machine

    from tests.test_incidents import sandbox_incident
    from tests.test_timers import at, do, register

    with time_machine.travel(at("2026-12-28"), tick=False):  # the return window ends in 2027 (not loaded)
        warned = register(demo_db)
        do(demo_db, warned, "office", "assign_item", assign_decision="assign", lead_unit="jyj")
        do(demo_db, warned, "jyj_staff", "sign_for", sign_decision="sign")  # the head's pledge form waits
    incident = sandbox_incident(demo_db)
    return [f"/items/{warned}", f"/items/{incident.item_id}", "/admin/incidents/", "/admin/steps", "/tasks/"]


def _task_pages(client) -> list[str]:
    """The role's task pages (forms), as its inbox links them."""
    page = client.get("/tasks/", follow_redirects=True).get_data(as_text=True)
    return list(dict.fromkeys(re.findall(r'href="(/tasks/[0-9a-f-]{36})"', page)))


def _crawl(client, starts=("/",)):
    seen, queue = set(), deque(starts)
    while queue and len(seen) < PAGES_PER_ROLE + len(starts):
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


CODE_NAME = re.compile(r"\b[A-Za-z_][\w.]*\(\)")  # a Python function named in a script's error: range()


def _english_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", CODE_NAME.sub(" ", text)) if w not in ALLOWED_WORDS]


@pytest.mark.parametrize("role", ROLES)
def test_no_english_in_the_chinese_ui_and_no_engine_chinese_in_the_english_ui(client, demo_db, role):
    engine_messages = _engine_messages()
    assert "此任务已办理或已不存在" in engine_messages
    assert engine_messages["新任务：%(step)s"].search("新任务：签收")
    whole_texts, part_texts = _process_texts()
    assert "签收" in whole_texts and "计算答复期限" in part_texts and "区府办" not in whole_texts
    scene = _scene(demo_db)
    login(client, role)
    starts = ["/", *_task_pages(client), *scene]
    if role not in ("supervisor", "admin", "deputy_chen"):  # a proposer's forms are on the portal's item pages
        assert any(p.startswith("/tasks/") and p != "/tasks/" for p in starts), f"{role} has no task page"
    leaks, visited = [], set()
    client.get("/lang/zh")
    for path, page in _crawl(client, starts):
        visited.add(path)
        # usernames and unit codes belong on the directory; BPMN ids on the process admin's pages
        ids_here = path.startswith("/directory") or (role == "admin" and path.startswith("/admin"))
        for node in _text_nodes(page):
            if ids_here and IDENTIFIER.fullmatch(node):
                continue
            words = [w for w in _english_words(node) if not (ids_here and IDENTIFIER.fullmatch(w))]
            if words:
                leaks.append(f"zh {path}: {node[:80]!r} ({', '.join(words)})")
    client.get("/lang/en")
    english_pages = {}
    for path, page in _crawl(client, starts):
        english_pages[path] = page
        for node in _text_nodes(page):
            hit = next((m for m, pattern in engine_messages.items() if pattern.search(node)), None)
            hit = hit or (node if node in whole_texts else None)
            hit = hit or next((t for t in PARTS.split(node) if t in part_texts), None)
            if hit:
                leaks.append(f"en {path}: {node[:80]!r} (engine or process text {hit!r})")
    assert not leaks, "\n".join(sorted(set(leaks))[:60])
    if role == "admin":  # the scene was read: the incident, its item, the step overview
        assert {"/admin/incidents/", "/admin/steps", scene[1]} <= visited
    if role == "office":  # the calendar warning was on a page read, in English there
        assert scene[0] in visited and "No holiday data for 2027" in english_pages[scene[0]]


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
