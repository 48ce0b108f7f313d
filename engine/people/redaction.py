"""脱敏: personal contact details removed from what is published (phone numbers, e-mail addresses, ID numbers,
WeChat ids).

People write contact details in every shape: full-width digits (１３８…), Chinese numerals (一三八…, 幺),
any other Unicode digit (mathematical 𝟭𝟯𝟴, Arabic-Indic ١٣٨, circled ①③⑧, superscript ¹³⁸, …), dots,
dashes, tildes (~ ～ 〜) and double spaces between groups, commas, asterisks and line breaks between groups
grouped as a contact is (138，1234，5678, not 1,234,567元), enumeration commas between the groups of a mobile,
landline or ID number or between all their digits (138、1234、5678, 0571、8888、6666, 1、3、8、…; not
2024、2025、2026 nor 1、2、3), an ID number glued to letters (sfz110101…), invisible characters pasted between the digits or
letters (soft hyphens, zero-width spaces, U+2061-U+2064, U+180E, variation selectors, keycap marks, bidi
controls), a number stored reversed that a right-to-left override or embedding shows in order, ＠,
(at), [at], " at " and 艾特, [.] and 点, spaced e-mail addresses, internationalised ones (张三@例子.中国), ID
numbers in groups, area codes with spaces (0755 1234 5678), WeChat ids after their label (微信号：zhang_san-88,
vx: …, wx：…, 加微信zhangsan详谈; not a common English word, so 微信 Official 公众号 keeps its word) and wxid_
ids anywhere. An English label (Tel, Phone) counts only as a word of its own: Hotel: 12345 is no phone number.
`redact` first maps each character to a plain one of the same position (so matches on the plain copy
mark the same span of the original), drops the invisible ones while keeping, for each character left,
its position in the original, then replaces every match with ［已隐去］ and drops the bidi controls, so that
the page shows the text in the order it was read. It errs on the side of hiding: a run
that looks like a contact detail is hidden even if it was something else; only an ID number must carry a
possible birth date, so that a date range (2025.10.1-2025.12.31) is not taken for one.

Published text is redacted once, when the office publishes, and stored (Disclosure.public_*); the public
pages and the public search read only the stored result.
"""
from __future__ import annotations

import re
import unicodedata

REDACTED = "［已隐去］"

# One plain character for each look-alike; what is not listed is folded by `_Fold` below.
_PLAIN = {
    **{chr(0xFF10 + i): str(i) for i in range(10)},  # full-width digits
    **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)}, **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
    **{c: "0" for c in "〇零○◯洞"}, **{c: "1" for c in "一壹幺弌"}, **{c: "2" for c in "二贰两貳"},
    **{c: "3" for c in "三叁參"}, **{c: "4" for c in "四肆"}, **{c: "5" for c in "五伍"}, **{c: "6" for c in "六陆陸"},
    **{c: "7" for c in "七柒拐"}, **{c: "8" for c in "八捌"}, **{c: "9" for c in "九玖勾"},
    "＠": "@", "﹫": "@", "．": ".", "。": ".", "｡": ".", "・": ".", "･": ".", "·": ".", "•": ".", "∙": ".", "⋅": ".",
    "‧": ".",
    "－": "-", "—": "-", "–": "-", "‐": "-", "‑": "-", "‒": "-", "―": "-", "﹣": "-", "−": "-", "_": "-", "＿": "-",
    "～": "~", "〜": "~", "〰": "~", "∼": "~", "⁓": "~",
    "（": "(", "）": ")", "［": "[", "］": "]", "【": "[", "】": "]", "〔": "[", "〕": "]", "＋": "+",
    "：": ":", "\u3000": " ", "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\t": " ",
    "∗": "*", "✱": "*", **{c: "\n" for c in "\r\x0b\x0c\x85\u2028\u2029"},  # ＊ ﹡ and ， fold by NFKC
    "﹑": "、", "､": "、",  # small and half-width enumeration commas: NFKC gives 、, which `_Fold` keeps as it is
}
_GONE = "\x01"  # what an invisible character becomes in the one-for-one copy, before it is dropped
_FILLERS = "\u115f\u1160\u3164\uffa0"  # Hangul fillers: letters that show nothing


