"""答复函: the reply letter as a .docx, laid out as GB/T 9704-2012 prescribes for official letters.

The letter is rendered with docxtpl from a Word template with `{{ field }}` placeholders. The built-in
template (`default_template`) is made here with python-docx in the standard layout: A4, margins 37/35/28/26
mm, the issuing unit in red over a red rule, the document number (发文字号, e.g. 交运函〔2026〕12号) and the
signer (签发人), the class mark (A/B/C) at the top right, the title in 2号小标宋, the body in 3号仿宋
with 2-character indents, the unit and date, the contact person and telephone, and the copy-to block
(抄送) between two rules. An office replaces it with its own file (`BANLI_LETTER_TEMPLATE`; `banli letter
--template FILE` writes the built-in one as a starting point): the fields are listed in `FIELDS`.

The document number (engine.letter_numbers) is drawn when the office approves the reply and kept on it, so
the same letter always carries the same number; writing the letter reads it and changes nothing. A reply
approved before numbers were drawn at approval has no letter until the office draws its number
(`number_letter`, a button on the item page). The letter to the proposer of an item merged into the replied one
(并案) is a letter of its own, under its own number drawn at the same approval.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from io import BytesIO

from docx import Document
from docx.enum.section import WD_SECTION
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docxtpl import DocxTemplate
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine import clock
from engine.letter_numbers import letter_number, number_reply
from engine.people import visibility
from engine.people.authz import NotAllowed
from engine.models import Item, Pledge, Reply, Unit, User

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CLASS_NAMES = {"A": "A类（已解决或基本采纳）", "B": "B类（正在解决或列入计划）", "C": "C类（因条件限制留作参考）",
               "D": "D类"}
COPY_TO = {"suggestion": "区人大常委会代表工作委员会，区政府办公室",
           "proposal": "区政协提案委员会，区政府办公室"}
DISCLOSURE_NOTE = {"full": "（此件公开发布）", "summary": "（此件摘要公开）", "none": "（此件不予公开）"}
# The fields a template may use (docxtpl / Jinja syntax).
FIELDS = ("unit_name", "letter_number", "signer", "class_mark", "class_name", "title", "salutation",
          "item_number", "item_title", "opening", "paragraphs", "adopted", "promised", "promised_date", "closing",
          "date", "disclosure_note", "contact_person", "contact_phone", "copy_to", "year")


class LetterUnavailable(Exception):
    """There is no approved reply to write a letter for (yet), or it has no document number yet."""


@dataclass(frozen=True)
class Letter:
    filename: str
    data: bytes
    number: str


def _cn_date(d) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def approved_reply(session: Session, item: Item, unit_id: int | None = None) -> Reply | None:
    """The reply of the latest round the office approved: the lead unit's, or with `unit_id` that unit's (分办:
    each separate unit sends its own letter under its own number). An item merged into another (并案) is
    answered by that item's reply: its proposer's letter carries it."""
    source = session.get(Item, item.merged_into_id) if item.merged_into_id else item

    def latest(*where):
        return session.scalars(select(Reply).where(Reply.item_id == source.id, Reply.status == "approved", *where)
                               .order_by(Reply.round.desc(), Reply.id.desc()).limit(1)).first()
    if unit_id is not None:
        return latest(Reply.unit_id == unit_id)
    return latest(Reply.unit_id == source.lead_unit_id) if source.lead_unit_id else latest()


def may_download(session: Session, user: User, item: Item) -> bool:
    """Whoever sees the item, internally or in the portal (the lead proposer and the co-signers)."""
    return visibility.may_see_item(session, user, item)


def number_letter(session: Session, item: Item, user: User, unit_id: int | None = None) -> str:
    """The office draws the document number of the item's approved reply (a 分办 unit's with `unit_id`) that has
    none: one approved before numbers were drawn at approval (with those of the reply's letters to merged items
    that have none). Returns the number of this item's letter (the one it has, if any)."""
    if user.role != "office":
        raise NotAllowed(N_("只有区府办可以编发文字号"))
    reply = approved_reply(session, item, unit_id)
    if reply is None:
        raise LetterUnavailable(N_("%(number)s：尚无审核通过的答复", number=item.number))
    number_reply(session, reply)
    return letter_number(session, reply, item.id)


