"""Process content as catalog messages: what a BPMN file says to users (the names of steps, lanes, gateways and
flows, form field labels and the names of enum values) is Chinese text written in the modeler.

`extract_bpmn` is a Babel extraction method (babel.cfg maps processes/**.bpmn to it), so these texts are msgids
of the UI's catalog in their own context (msgctxt "bpmn": 签收 the step is "Sign for", whatever the word means
on other pages). `tests/test_i18n.py` asks for their English; the web layer shows them through the catalog
(`web.helpers.process_text`), the engine marks them with `engine.i18n.step_name` in the messages it writes. A
name that is not in the catalog (typed in the modeler after the last release) shows as written.
"""
from __future__ import annotations

import re
from typing import Iterator

from lxml import etree

from engine.i18n import PROCESS_CONTEXT as CONTEXT, Translate, in_context
from engine.workflow.safexml import parse_untrusted_xml

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
# (namespace, tag) -> the attribute holding user-visible text; `None` as tag: every element of the namespace.
TEXT_ATTRIBUTES = {(BPMN, None): "name", (CAMUNDA, "formField"): "label", (CAMUNDA, "value"): "name"}
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")  # msgids are Chinese; other names need no catalog


def translate_name(translate: Translate, name: str) -> str:
    """A name from a BPMN file in the language of `translate`; as written when the catalog lacks it."""
    return in_context(translate, CONTEXT, name) if name else ""


def _texts(tree) -> Iterator[tuple[object, str, str]]:
    """(element, attribute, text) of every user-visible Chinese text of a parsed BPMN file."""
    for el in tree.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith("{"):
            continue
        ns, tag = el.tag[1:].split("}", 1)
        attr = TEXT_ATTRIBUTES.get((ns, tag)) or TEXT_ATTRIBUTES.get((ns, None))
        text = (el.get(attr) or "").strip() if attr else ""
        if text and HAN.search(text):
            yield el, attr, text


def texts(source: bytes) -> Iterator[tuple[int, str, str]]:
    """(line, text, what) of every user-visible text of a BPMN file, in document order."""
    for el, _attr, text in _texts(parse_untrusted_xml(source)):
        yield el.sourceline or 0, text, f"{etree.QName(el).localname} {el.get('id') or ''}".strip()


def translated_xml(xml: str, translate: Translate) -> str:
    """A deployed BPMN file with its texts in the language of `translate`, for a diagram to show (the
    modeler edits the file as written)."""
    tree = parse_untrusted_xml(xml.encode("utf-8"))
    for el, attr, text in _texts(tree):
        el.set(attr, translate_name(translate, text))
    return etree.tostring(tree, encoding="unicode")


def extract_bpmn(fileobj, keywords, comment_tags, options):
    """Babel extraction method for BPMN files: (lineno, funcname, message, comments)."""
    for line, text, what in texts(fileobj.read()):
        yield line, "pgettext", (CONTEXT, text), [f"BPMN {what}"]