class _Fold(dict):
    """Code point -> its plain character, worked out the first time it is met: a format character or a
    combining mark (soft hyphen, zero-width space, U+2061-U+2064, U+180E, variation selector, keycap)
    becomes _GONE; any digit (unicodedata.decimal/digit: 𝟭, ١, ①, ¹, …) its ASCII digit; a compatibility
    form of an ASCII character (𝐳, ｚ, ～, no-break spaces) that character; other spaces a space, other
    dashes a dash. Always one character, so positions stay aligned."""

    def __missing__(self, code: int) -> str:
        c = chr(code)
        category = unicodedata.category(c)
        if category in ("Cf", "Mn", "Me") or c in _FILLERS:
            plain = _GONE
        elif (value := unicodedata.decimal(c, None)) is not None or (value := unicodedata.digit(c, None)) is not None:
            plain = str(value)
        elif len(compat := unicodedata.normalize("NFKC", c)) == 1 and " " <= compat <= "~":
            plain = _PLAIN.get(compat, compat)
        elif category == "Zs":
            plain = " "
        elif category == "Pd":
            plain = "-"
        else:
            plain = c
        self[code] = plain
        return plain


_TABLE = _Fold({ord(k): v for k, v in _PLAIN.items()})

_S = r"[ .\-/~]{0,3}"  # what people put between digit groups: spaces (doubled), dots, dashes, slashes, tildes
_COMMA = r"[ ]{0,2}、[ ]{0,2}"  # the enumeration comma between a number's groups or digits, spaces beside it
# Commas, asterisks and line breaks also stand between the numbers of ordinary text (1,234,567元, 3*4*5组, a
# list of counts), so a match across one must pass `_grouped`.
_BREAK = r"[ ]{0,2}[,*\n][ \n]{0,2}"
_SOFT = rf"(?:[ .\-/~]{{0,3}}|{_BREAK})"
_AT = r"\s*(?:@|[(\[{<]\s*(?:at|@)\s*[)\]}>]|\s+at\s+|\s*\bat\b\s*)\s*"
_DOT = r"\s*(?:\.|[(\[{<]\s*(?:dot|\.)\s*[)\]}>]|\s+dot\s+)\s*"
# Only after an ASCII local part: 艾特 and 点 are ordinary words in Chinese text.
_AT_ASCII = r"\s*(?:@|[(\[{<]\s*(?:at|@)\s*[)\]}>]|\s+at\s+|\s*\bat\b\s*|艾特)\s*"
_DOT_ASCII = r"\s*(?:\.|[(\[{<]\s*(?:dot|\.)\s*[)\]}>]|\s+dot\s+|点)\s*"
_LABEL_ASCII = r"[A-Za-z0-9\-]+(?:\n[A-Za-z0-9\-]+)*"  # a domain label, perhaps broken across lines
# WeChat and what people call it to get past filters; an ASCII name only as a word of its own.
_WECHAT = r"(?:微信|薇信|威信|[Vv]信|(?<![A-Za-z0-9])(?i:vx|wx|weixin|wechat)(?![A-Za-z]))"
# An English label only as a word of its own: the tel of Hotel, the phone of Smartphone are none.
_LABEL = (rf"(?:电话|手机|座机|固话|传真|热线|联系方式|联系电话|号码|{_WECHAT}"
          r"|(?<![A-Za-z])(?i:qq|tel|telephone|phone|mobile)(?![A-Za-z])\.?)"
          r"\s*(?:号码|号|(?i:id)(?![A-Za-z0-9]))?\s*[:是为]?\s*")


def _digits(n_min: int, n_max: int, s: str) -> str:
    """n_min..n_max digits with separators `s` allowed between them."""
    return rf"\d(?:{s}\d){{{n_min - 1},{n_max - 1}}}"


def _born(digits: str) -> bool:
    """Whether an 18- or 15-digit run carries a birth date where an ID number has it."""
    if len(digits) >= 17:  # the 18th may be an X
        year, month, day = int(digits[6:10]), int(digits[10:12]), int(digits[12:14])
        return 1800 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31
    month, day = int(digits[8:10]), int(digits[10:12])
    return 1 <= month <= 12 and 1 <= day <= 31


