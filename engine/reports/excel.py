"""Excel (.xlsx, openpyxl): the registration template, bulk registration, and exports of figures and item lists.

Bulk registration goes through `registration.register_item` row by row inside the caller's ONE
transaction: every row is validated, every error is collected with its row and column, and when any row
is wrong `ImportInvalid` is raised so the transaction rolls back and nothing is half-imported.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from io import BytesIO
from typing import Callable, Iterable

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine.text import strip_unsafe
from engine.workflow.forms import FormInvalid
from engine.models import Item, User
from engine.items.registration import register_item
from engine.reports.statistics import DEFINITIONS, YearStatistics, figure_rows, percent as _pct

MAX_ROWS = 5000  # one sheet of a province's year; more is a mistake or several sessions in one file
MAX_BYTES = 10 * 1024 * 1024
# What the file may expand to once unzipped (every part together), and how many sheet rows are read at all
# (empty ones included): a small .xlsx can unzip to gigabytes, or hold a million empty rows.
MAX_EXPANDED_BYTES = 64 * 1024 * 1024
MAX_SHEET_ROWS = 2 * MAX_ROWS + 1000
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Template columns: (registration field, header, required, width). Headers may also be given as field ids.
COLUMNS = [
    ("item_type", "类型", True, 8), ("year", "年度", False, 8), ("number", "编号", False, 14),
    ("session", "届次", False, 22), ("title", "案由", True, 40), ("content", "内容", True, 60),
    ("proposer", "领衔人", True, 14), ("cosigners", "联名/附议人", False, 24), ("category", "类别", False, 10),
    ("suggested_units", "建议承办单位", False, 20),
]
HEADER_OF = {f: h for f, h, _, _ in COLUMNS}
TYPE_WORDS = {"建议": "suggestion", "提案": "proposal", "suggestion": "suggestion", "proposal": "proposal"}
TYPE_ZH = {"suggestion": "建议", "proposal": "提案"}
STATUS_ZH = {"registered": "已登记", "assigning": "待交办", "signing": "待签收", "handling": "办理中",
             "replying": "答复中", "rating": "待评价", "rehandling": "研究重办", "publishing": "待公开",
             "closed": "已办结", "withdrawn": "已撤回", "merged": "已并案"}
VERDICT_ZH = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意", "no_opinion": "未表态"}

_BOLD = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="F0F3F6")


class ImportFileInvalid(Exception):
    """The file as a whole cannot be read (not an .xlsx, no header, too large)."""


@dataclass(frozen=True)
class RowError:
    row: int  # the Excel row number (the header is row 1)
    column: str  # the column's header
    message_zh: str
    message_en: str

    def message(self, lang: str = "zh") -> str:
        return self.message_en if lang == "en" else self.message_zh


class ImportInvalid(Exception):
    """Some rows are wrong: nothing is imported. `errors` lists every problem by row and column."""

    def __init__(self, errors: list[RowError], rows: int):
        super().__init__(f"{len(errors)} error(s) in {rows} row(s); nothing imported")
        self.errors, self.rows = errors, rows


@dataclass
class ImportResult:
    rows: int
    imported: list[tuple[int, str]] = field(default_factory=list)  # (Excel row, item number)
    ignored_columns: list[str] = field(default_factory=list)


Progress = Callable[[int, int], None]  # (rows validated, rows in the file)


# --- the template --------------------------------------------------------------------------------------

def registration_template(session: Session) -> bytes:
    """The workbook the office fills in: the registration sheet, the proposers to choose from, instructions."""
    wb = Workbook()
    ws = wb.active
    ws.title = "登记"
    ws.append([h + ("*" if req else "") for _, h, req, _ in COLUMNS])
    for i, (_, _, _, width) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
        ws.cell(1, i).font, ws.cell(1, i).fill = _BOLD, _HEAD_FILL
    ws.freeze_panes = "A2"
    types = DataValidation(type="list", formula1='"建议,提案"', allow_blank=True,
                           error="请填写 建议 或 提案", errorTitle="类型")
    ws.add_data_validation(types)
    types.add(f"A2:A{MAX_ROWS + 1}")

    people = wb.create_sheet("代表委员")
    people.append(["姓名", "用户名", "身份"])
    proposers = session.execute(select(User.name, User.username, User.proposer_kind)
                                .where(User.role == "proposer", User.active).order_by(User.name)).all()
    for name, username, kind in proposers:
        people.append([export_cell(name), export_cell(username), {"deputy": "代表", "member": "委员"}.get(kind or "", "")])
    people.column_dimensions["A"].width = people.column_dimensions["B"].width = 16
    if proposers:
        who = DataValidation(type="list", formula1=f"='代表委员'!$A$2:$A${len(proposers) + 1}", allow_blank=True,
                             showErrorMessage=False)
        ws.add_data_validation(who)
        who.add(f"G2:G{MAX_ROWS + 1}")

    notes = wb.create_sheet("说明")
    for line in ["每行登记一件建议或提案；带 * 的列必填。第一行是列名，请勿修改。",
                 "类型：建议 或 提案。年度留空为今年；编号留空自动编号（JY/TA+年度-序号）。",
                 "领衔人：填写“代表委员”表中的姓名或用户名。联名/附议人用顿号（、）分隔。",
                 f"一次最多 {MAX_ROWS} 行。任何一行有误时整个文件都不导入，请按错误清单修改后重新上传。"]:
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    return _bytes(wb)


# --- bulk registration ---------------------------------------------------------------------------------

def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.strftime("%Y")  # a year typed into a date-formatted cell
    return str(value).strip()


def _header_map(header: Iterable) -> tuple[dict[int, str], list[str]]:
    by_text = {h: f for f, h, _, _ in COLUMNS} | {f: f for f, _, _, _ in COLUMNS}
    columns, ignored = {}, []
    for i, cell in enumerate(header):
        text = _cell_text(cell).rstrip("*＊ ").strip()
        if not text:
            continue
        if text in by_text and by_text[text] not in columns.values():
            columns[i] = by_text[text]
        else:
            ignored.append(text)
    missing = [h for f, h, req, _ in COLUMNS if req and f not in columns.values()]
    if missing:
        raise ImportFileInvalid(N_("缺少必填列：%(columns)s（请使用下载的模板）", columns="、".join(missing)))
    return columns, ignored


def _check_expansion(data: bytes) -> None:
    """Refuse a zip whose parts would unzip past MAX_EXPANDED_BYTES, from the sizes its directory declares
    (zipfile never inflates a part beyond its declared size), before anything is inflated."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as z:
            expanded = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ImportFileInvalid(N_("不是有效的 Excel 文件，请上传 .xlsx 格式")) from None
    if expanded > MAX_EXPANDED_BYTES:
        raise ImportFileInvalid(N_("文件解压后过大（%(size)s MB，上限 %(limit)s MB）", size=expanded // 2**20,
                                   limit=MAX_EXPANDED_BYTES // 2**20))


def open_workbook(data: bytes):
    """An uploaded workbook, read-only, or ImportFileInvalid (too large, a zip bomb, not an .xlsx)."""
    if len(data) > MAX_BYTES:
        raise ImportFileInvalid(N_("文件过大（上限 %(limit)s MB）", limit=MAX_BYTES // 1024 // 1024))
    _check_expansion(data)
    try:
        return load_workbook(BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds on a damaged file; all mean "not readable"
        raise ImportFileInvalid(N_("不是有效的 Excel 文件，请上传 .xlsx 格式")) from None


def read_rows(data: bytes) -> tuple[list[tuple[int, dict]], list[str]]:
    """The non-empty data rows of the first sheet as (Excel row, {field: text}), and the ignored columns."""
    wb = open_workbook(data)
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise ImportFileInvalid(N_("文件是空的"))
        columns, ignored = _header_map(header)
        out = []
        for number, values in enumerate(rows, start=2):
            if number > MAX_SHEET_ROWS:
                raise ImportFileInvalid(N_("表格行数超过上限 %(n)s", n=MAX_SHEET_ROWS))
            record = {f: _cell_text(values[i]) if i < len(values) else "" for i, f in columns.items()}
            if any(record.values()):
                out.append((number, record))
                if len(out) > MAX_ROWS:
                    raise ImportFileInvalid(N_("行数超过上限 %(n)s", n=MAX_ROWS))
    except ImportFileInvalid:
        raise
    except Exception:  # noqa: BLE001 - malformed sheet XML surfaces while iterating (ParseError and kin)
        raise ImportFileInvalid(N_("Excel 文件的工作表内容已损坏，无法读取")) from None
    finally:
        wb.close()
    if not out:
        raise ImportFileInvalid(N_("文件中没有数据行"))
    return out, ignored


def _proposer_names(session: Session) -> dict[str, str | None]:
    """Proposer name -> username (None when two proposers share the name)."""
    names: dict[str, str | None] = {}
    for name, username in session.execute(select(User.name, User.username).where(User.role == "proposer")):
        names[name] = None if name in names else username
    return names


def _to_registration(record: dict, names: dict[str, str | None]) -> tuple[dict, list[RowError]]:
    raw, errors = dict(record), []
    kind = record.get("item_type", "")
    raw["item_type"] = TYPE_WORDS.get(kind.lower(), kind)
    who = record.get("proposer", "")
    if who in names:
        if names[who] is None:
            errors.append(("proposer", f"有多位同名代表委员“{who}”，请改填用户名",
                           f"several proposers are named {who}: give the username"))
        else:
            raw["proposer"] = names[who]
    return raw, errors


def import_items(session: Session, data: bytes, actor: User, progress: Progress | None = None) -> ImportResult:
    """Register every row of the workbook in the caller's transaction, or raise ImportInvalid (nothing kept)."""
    rows, ignored = read_rows(data)
    names = _proposer_names(session)
    result, errors = ImportResult(len(rows), ignored_columns=ignored), []
    for done, (number, record) in enumerate(rows, start=1):
        raw, problems = _to_registration(record, names)
        errors += [RowError(number, HEADER_OF[f], zh, en) for f, zh, en in problems]
        if not problems:
            try:  # a bad row raises before it adds anything; any error below rolls the whole file back
                item = register_item(session, raw, actor)
                result.imported.append((number, item.number))
            except FormInvalid as exc:
                errors += [RowError(number, HEADER_OF.get(e.field, e.field), e.message("zh"), e.message("en"))
                           for e in exc.errors]
        if progress is not None:
            progress(done, len(rows))
    if errors:
        raise ImportInvalid(errors, len(rows))
    return result


# --- exports -------------------------------------------------------------------------------------------

# A cell starting with one of these is a formula to Excel, LibreOffice or WPS (OWASP, CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def export_cell(value):
    """A value as an export may write it: text without control characters (a worksheet cannot hold them,
    and they made every export fail), and never a formula: text that a spreadsheet would read as one is
    written with a leading apostrophe, as the OWASP CSV-injection guidance says. Numbers and dates stay."""
    if not isinstance(value, str):
        return value
    text = strip_unsafe(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _bytes(wb: Workbook) -> bytes:
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet(wb: Workbook, title: str, header: list[str], rows: Iterable[list], widths: list[int] | None = None):
    ws = wb.create_sheet(title)
    ws.append(header)
    for i in range(1, len(header) + 1):
        ws.cell(1, i).font, ws.cell(1, i).fill = _BOLD, _HEAD_FILL
        ws.column_dimensions[get_column_letter(i)].width = (widths or [])[i - 1] if widths and i <= len(widths) else 14
    for row in rows:
        ws.append([export_cell(v) for v in row])
    ws.freeze_panes = "B2"
    return ws


def statistics_workbook(stats: YearStatistics) -> bytes:
    """总体 (per type), 单位 (lead with 分办 parts, and co apart), 明细 (the items behind every figure), 口径 (definitions)."""
    wb = Workbook()
    wb.remove(wb.active)
    columns = [figure_rows(stats.total), figure_rows(stats.by_type["suggestion"]), figure_rows(stats.by_type["proposal"])]
    _sheet(wb, "总体", [f"{stats.year}年（截至{stats.as_of}）", "合计", "建议", "提案"],
           ([label, *(col[i][1] for col in columns)] for i, (label, _) in enumerate(columns[0])), [26, 22, 22, 22])
    _sheet(wb, "单位", ["单位", "主办件数（含分办）", "其中分办", "分办已答复", "办复率", "按时办复率", "面商率", "满意率（最终）",
                       "未表态", "重办件数", "协办件数", "已提协办意见", "免除协办意见", "协办意见逾期", "被催办"],
           ([u.name, u.lead.items, u.separate_items, u.separate_replied, _pct(u.lead.reply_rate),
             _pct(u.lead.on_time_rate), _pct(u.lead.consultation_rate), _pct(u.lead.satisfaction_final.ratio),
             u.lead.satisfaction_final.no_opinion, u.lead.rehandled_items, u.co_items, u.co_opinions, u.co_waived,
             u.co_late, u.urged] for u in stats.units), [22] + [14] * 14)
    _sheet(wb, "跟踪落实", [f"{stats.year}年", "件数"], ([label, value] for label, value in stats.follow_up_rows()), [26, 12])
    _sheet(wb, "明细", ["编号", "类型", "案由", "领衔人", "主办单位", "状态", "计入统计", "交办日期", "答复期限", "原期限",
                       "经延期", "办复日期", "按时办复", "面商", "首轮评价", "最终评价", "重办轮次", "答复类别"],
           ([f.number, TYPE_ZH[f.item_type], f.title, f.proposer, f.lead_unit or "", STATUS_ZH.get(f.status, f.status),
             "是" if f.counted else "否", f.assigned_on, f.due, f.original_due, "是" if f.extended else "",
             f.replied_on, {True: "是", False: "否", None: ""}[f.on_time], "是" if f.consulted else "否",
             VERDICT_ZH.get(f.first_rating or "", ""), VERDICT_ZH.get(f.final_rating or "", ""), f.rehandle_rounds,
             f.reply_class or ""] for f in stats.facts), [12, 6, 40, 10, 20, 8, 8, 12, 12, 12, 6, 12, 8, 6, 8, 8, 8, 8])
    defs = _sheet(wb, "口径", ["口径"], ([zh] for _, zh, _ in DEFINITIONS), [120])
    for row in defs.iter_rows(min_row=2):
        row[0].alignment = Alignment(wrap_text=True)
    return _bytes(wb)


def items_workbook(items: Iterable[Item], title: str = "建议提案") -> bytes:
    """A list of items as the office files it: number, type, title, people, units and where each stands."""
    wb = Workbook()
    wb.remove(wb.active)
    _sheet(wb, title[:31], ["年度", "编号", "类型", "案由", "领衔人", "联名/附议人", "类别", "主办单位", "重点督办", "状态",
                            "当前环节", "交办时间", "办复时间", "答复类别"],
           ([it.year, it.number, TYPE_ZH.get(it.item_type, it.item_type), it.title, it.proposer.name, it.cosigners or "",
             it.category or "", it.lead_unit.name if it.lead_unit else "", "是" if it.is_key else "",
             STATUS_ZH.get(it.status, it.status), it.current_step or "",
             _local(it.assigned_at), _local(it.replied_at), it.reply_class or ""] for it in items),
           [6, 12, 6, 40, 10, 20, 8, 20, 8, 8, 16, 16, 16, 8])
    return _bytes(wb)


def _local(instant) -> str:
    from engine.clock import local

    return local(instant).strftime("%Y-%m-%d %H:%M") if instant else ""