def context(session: Session, item: Item, reply: Reply, number: str | None = None) -> dict:
    """The template's fields of the letter of `reply` to `item`'s proposer, under `number` (its document number)."""
    unit = session.get(Unit, reply.unit_id)
    pledge = session.scalars(select(Pledge).where(Pledge.item_id == reply.item_id, Pledge.unit_id == reply.unit_id)
                             .order_by(Pledge.id.desc()).limit(1)).first()
    signer = session.get(User, reply.signed_by) if reply.signed_by else None
    kind = "代表" if item.item_type == "suggestion" else "委员"
    noun = "建议" if item.item_type == "suggestion" else "提案"
    cls = reply.final_class or reply.reply_class
    day = clock.local_day(reply.reviewed_at) or clock.today()
    where = f"{item.session}" if item.session else f"{item.year}年"
    return {
        "unit_name": unit.name, "letter_number": number or "", "signer": signer.name if signer else "",
        "class_mark": cls, "class_name": CLASS_NAMES.get(cls, cls), "year": item.year,
        "title": f"关于对{where}第{item.number}号{noun}的答复" + ("（重新办理）" if reply.round > 1 else ""),
        "salutation": f"{item.proposer.name}{kind if not item.proposer.name.endswith(kind) else ''}：",
        "item_number": item.number, "item_title": item.title,
        "opening": f"您提出的《{item.title}》收悉。现答复如下：",
        "paragraphs": [p.strip() for p in reply.text.splitlines() if p.strip()],
        "adopted": reply.adopted or "", "promised": reply.promised or "",
        "promised_date": _cn_date(reply.promised_date) if reply.promised_date else "",
        "closing": "感谢您对我们工作的关心和支持，欢迎继续提出宝贵意见。",
        "date": _cn_date(day), "disclosure_note": DISCLOSURE_NOTE.get(reply.disclosure, ""),
        "contact_person": pledge.contact_person if pledge else "", "contact_phone": pledge.contact_phone if pledge else "",
        "copy_to": COPY_TO.get(item.item_type, "区政府办公室"),
    }


def template_bytes() -> bytes:
    """The office's template when BANLI_LETTER_TEMPLATE names one, else the built-in one."""
    path = os.environ.get("BANLI_LETTER_TEMPLATE")
    if path:
        with open(path, "rb") as f:
            return f.read()
    return default_template()


def reply_letter(session: Session, item: Item, user: User | None = None, unit_id: int | None = None) -> Letter:
    """The letter of the item's approved reply (a 分办 unit's with `unit_id`), under the number drawn at its
    approval. Reads only: LetterUnavailable while the reply has no number."""
    if user is not None and not may_download(session, user, item):
        raise PermissionError("this user may not see the item")
    reply = approved_reply(session, item, unit_id)
    if reply is None:
        raise LetterUnavailable(N_("%(number)s：尚无审核通过的答复", number=item.number))
    number = letter_number(session, reply, item.id)  # a merged item's letter has its own
    if number is None:
        raise LetterUnavailable(N_("%(number)s：答复函尚未编发文字号", number=item.number))
    doc = DocxTemplate(BytesIO(template_bytes()))
    doc.render(context(session, item, reply, number), autoescape=True)
    buf = BytesIO()
    doc.save(buf)
    name = f"答复函-{item.number}" + (f"-{session.get(Unit, unit_id).name}" if unit_id is not None else "")
    return Letter(f"{name}.docx", buf.getvalue(), number)


# --- the built-in template (GB/T 9704-2012) ------------------------------------------------------------------

FANGSONG, XIAOBIAOSONG, HEITI = "仿宋_GB2312", "方正小标宋简体", "黑体"
RED = RGBColor(0xC0, 0x00, 0x00)