def _is_id(match: re.Match) -> bool:
    return _born("".join(c for c in match.group() if c.isdigit()))


# What follows a count, an amount or a size, not a phone number: 2025年, 8,000余件, 1800*1200*900mm.
_UNIT = re.compile(r"[ ]*[年月日号元万亿千百余多件条项个户人次岁组批期套栋间%‰A-Za-z\u3371-\u33df]")


def _grouped(match: re.Match, group: int = 0) -> bool:
    """Whether a run split by commas, asterisks or line breaks is grouped as a contact detail is: digit by
    digit, or in groups of three or more (138,1234,5678; 110101，19900307，1234; +86 before them), the last
    of four or more; and neither an amount in thousands (13,812,345,678元) nor followed by a unit."""
    if _UNIT.match(match.string, match.end(group)):
        return False
    sizes = [n for part in re.split(r"[,*\n]", match.group(group)) if (n := sum(c.isalnum() for c in part))]
    if all(n == 1 for n in sizes):
        return True
    thousands = "," in match.group(group) and sizes[0] <= 3 and all(n == 3 for n in sizes[1:])
    return not thousands and all(n >= 3 for n in sizes[1:]) and sizes[-1] >= 4


def _numbers(s: str, check) -> list:
    """The numbers with separators `s` between their digits: each with `check`, the ID numbers with theirs too."""
    id_check = _is_id if check is None else (lambda m: _is_id(m) and check(m))
    return [
        # resident ID (居民身份证号): 18 characters, the last a digit or X; and the old 15-digit one
        (re.compile(rf"(?<!\d)[1-9](?:{s}\d){{16}}{s}[\dXx](?!\d)"), id_check),
        (re.compile(rf"(?<!\d)[1-9](?:{s}\d){{14}}(?!\d)"), id_check),
        # mobile, with or without +86 / 0086
        (re.compile(rf"(?<!\d)(?:(?:\+|00)?86{s})?1{s}[3-9](?:{s}\d){{9}}(?!\d)"), check),
        # landline with area code, optional extension; service numbers 400/800
        (re.compile(rf"(?<!\d)(?:\(\s*0\d{{2,3}}\s*\)|0\d{{2,3}}){s}[1-9](?:{s}\d){{6,7}}"
                    rf"(?:\s*(?:转|-|ext\.?|x)\s*\d{{1,5}})?(?!\d)", re.I), check),
        (re.compile(rf"(?<!\d)[48]00{s}\d(?:{s}\d){{6}}(?!\d)"), check),
    ]


def _enumerated(s: str) -> list:
    """Numbers whose groups the enumeration comma 、 may split, `s` between the groups (`_COMMA`: 、 alone). 、 lists
    numbers in ordinary text (1、2、3; 2024、2025、2026; 第13、14、15条), so only the shapes a contact is written
    in count: a mobile number in 3、4、4, a landline's area code (0 and two or three digits) before its number,
    whole or in two groups, and an ID number in 6、8、4 (or the old 6、6、3) with a possible birth date; and
    either, digit by digit (eleven or eighteen single digits: a list of distinct digits has ten at most)."""
    alone = r"(?<![\d、])(?<!、 )(?<!、  )"  # no digit, nor 、 and up to two spaces, before it
    return [
        (re.compile(rf"(?<!\d)(?:(?:\+|00)?86{s})?1[3-9]\d{s}\d{{4}}{s}\d{{4}}(?!\d)"), None),
        (re.compile(rf"(?<!\d)0\d{{2,3}}{s}[1-9](?:\d{{2,3}}{s}\d{{4}}|\d{{6,7}})(?!\d)"), None),
        (re.compile(rf"(?<!\d)[1-9]\d{{5}}{s}\d{{8}}{s}\d{{3}}[\dXx](?!\d)"), _is_id),
        (re.compile(rf"(?<!\d)[1-9]\d{{5}}{s}\d{{6}}{s}\d{{3}}(?!\d)"), _is_id),
        # digit by digit, the whole list only (not eleven digits of a longer one)
        (re.compile(rf"{alone}[1-9](?:{_COMMA}\d){{16}}{_COMMA}[\dXx](?!\d)(?!{_COMMA}\d)"), _is_id),
        (re.compile(rf"{alone}1{_COMMA}[3-9](?:{_COMMA}\d){{9}}(?!\d)(?!{_COMMA}\d)"), None),
    ]


