"""脱敏: personal contact details removed from what is published (phone numbers, e-mail addresses, ID numbers).

People write contact details in every shape: full-width digits (１３８…), Chinese numerals (一三八…, 幺),
dots, dashes and double spaces between groups, ＠, (at), [at] and " at ", spaced e-mail addresses,
internationalised ones (张三@例子.中国), ID numbers in groups, area codes with spaces (0755 1234 5678).
`redact` first maps each character to a plain one of the same position (so matches on the plain copy
mark the same span of the original), then replaces every match with ［已隐去］. It errs on the side of
hiding: a run that looks like a contact detail is hidden even if it was something else.

Published text is redacted once, when the office publishes, and stored (Disclosure.public_*); the public
pages and the public search read only the stored result.
"""
from __future__ import annotations

import re

REDACTED = "［已隐去］"

# One plain character for each look-alike; everything not listed stays as it is.
_PLAIN = {
    **{chr(0xFF10 + i): str(i) for i in range(10)},  # full-width digits
    **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)}, **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
    **{c: "0" for c in "〇零○◯洞"}, **{c: "1" for c in "一壹幺弌"}, **{c: "2" for c in "二贰两貳"},
    **{c: "3" for c in "三叁參"}, **{c: "4" for c in "四肆"}, **{c: "5" for c in "五伍"}, **{c: "6" for c in "六陆陸"},
    **{c: "7" for c in "七柒拐"}, **{c: "8" for c in "八捌"}, **{c: "9" for c in "九玖勾"},
    "＠": "@", "﹫": "@", "．": ".", "。": ".", "｡": ".", "・": ".", "·": ".", "•": ".",
    "－": "-", "—": "-", "–": "-", "‐": "-", "‑": "-", "‒": "-", "―": "-", "﹣": "-", "_": "-", "＿": "-",
    "（": "(", "）": ")", "［": "[", "］": "]", "【": "[", "】": "]", "〔": "[", "〕": "]", "＋": "+",
    "：": ":", "\u3000": " ", "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\t": " ",
    "\u200b": " ", "\u200c": " ", "\u200d": " ", "\u2060": " ", "\ufeff": " ",
}
_TABLE = str.maketrans(_PLAIN)

_S = r"[ .\-/]{0,3}"  # what people put between digit groups: spaces (doubled), dots, dashes, slashes
_AT = r"\s*(?:@|[(\[{<]\s*at\s*[)\]}>]|\s+at\s+|\s*\bat\b\s*)\s*"
_DOT = r"\s*(?:\.|[(\[{<]\s*dot\s*[)\]}>]|\s+dot\s+)\s*"
_LABEL = (r"(?:电话|手机|座机|固话|传真|热线|联系方式|联系电话|号码|微信|QQ|qq|tel|Tel|TEL|phone|Phone|mobile|Mobile)"
          r"\s*(?:号码|号)?\s*[:是为]?\s*")


def _digits(n_min: int, n_max: int) -> str:
    """n_min..n_max digits with separators allowed between them."""
    return rf"\d(?:{_S}\d){{{n_min - 1},{n_max - 1}}}"


# In order: each pattern sees the text with the earlier matches already hidden.
_PATTERNS = [
    # e-mail, ASCII local part first (so the Chinese words before it survive), then internationalised
    re.compile(rf"[A-Za-z0-9._%+\-]+{_AT}[A-Za-z0-9\-]+(?:{_DOT}[A-Za-z0-9\-]+)*{_DOT}[A-Za-z]{{2,}}", re.I),
    re.compile(rf"[\w.%+\-]+{_AT}[\w\-]+(?:{_DOT}[\w\-]+)+"),
    # resident ID (居民身份证号): 18 characters, the last a digit or X; and the old 15-digit one
    re.compile(rf"(?<![0-9A-Za-z])[1-9](?:{_S}\d){{16}}{_S}[\dXx](?![0-9A-Za-z])"),
    re.compile(rf"(?<![0-9A-Za-z])[1-9](?:{_S}\d){{14}}(?![0-9A-Za-z])"),
    # mobile, with or without +86 / 0086
    re.compile(rf"(?<!\d)(?:(?:\+|00)?86{_S})?1{_S}[3-9](?:{_S}\d){{9}}(?!\d)"),
    # landline with area code, optional extension; service numbers 400/800
    re.compile(rf"(?<!\d)(?:\(\s*0\d{{2,3}}\s*\)|0\d{{2,3}}){_S}[1-9](?:{_S}\d){{6,7}}(?:\s*(?:转|-|ext\.?|x)\s*\d{{1,5}})?(?!\d)", re.I),
    re.compile(rf"(?<!\d)[48]00{_S}\d(?:{_S}\d){{6}}(?!\d)"),
]
# A number without area code looks like any other number: hidden where it is called a phone (or QQ, WeChat).
_LABELLED = re.compile(rf"({_LABEL})({_digits(5, 12)})(?!\d)")
# What a public search term must not look like: a run of digits long enough to probe for a hidden number.
_PROBE = re.compile(r"\d{5,}|@")


def _plain(text: str) -> str:
    plain = text.translate(_TABLE)
    assert len(plain) == len(text)  # one character for one: spans on the plain copy are spans of the text
    return plain


def spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of `text` that are contact details, merged and in order."""
    plain, found = _plain(text), []
    for pattern in _PATTERNS:
        for m in pattern.finditer(plain):
            found.append((m.start(), m.end()))
        for start, end in found:  # hide what is found from the later patterns
            plain = plain[:start] + "\x00" * (end - start) + plain[end:]
    for m in _LABELLED.finditer(plain):
        found.append((m.start(2), m.end(2)))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def redact(text: str | None) -> str:
    """`text` with every phone number, e-mail address and ID number replaced by ［已隐去］."""
    text = text or ""
    out, last = [], 0
    for start, end in spans(text):
        out += [text[last:start], REDACTED]
        last = end
    out.append(text[last:])
    return "".join(out)


def looks_like_probe(query: str) -> bool:
    """A search term that looks for a contact detail (a long run of digits, an @)."""
    return bool(_PROBE.search(_plain(query)))
