"""Untrusted text: the characters no field, label, file name or export may carry.

Control characters (other than tab and line breaks in multi-line text) break exports (an XML worksheet
cannot hold them) and hide content; bidirectional overrides (U+202A-U+202E, U+2066-U+2069) make a name
read differently from what it is (`gpj.exe` shown as `exe.jpg`). Forms refuse them at input; exports
strip them on output; identifiers and file names are held to a plain safe set.
"""
from __future__ import annotations

import re
import unicodedata

from engine.i18n import N_

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\ufff9-\ufffb]")
# Process ids and other identifiers admins give: ASCII, starting with a letter or underscore (an XML NCName
# subset that every tool, path and URL takes as is).
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
# An item's number (编号), given at registration or import: letters (Latin or Chinese) and digits, with one of
# - _ / . only between two of them (JY2026-001, 提2026-12, TA2026/7): no path part (.., a leading or trailing
# slash), no space, no control character. It names files (答复函-<number>.docx), links and exports. One pattern,
# also the API's (JSON Schema `pattern`, ECMA-262: no Python-only syntax); match it whole (`fullmatch`).
_NUMBER_CHAR = r"0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff"
ITEM_NUMBER = re.compile(rf"^[{_NUMBER_CHAR}](?:[-_/.]?[{_NUMBER_CHAR}])*$")
# File names: letters (any script), digits, and a few punctuation marks; no path, no dot at the start.
_FILENAME_UNSAFE = re.compile(r"[^\w.()（） -]")


def unsafe_characters(text: str, multiline: bool = True) -> list[str]:
    """The characters of `text` no field may hold, as U+XXXX codes (empty when the text is fine)."""
    pattern = _CONTROL if multiline else _CONTROL_SINGLE_LINE
    found = pattern.findall(text) + _BIDI.findall(text)
    return sorted({f"U+{ord(c):04X}" for c in found})


def strip_unsafe(text: str, multiline: bool = True) -> str:
    """`text` without control, bidirectional-override and invisible formatting characters (for output)."""
    pattern = _CONTROL if multiline else _CONTROL_SINGLE_LINE
    return _INVISIBLE.sub("", _BIDI.sub("", pattern.sub("", text)))


def is_identifier(text: str) -> bool:
    return bool(IDENTIFIER.match(text or ""))


def is_item_number(text: str) -> bool:
    return ITEM_NUMBER.fullmatch(text or "") is not None


def safe_label(text: str, max_length: int = 200) -> str | None:
    """None when `text` is a fit label (one line, printable, not too long), else why not (Chinese, English)."""
    bad = unsafe_characters(text, multiline=False)
    if bad:
        return N_("含有不允许的控制或方向字符 %(chars)s", chars=", ".join(bad))
    if len(text) > max_length:
        return N_("长度超过 %(n)s 个字符", n=max_length)
    return None


def safe_filename(raw: str | None, default: str = "process.bpmn", max_length: int = 120) -> str:
    """The last path part of `raw`, held to letters, digits and . _ - ( ) and spaces; `default` if nothing
    is left. Anything else (control and direction characters, slashes, quotes) becomes '_'."""
    name = unicodedata.normalize("NFC", (raw or "").replace("\\", "/")).rsplit("/", 1)[-1]
    name = _FILENAME_UNSAFE.sub("_", strip_unsafe(name, multiline=False)).strip(" .")
    return (name or default)[-max_length:]