# In order: each pattern sees the text with the earlier matches already hidden; a check, where there is
# one, must accept the match.
_PATTERNS = [
    # e-mail, ASCII local part first (so the Chinese words before it survive), then internationalised
    # (a local part has at most 64 characters: unbounded, a long run of digits and dots took seconds)
    (re.compile(rf"(?:[A-Za-z0-9._%+\-]|(?<=\d){_BREAK}(?=\d)){{1,64}}{_AT_ASCII}{_LABEL_ASCII}"
                rf"(?:{_DOT_ASCII}{_LABEL_ASCII})*{_DOT_ASCII}[A-Za-z]{{2,}}", re.I), None),
    (re.compile(rf"[\w.%+\-]{{1,64}}{_AT}[\w\-]+(?:{_DOT}[\w\-]+)+"), None),
    # a WeChat wxid_ id (its _ is a - in the plain copy) is one wherever it stands
    (re.compile(r"(?<![A-Za-z0-9])wxid-[A-Za-z0-9\-]{4,}", re.I), None),
    *_numbers(_S, None), *_numbers(_SOFT, _grouped),
    *_enumerated(rf"(?:{_COMMA}|{_S})"),
]
# A number without area code looks like any other number: hidden where it is called a phone (or QQ, WeChat).
_LABELLED = [(re.compile(rf"({_LABEL})({_digits(5, 12, s)})(?!\d)"), check)
             for s, check in ((_S, None), (_SOFT, _grouped))]
# English words people write after 微信 / WeChat (微信 Official 公众号, WeChat Moments): such a word is no id.
# Only words of six letters or more: a shorter one (Pay, Work, Mini, Shop) cannot be an id anyway. Kept short
# on purpose: any other word of letters there is taken for an id, as a leaked id is worse than a hidden word.
# WeChat and Weixin too: in 微信 WeChat：zhangsan the id follows the second label.
_WECHAT_WORDS = (r"official|accounts?|channels?|payments?|groups|public|platforms?|programs?|miniprograms?"
                 r"|services?|moments|wechat|weixin")
# A WeChat id (six or more letters, digits, _ and -) after a WeChat label, with or without a colon: 微信号：zhang_san-88,
# 加微信zhangsan详谈, vx: …, wx：…. A listed word is skipped inside the pattern, not by a check after it, so the
# scan goes on from the next character and still finds an id right after it.
_WECHAT_ID = re.compile(rf"({_WECHAT}\s*(?:号码|号|(?i:id)(?![A-Za-z0-9]))?\s*[:是为]?\s*)"
                        rf"(?!(?i:{_WECHAT_WORDS})(?![A-Za-z0-9\-]))([A-Za-z0-9][A-Za-z0-9\-]{{5,}})")


# What a public search term must not look like: a run of digits long enough to probe for a hidden number.
_PROBE = re.compile(r"\d{5,}|@")


def _plain(text: str) -> tuple[str, list[int]]:
    """The plain copy of `text` without its invisible characters, and where each of its characters is in `text`."""
    folded = text.translate(_TABLE)
    assert len(folded) == len(text)  # one character for one: a position in the copy is one in the text
    origin = [i for i, c in enumerate(folded) if c != _GONE]
    return folded.replace(_GONE, ""), origin


def _hidden(plain: str, found: list[tuple[int, int]]) -> str:
    """`plain` with the spans found blanked out, so no later pattern matches across or into them."""
    chars = list(plain)
    for start, end in found:
        chars[start:end] = "\x00" * (end - start)
    return "".join(chars)


def _once(plain: str) -> list[tuple[int, int]]:
    """The spans every pattern finds in one pass over `plain`."""
    found: list[tuple[int, int]] = []
    for pattern, check in _PATTERNS:
        if spans := [m.span() for m in pattern.finditer(plain) if check is None or check(m)]:
            found += spans
            plain = _hidden(plain, spans)  # hide what is found from the later patterns
    for labelled, check in (*_LABELLED, (_WECHAT_ID, None)):
        found += [m.span(2) for m in labelled.finditer(plain) if check is None or check(m, 2)]
    return found


