"""The directory as an Excel workbook (通讯录导入导出): units, users (leaders among them) and the roster of
deputies (代表名册) and members (委员名册).

Export writes one sheet each; import reads the same sheets back and creates or updates each row by its
code or username through `engine.people.directory`, in the caller's ONE transaction: every row is checked,
every problem is listed by sheet, row and column, and if any row is wrong nothing is kept (ImportInvalid).
Nobody is deleted: a row with 启用 = 否 deactivates the person.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.i18n import N_, Msg
from engine.models import ROLES, Unit, User
from engine.people.directory import DirectoryInvalid, Problem, save_unit, save_user
from engine.reports.excel import (MAX_ROWS, ImportFileInvalid, ImportInvalid, RowError, _bytes, _cell_text, _sheet,
                                  open_workbook)

ROLE_ZH = {"office": "区府办", "unit_handler": "承办单位经办人", "unit_head": "单位负责人", "leader": "区领导",
           "proposer": "代表委员", "supervisor": "督查", "admin": "流程管理员"}
ROLE_OF = {v: k for k, v in ROLE_ZH.items()} | {r: r for r in ROLES}
YES, NO = "是", "否"

# (field, header) per sheet; the first two of each are required.
UNIT_COLUMNS = [("code", "单位编码"), ("name", "单位名称"), ("letter_prefix", "发文字号前缀"), ("active", "启用")]
USER_COLUMNS = [("username", "用户名"), ("name", "姓名"), ("role", "角色"), ("unit", "单位编码"),
                ("email", "电子邮箱"), ("phone", "电话"), ("active", "启用"), ("password", "初始密码")]
ROSTER_COLUMNS = [("username", "用户名"), ("name", "姓名"), ("roster_number", "编号"), ("delegation", "代表团/界别"),
                  ("phone", "电话"), ("email", "电子邮箱"), ("active", "启用"), ("password", "初始密码")]
SHEETS = {"单位": ("unit", UNIT_COLUMNS), "用户": ("user", USER_COLUMNS),
          "代表名册": ("deputy", ROSTER_COLUMNS), "委员名册": ("member", ROSTER_COLUMNS)}


@dataclass
class DirectoryImportResult:
    created: list[str] = field(default_factory=list)  # "sheet: code"
    updated: list[str] = field(default_factory=list)


def directory_workbook(session: Session) -> bytes:
    """Every unit and person, active or not (a re-import of the file changes nothing)."""
    wb = Workbook()
    wb.remove(wb.active)
    units = session.scalars(select(Unit).order_by(Unit.code)).all()
    code_of = {u.id: u.code for u in units}
    _sheet(wb, "单位", [h for _, h in UNIT_COLUMNS],
           ([u.code, u.name, u.letter_prefix or "", YES if u.active else NO] for u in units), [16, 30, 16, 6])
    people = session.scalars(select(User).order_by(User.role, User.username)).all()
    _sheet(wb, "用户", [h for _, h in USER_COLUMNS],
           ([u.username, u.name, ROLE_ZH.get(u.role, u.role), code_of.get(u.unit_id, ""), u.email or "",
             u.phone or "", YES if u.active else NO, ""] for u in people if u.role != "proposer"),
           [16, 12, 14, 12, 24, 16, 6, 12])
    for title, kind in (("代表名册", "deputy"), ("委员名册", "member")):
        _sheet(wb, title, [h for _, h in ROSTER_COLUMNS],
               ([u.username, u.name, u.roster_number or "", u.delegation or "", u.phone or "", u.email or "",
                 YES if u.active else NO, ""] for u in people if u.role == "proposer" and u.proposer_kind == kind),
               [16, 12, 12, 20, 16, 24, 6, 12])
    return _bytes(wb)


def _rows(ws, columns) -> tuple[list[tuple[int, dict]], list[str]]:
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None) or ()
    by_text = {h: f for f, h in columns} | {f: f for f, _ in columns}
    index = {i: by_text[t] for i, t in ((i, _cell_text(c).rstrip("*＊ ")) for i, c in enumerate(header))
             if t in by_text}
    missing = [h for f, h in columns[:2] if f not in index.values()]
    out = []
    for number, values in enumerate(rows, start=2):
        record = {f: _cell_text(values[i]) if i < len(values) else "" for i, f in index.items()}
        if any(record.values()):
            out.append((number, record))
    return out, missing


def import_directory(session: Session, data: bytes, actor: User | None = None) -> DirectoryImportResult:
    """Create or update every row of the workbook's directory sheets, as `actor` may (None: the command
    line), or raise ImportInvalid (nothing kept)."""
    wb = open_workbook(data)
    try:
        sheets = {}
        for title, (kind, columns) in SHEETS.items():
            if title in wb.sheetnames:
                rows, missing = _rows(wb[title], columns)
                if missing:
                    raise ImportFileInvalid(N_("“%(sheet)s”表缺少列：%(columns)s", sheet=Msg(title),
                                               columns="、".join(missing)))
                sheets[title] = (kind, columns, rows)
    finally:
        wb.close()
    if not sheets:
        raise ImportFileInvalid(N_("文件中没有“单位”“用户”“代表名册”“委员名册”表"))
    if sum(len(rows) for _, _, rows in sheets.values()) > MAX_ROWS:
        raise ImportFileInvalid(N_("行数超过上限 %(n)s", n=MAX_ROWS))
    result, errors = DirectoryImportResult(), []
    for title, (kind, columns, rows) in sheets.items():  # units first: users may name a new unit
        header = dict(columns)
        for number, record in rows:
            try:
                with session.begin_nested():
                    key, created = _save(session, kind, record, actor)
                (result.created if created else result.updated).append(f"{title}: {key}")
            except DirectoryInvalid as exc:
                errors += [RowError(number, f"{title}·{header.get(p.field, p.field)}", p.zh, p.en)
                           for p in exc.problems]
    if errors:
        raise ImportInvalid(errors, sum(len(rows) for _, _, rows in sheets.values()))
    return result


def _save(session: Session, kind: str, record: dict, actor: User | None) -> tuple[str, bool]:
    if kind == "unit":
        unit = session.scalars(select(Unit).where(Unit.code == record.get("code", ""))).first()
        return save_unit(session, record, unit).code, unit is None
    raw = dict(record)
    if kind == "user":
        raw["role"] = ROLE_OF.get(raw.get("role", ""), "")
    else:
        raw["role"], raw["proposer_kind"] = "proposer", kind
    existing = session.scalars(select(User).where(User.username == raw.get("username", "").lower())).first()
    if kind == "user" and "proposer" in (raw["role"], existing.role if existing else None):
        raise DirectoryInvalid([Problem("role", "代表委员请填在“代表名册”或“委员名册”表中",
                                        "Deputies and members belong on the roster sheets")])
    return save_user(session, raw, existing, actor).username, existing is None