def _font(run, name: str, size: float, bold: bool = False, color: RGBColor | None = None) -> None:
    run.font.name, run.font.size, run.font.bold = name, Pt(size), bold
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)
    if color is not None:
        run.font.color.rgb = color


def _para(doc, text: str = "", font: str = FANGSONG, size: float = 16, align=None, indent: bool = False,
          bold: bool = False, color=None):
    p = doc.add_paragraph()
    fmt = p.paragraph_format
    fmt.line_spacing_rule, fmt.line_spacing = WD_LINE_SPACING.EXACTLY, Pt(28.95)  # 22 lines a page
    fmt.space_before = fmt.space_after = Pt(0)
    if align is not None:
        p.alignment = align
    if indent:
        fmt.first_line_indent = Pt(size * 2)  # 2 characters
    if text:
        _font(p.add_run(text), font, size, bold, color)
    return p


_AFTER_PBDR = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
               "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid",
               "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
               "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle",
               "w:rPr", "w:sectPr", "w:pPrChange")


def _rule(paragraph, color: str = "C00000", size: int = 12, where: str = "bottom") -> None:
    """A horizontal line under (or over) the paragraph: the red rule of the letterhead, the 版记 lines."""
    pPr = paragraph._p.get_or_add_pPr()
    borders = pPr.find(qn("w:pBdr"))
    if borders is None:
        borders = OxmlElement("w:pBdr")
        pPr.insert_element_before(borders, *_AFTER_PBDR)  # the schema's order, or Word calls the file damaged
    line = OxmlElement(f"w:{where}")
    line.set(qn("w:val"), "single")
    line.set(qn("w:sz"), str(size))
    line.set(qn("w:space"), "1")
    line.set(qn("w:color"), color)
    if where == "top":
        borders.insert(0, line)
    else:
        borders.append(line)


def default_template() -> bytes:
    doc = Document()
    section = doc.sections[0]
    section.start_type = WD_SECTION.NEW_PAGE
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    R, C, L = WD_ALIGN_PARAGRAPH.RIGHT, WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.LEFT
    _para(doc, "{{ class_mark }}", HEITI, 16, R, bold=True)  # 答复类别标记, top right
    head = _para(doc, "{{ unit_name }}", XIAOBIAOSONG, 26, C, color=RED)  # 发文机关标志
    _rule(head)
    _para(doc, "{{ letter_number }}　　签发人：{{ signer }}", FANGSONG, 16, R)
    _para(doc)
    _para(doc, "{{ title }}", XIAOBIAOSONG, 22, C)
    _para(doc)
    _para(doc, "{{ salutation }}", FANGSONG, 16, L)
    _para(doc, "{{ opening }}", indent=True)
    _para(doc, "{%p for text in paragraphs %}")
    _para(doc, "{{ text }}", indent=True)
    _para(doc, "{%p endfor %}")
    _para(doc, "{%p if adopted %}")
    _para(doc, "采纳情况：{{ adopted }}", indent=True)
    _para(doc, "{%p endif %}")
    _para(doc, "{%p if promised %}")
    _para(doc, "承诺事项：{{ promised }}{% if promised_date %}（{{ promised_date }}前完成）{% endif %}", indent=True)
    _para(doc, "{%p endif %}")
    _para(doc, "{{ closing }}", indent=True)
    _para(doc)
    _para(doc, "{{ unit_name }}", align=R)
    _para(doc, "{{ date }}", align=R)
    _para(doc, "{{ disclosure_note }}", indent=True)
    _para(doc)
    _para(doc, "联系人：{{ contact_person }}　　联系电话：{{ contact_phone }}", indent=True)
    _para(doc, "答复类别：{{ class_name }}", indent=True)
    copy = _para(doc, "抄送：{{ copy_to }}。", FANGSONG, 14, L)  # 版记, between two rules
    _rule(copy, "000000", 8, "top")
    _rule(copy, "000000", 8, "bottom")
    buf = BytesIO()
    doc.save(buf)
    return buf.getvalue()
