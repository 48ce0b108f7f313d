"""Process content as catalog messages: what a BPMN file says to users (the names of steps, lanes, gateways and
flows, form field labels and the names of enum values) is Chinese text written in the modeler.

`extract_bpmn` is a Babel extraction method (babel.cfg maps processes/**.bpmn to it), so these texts are msgids
of the UI's catalog like any `_()` string: `tests/test_i18n.py` asks for their English, and the web layer shows
them through the catalog (`web.helpers.tr`). A name that is not in the catalog (typed in the modeler after the
last release) shows as written.
"""
from __future__ import annotations

import re
from typing import Iterator

from engine.workflow.safexml import parse_untrusted_xml

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
# (namespace, tag) -> the attribute holding user-visible text; `None` as tag: every element of the namespace.
TEXT_ATTRIBUTES = {(BPMN, None): "name", (CAMUNDA, "formField"): "label", (CAMUNDA, "value"): "name"}
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")  # msgids are Chinese; other names need no catalog


def texts(source: bytes) -> Iterator[tuple[int, str, str]]:
    """(line, text, what) of every user-visible text of a BPMN file, in document order."""
    for el in parse_untrusted_xml(source).iter():
        if not isinstance(el.tag, str) or not el.tag.startswith("{"):
            continue
        ns, tag = el.tag[1:].split("}", 1)
        attr = TEXT_ATTRIBUTES.get((ns, tag)) or TEXT_ATTRIBUTES.get((ns, None))
        text = (el.get(attr) or "").strip() if attr else ""
        if text and HAN.search(text):
            yield el.sourceline or 0, text, f"{tag} {el.get('id') or ''}".strip()


def extract_bpmn(fileobj, keywords, comment_tags, options):
    """Babel extraction method for BPMN files: (lineno, funcname, message, comments)."""
    for line, text, what in texts(fileobj.read()):
        yield line, None, text, [f"BPMN {what}"]