# Right-to-left characters and controls: with one of them in the text, a page may show characters in another
# order than they are stored. _CONTROLS do nothing else and are not published (see `redact`).
_RTL = {"R", "AL", "AN", "RLE", "RLO", "RLI"}
_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _shown_orders(text: str, plain: str, origin: list[int]) -> list[list[int]]:
    """Orders, as positions in `plain`, in which a page may show `text`: each right-to-left override (U+202E)
    reversed up to its PDF or the line's end (8765 4321 831 shows as 138 1234 5678); and the runs of ASCII
    letters and digits in reverse order, each read forwards, as a right-to-left embedding, isolate or mark,
    or an Arabic or Hebrew letter before them shows them (5678 1234 138 shows as 138 1234 5678)."""
    override, inside = False, []
    for c in text:
        override = c == "\u202e" or (override and c not in "\u202c\n\r\u2029")
        inside.append(override)
    overridden, j = list(range(len(plain))), 0
    while j < len(plain):
        k = j
        while k < len(plain) and inside[origin[k]]:
            k += 1
        overridden[j:k], j = overridden[j:k][::-1], max(k, j + 1)
    runs = [m.span() for m in re.finditer(r"[A-Za-z0-9]+|.", plain, re.S)][::-1]
    return [overridden, [i for start, end in runs for i in range(start, end)]]


def spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of `text` that are contact details, merged and in order."""
    plain, origin = _plain(text)
    orders = [range(len(plain))]
    if any(unicodedata.bidirectional(c) in _RTL for c in text):
        orders += _shown_orders(text, plain, origin)
    # The patterns run again over what they left until they find nothing more: a detail glued to another
    # (13812345678wxid_abc123) is then hidden as it is once the other is, and redacting again changes nothing.
    found: list[tuple[int, int]] = []
    while True:
        new, left = [], _hidden(plain, found)
        for order in orders:
            for start, end in _once("".join(left[i] for i in order)):
                shown = order[start:end]  # a span of what is shown is one of the plain copy, in another order
                start, end = min(shown), max(shown) + 1
                if any(c != "\x00" for c in left[start:end]):
                    new.append((start, end))
        if not new:
            break
        found += new
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        # back to the text: from the first character matched up to the next one kept, so the invisible
        # characters inside and right after the match (a keycap's marks) go with it
        start, end = origin[start], origin[end] if end < len(origin) else len(text)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def redact(text: str | None) -> str:
    """`text` with every phone number, e-mail address, ID number and WeChat id replaced by ［已隐去］, and
    without bidi controls: the page then shows it in the order it was read here."""
    text = text or ""
    out, last = [], 0
    for start, end in spans(text):
        out += [_CONTROLS.sub("", text[last:start]), REDACTED]
        last = end
    out.append(_CONTROLS.sub("", text[last:]))
    return "".join(out)


def looks_like_probe(query: str) -> bool:
    """A search term that looks for a contact detail (a long run of digits, an @)."""
    return bool(_PROBE.search(_plain(query)[0]))


PUBLISHED_COLUMNS = ("public_title", "public_text", "public_content")


def redact_published(conn) -> int:
    """Run every published title, text and content (the disclosure rows' public columns) through today's rules
    once more, for a migration after the rules learnt a shape they missed: what they hid stays hidden (redacting
    their result again changes nothing), what they missed goes now. Returns how many rows changed."""
    import sqlalchemy as sa

    disclosure = sa.table("disclosure", sa.column("id", sa.Integer),
                          *(sa.column(c, sa.Text) for c in PUBLISHED_COLUMNS))
    changed_rows = 0
    for row in conn.execute(sa.select(disclosure)).mappings().all():
        changed = {c: again for c in PUBLISHED_COLUMNS if row[c] and (again := redact(row[c])) != row[c]}
        if changed:
            conn.execute(disclosure.update().where(disclosure.c.id == row["id"]).values(**changed))
            changed_rows += 1
    return changed_rows
