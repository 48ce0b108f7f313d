"""The English catalog covers every UI string the source uses, with the same placeholders.

Msgids are the Simplified Chinese UI text (Chinese is the default locale and needs no catalog). The
strings are extracted here straight from the source with Babel, the way `pybabel extract` reads babel.cfg,
so a new `_()` that nobody translated fails the suite. To fix a failure:

    .venv/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o web/translations/messages.pot .
    .venv/bin/pybabel update -i web/translations/messages.pot -d web/translations -l en
    # translate the new entries in web/translations/en/LC_MESSAGES/messages.po (no fuzzy, none empty)
    make translations
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
EN_PO = ROOT / "web/translations/en/LC_MESSAGES/messages.po"
# The same keywords as the extract command above (-k _l -k lazy_gettext) on top of Babel's defaults.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
# printf-style placeholders (%(name)s, %s, %d; %% is a literal) and the {name} ones that JavaScript fills.
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrs]|\{\w+\}")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def source_messages() -> dict[tuple[str | tuple[str, ...], str | None], list[str]]:
    """Every (msgid, context) the source uses (a tuple msgid for plurals; process content has its context),
    with the places it occurs."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[tuple[str | tuple[str, ...], str | None], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        found.setdefault((message, context), []).append(f"{filename}:{lineno}")
    return found


def placeholders(text: str) -> Counter:
    return Counter(PLACEHOLDER.findall(text))


def untranslated(messages: dict, catalog: Catalog) -> list[str]:
    """Msgids with no usable English: missing from the catalog, fuzzy, empty, or still Chinese."""
    problems = []
    for (msgid, context), where in messages.items():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        entry = catalog.get(key, context=context)
        strings = entry.string if entry and isinstance(entry.string, tuple) else (entry.string if entry else "",)
        if entry is None or entry.fuzzy or not all(strings) or any(HAN.search(s) for s in strings):
            problems.append(f"{key!r}{f' [{context}]' if context else ''} ({where[0]})"
                            f"{' [fuzzy]' if entry is not None and entry.fuzzy else ''}")
    return problems


def placeholder_mismatches(catalog: Catalog) -> list[str]:
    """Translations whose placeholders differ from their msgid's (a plural form follows msgid_plural)."""
    problems = []
    for entry in catalog:
        if not entry.id or not entry.string:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for n, text in enumerate(strings):
            source = ids[min(n, len(ids) - 1)]
            if text and placeholders(text) != placeholders(source):
                problems.append(f"{source!r} -> {text!r}")
    return problems


@pytest.fixture(scope="module")
def english() -> Catalog:
    with open(EN_PO, "rb") as f:
        return read_po(f, locale="en")


def test_every_ui_string_has_an_english_translation(english):
    messages = source_messages()
    assert len(messages) > 100, "extraction found almost nothing: is babel.cfg still at the project root?"
    assert messages[("签订责任状", "bpmn")][0].startswith("processes/"), "process content is not extracted"
    missing = untranslated(messages, english)
    assert not missing, (f"{len(missing)} UI string(s) without English in {EN_PO.relative_to(ROOT)} "
                         "(see this file's docstring for the commands):\n" + "\n".join(missing))


def test_translations_keep_their_placeholders(english):
    wrong = placeholder_mismatches(english)
    assert not wrong, "placeholders differ between msgid and msgstr:\n" + "\n".join(wrong)


def test_the_checks_catch_missing_fuzzy_chinese_and_broken_placeholders():
    catalog = Catalog(locale="en")
    catalog.add("我的待办", "My tasks")
    catalog.add("退出", "")
    catalog.add("登记", "Register", flags=["fuzzy"])
    catalog.add("督查看板", "督查看板")
    catalog.add("第%(n)s轮", "Round %(m)s")
    catalog.add("已校验 {done} / {total} 行", "Checked {done} rows")
    catalog.add("签收", "Sign for", context="bpmn")
    messages = {(m, None): ["web/x.html:1"] for m in ("我的待办", "退出", "登记", "督查看板", "新字符串")}
    messages.update({("签收", "bpmn"): ["processes/x.bpmn:1"], ("交办", "bpmn"): ["processes/x.bpmn:2"]})
    assert [p.split(" ")[0] for p in untranslated(messages, catalog)] == [
        "'退出'", "'登记'", "'督查看板'", "'新字符串'", "'交办'"]
    assert placeholder_mismatches(catalog) == ["'第%(n)s轮' -> 'Round %(m)s'",
                                               "'已校验 {done} / {total} 行' -> 'Checked {done} rows'"]
