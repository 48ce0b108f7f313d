"""Checks a BPMN file must pass before it is deployed (`banli check`, and every deploy from the admin pages).

Uploaded BPMN is untrusted: the XML goes through the hardened parser, the process through SpiffWorkflow's
parser, and every piece of code in it (timers, conditions, scripts) through the sandbox's compiler. Then the
rules this engine relies on at run time: each user task sits in a lane that names a role, and each form
field has a type the form renderer and validator know. Each problem names the element and, where the XML
tells, the line, so the admin can find it in the modeler or an editor.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

from engine.i18n import N_, Msg
from engine.people.authz import LANES
from engine.text import is_identifier, safe_label, unsafe_characters
from engine.workflow.parser import DeploymentError, ParsedProcess, parse_bpmn
from engine.workflow.forms import FIELD_TYPES
from engine.workflow.safexml import UnsafeXMLError, parse_untrusted_xml
from engine.workflow.sandbox import check_code
from engine.deadlines.expressions import FUNCTIONS

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"

# Elements whose text is code, and how the engine runs it: expressions are evaluated, scripts executed.
CODE_ELEMENTS = {
    f"{{{BPMN}}}conditionExpression": ("eval", N_("条件")),
    f"{{{BPMN}}}condition": ("eval", N_("条件事件")),
    f"{{{BPMN}}}timeDate": ("eval", N_("定时器")),
    f"{{{BPMN}}}timeDuration": ("eval", N_("定时器")),
    f"{{{BPMN}}}timeCycle": ("eval", N_("定时器")),
    f"{{{BPMN}}}loopCardinality": ("eval", N_("多实例数量")),
    f"{{{BPMN}}}completionCondition": ("eval", N_("多实例完成条件")),
    f"{{{BPMN}}}script": ("exec", N_("脚本")),
    f"{{{SPIFF}}}preScript": ("exec", N_("前置脚本")),
    f"{{{SPIFF}}}postScript": ("exec", N_("后置脚本")),
}
TIMER_TAGS = {f"{{{BPMN}}}timeDate", f"{{{BPMN}}}timeDuration", f"{{{BPMN}}}timeCycle"}
# An ISO 8601 literal written bare, as Camunda Modeler users do: here it is Python, so it must be quoted.
ISO_LITERAL = re.compile(r"^(R\d*/)?P(\d|T\d)[\dYMWDTHS.,]*$|^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$")
NUMERIC_CONSTRAINTS = ("minlength", "maxlength", "min", "max")
SANDBOX_LINE = re.compile(r"^Line (\d+): ?(.*)$", re.S)
SAFEXML_LINE = re.compile(r"第 (\d+) 行")


@dataclass(frozen=True)
class Problem:
    """One reason a file cannot be deployed; `message` is a catalog message (shown in the reader's language)."""

    message: str
    element_id: str | None = None
    line: int | None = None
    unreadable: bool = False  # the file itself was refused (not XML, hostile, too large): show none of it

    def __str__(self) -> str:
        where = " ".join(p for p in (f"line {self.line}" if self.line else "",
                                     f"[{self.element_id}]" if self.element_id else "") if p)
        return f"{where}: {self.message}" if where else self.message


class InvalidProcess(DeploymentError):
    """The file failed validation; nothing was deployed."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def check_bpmn(xml: bytes, filename: str = "upload.bpmn") -> list[Problem]:
    """Every problem that stops `xml` from being deployed; an empty list means it may be deployed."""
    try:
        tree = parse_untrusted_xml(xml)
    except UnsafeXMLError as exc:
        found = SAFEXML_LINE.search(str(exc))
        return [Problem(exc.args[0], line=int(found.group(1)) if found else None, unreadable=True)]
    try:
        xml.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [Problem(N_("文件须为 UTF-8 编码（第 %(at)s 字节：%(reason)s）", at=exc.start, reason=exc.reason),
                        unreadable=True)]
    elements = _elements_by_id(tree)
    naming = _name_problems(tree)
    if naming:  # ids and labels reach paths, URLs, pages and exports: refuse unsafe ones before anything
        return naming
    dangling = _reference_problems(tree, elements)
    if dangling:  # SpiffWorkflow's own message for these is misleading
        return dangling
    try:
        proc = parse_bpmn(xml, filename)
    except ValidationException as exc:
        return [_parser_problem(exc, elements)]
    except DeploymentError as exc:
        return [Problem(exc.args[0] if exc.args else str(exc))]
    except Exception as exc:  # noqa: BLE001 - a hostile or odd file must give a message, not a traceback
        return [Problem(N_("BPMN 无法解析：%(error)s", error=f"{type(exc).__name__}: {exc}"))]
    problems = [*_lane_problems(proc, elements), *_form_problems(proc, elements), *_code_problems(tree)]
    return sorted(problems, key=lambda p: p.line or 0)


def check_and_raise(xml: bytes, filename: str = "upload.bpmn") -> None:
    problems = check_bpmn(xml, filename)
    if problems:
        raise InvalidProcess(problems)


# ------------------------------------------------------------------------------------------------ helpers

def _name_problems(tree) -> list[Problem]:
    """Process ids must be plain identifiers; other ids and every name or label may hold no control or
    direction-override character (a process id `../../etc/passwd`, a label that reads backwards)."""
    out = []
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        line, el_id = el.sourceline, el.get("id")
        if el.tag == f"{{{BPMN}}}process" and not is_identifier(el_id or ""):
            out.append(Problem(N_("流程编号“%(id)s”须以字母或下划线开头，只含字母、数字、下划线、点和连字符，至多 64 个字符",
                                  id=el_id), None, line))
        elif el_id is not None and (unsafe_characters(el_id, multiline=False) or any(c.isspace() for c in el_id)):
            out.append(Problem(N_("编号含有空白、控制或方向字符：%(chars)s",
                                  chars=", ".join(unsafe_characters(el_id, multiline=False)) or Msg(N_("空白"))),
                               None, line))
        for attr in ("name", "label"):
            value = el.get(attr)
            why = safe_label(value) if value is not None else None
            if why:
                out.append(Problem(Msg("%(attr)s“%(value)s”%(why)s", attr=attr, value=value[:40], why=why),
                                   el_id if el_id and is_identifier(el_id) else None, line))
    return out


def _elements_by_id(tree) -> dict[str, etree._Element]:
    """Semantic elements by id (the first occurrence: diagram shapes come after the process)."""
    out: dict[str, etree._Element] = {}
    for el in tree.iter():
        if isinstance(el.tag, str) and el.get("id"):
            out.setdefault(el.get("id"), el)
    return out


def _line(elements: dict, element_id: str | None) -> int | None:
    el = elements.get(element_id or "")
    return el.sourceline if el is not None else None


REFERENCES = {f"{{{BPMN}}}sequenceFlow": ("sourceRef", "targetRef"), f"{{{BPMN}}}boundaryEvent": ("attachedToRef",),
              f"{{{BPMN}}}exclusiveGateway": ("default",), f"{{{BPMN}}}inclusiveGateway": ("default",)}


def _reference_problems(tree, elements: dict) -> list[Problem]:
    """Flows, boundary events and default flows that point at no element."""
    out = []
    for el in tree.iter(*REFERENCES):
        for attr in REFERENCES[el.tag]:
            ref = el.get(attr)
            if ref is not None and ref not in elements:
                out.append(Problem(N_("%(attr)s“%(ref)s”指向不存在的元素", attr=attr, ref=ref), el.get("id"),
                                   el.sourceline))
    return out


def _parser_problem(exc: ValidationException, elements: dict) -> Problem:
    msg = str(exc.args[0]) if exc.args else str(exc)
    line = exc.line_number if isinstance(exc.line_number, int) else _line(elements, exc.id)
    return Problem(N_("BPMN 结构错误：%(error)s", error=msg), exc.id or None, line)


def _specs(proc: ParsedProcess):
    yield proc.spec
    yield from proc.subprocess_specs.values()


def _user_tasks(proc: ParsedProcess):
    """(bpmn id, task spec) of each task a person completes, once each (MI children included)."""
    seen = set()
    for spec in _specs(proc):
        for ts in spec.task_specs.values():
            if getattr(ts, "manual", False) and ts.bpmn_id and ts.bpmn_id not in seen:
                seen.add(ts.bpmn_id)
                yield ts.bpmn_id, ts


def _label(ts) -> str:
    return f"“{ts.bpmn_name}”({ts.bpmn_id})" if ts.bpmn_name else ts.bpmn_id


def _lane_problems(proc: ParsedProcess, elements: dict) -> list[Problem]:
    known = ", ".join(LANES)
    out = []
    for bpmn_id, ts in _user_tasks(proc):
        if not ts.lane:
            out.append(Problem(N_("用户任务 %(task)s 不属于任何泳道；泳道（或任务自身）的 role 属性决定由哪个角色办理，"
                                  "可用角色：%(roles)s", task=_label(ts), roles=known),
                               bpmn_id, _line(elements, bpmn_id)))
        elif ts.lane not in LANES:
            out.append(Problem(N_("用户任务 %(task)s 所在泳道“%(lane)s”没有对应已知角色的 role 属性，可用角色：%(roles)s",
                                  task=_label(ts), lane=ts.lane, roles=known), bpmn_id, _line(elements, bpmn_id)))
    return out


def _flow_node_ids(proc: ParsedProcess) -> set[str]:
    return {ts.bpmn_id for spec in _specs(proc) for ts in spec.task_specs.values() if getattr(ts, "bpmn_id", None)}


def _form_problems(proc: ParsedProcess, elements: dict) -> list[Problem]:
    nodes = _flow_node_ids(proc)
    out = []
    for bpmn_id, ts in _user_tasks(proc):
        form = (ts.extensions or {}).get("form")
        if not form:
            continue
        line = _line(elements, bpmn_id)

        def bad(problem: Msg) -> None:
            out.append(Problem(N_("%(task)s 的表单：%(problem)s", task=_label(ts), problem=problem), bpmn_id, line))

        ids = [f["id"] for f in form["fields"]]
        for fid in sorted({i for i in ids if ids.count(i) > 1}):
            bad(N_("字段编号 %(field)s 重复", field=fid))
        for field in form["fields"]:
            _check_field(field, set(ids), nodes, bad)
    return out


def _check_field(field: dict, form_ids: set[str], nodes: set[str], bad) -> None:
    fid, kind = field["id"], field["type"]
    if not fid:
        bad(Msg(N_("有字段缺少编号")))
        return
    if not fid.isidentifier() or keyword.iskeyword(fid) or fid.startswith("_"):
        bad(N_("字段编号 %(field)s 须为字母、数字和下划线组成的变量名，且不以下划线开头", field=fid))
    if fid in nodes:
        bad(N_("字段编号 %(field)s 与流程节点编号相同", field=fid))
    if fid in FUNCTIONS:
        bad(N_("字段编号 %(field)s 与表达式函数 %(field)s() 同名", field=fid))
    if kind not in FIELD_TYPES:
        bad(N_("字段 %(field)s 的类型“%(kind)s”未知，可用类型：%(types)s", field=fid, kind=kind, types=", ".join(FIELD_TYPES)))
    options = [o["id"] for o in field["options"]]
    if kind == "enum" and not options:
        bad(N_("枚举字段 %(field)s 没有选项", field=fid))
    if any(not o for o in options):
        bad(N_("字段 %(field)s 有选项缺少编号", field=fid))
    for dup in sorted({o for o in options if o and options.count(o) > 1}):
        bad(N_("字段 %(field)s 的选项 %(option)s 重复", field=fid, option=dup))
    default = field.get("default")
    if kind == "enum" and default and options and default not in options:
        bad(N_("字段 %(field)s 的默认值 %(default)s 不是其选项之一", field=fid, default=default))
    if kind == "boolean" and default and default.lower() not in ("true", "false"):
        bad(N_("布尔字段 %(field)s 的默认值须为 true 或 false", field=fid))
    for name in NUMERIC_CONSTRAINTS:
        config = (field.get("validation") or {}).get(name)
        if config is not None and not _is_number(config):
            bad(N_("字段 %(field)s 的约束 %(name)s 须为数字，现为“%(value)s”", field=fid, name=name, value=config))
    condition = (field.get("properties") or {}).get("required_when")
    if condition is not None:
        for clause in condition.split("|"):
            name, eq, _ = clause.partition("=")
            if not eq or name.strip() not in form_ids:
                bad(N_("字段 %(field)s 的 required_when 条件“%(clause)s”须写作 其他字段=值，且该字段在本表单中",
                       field=fid, clause=clause))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _owner(el) -> etree._Element:
    """The flow element or sequence flow a piece of code belongs to (not its event definition)."""
    node = el.getparent()
    while node is not None:
        local = etree.QName(node).localname
        if node.get("id") and not local.endswith("EventDefinition") and local != "multiInstanceLoopCharacteristics":
            return node
        node = node.getparent()
    return el


def _code_problems(tree) -> list[Problem]:
    out = []
    for el in tree.iter(*CODE_ELEMENTS):
        mode, what = CODE_ELEMENTS[el.tag]
        what = Msg(what)
        owner = _owner(el)
        oid = owner.get("id")
        code = (el.text or "").strip()
        if not code:
            if mode == "eval":
                out.append(Problem(N_("%(what)s表达式为空", what=what), oid, el.sourceline))
            continue
        if el.tag in TIMER_TAGS and ISO_LITERAL.match(code):
            out.append(Problem(N_("%(what)s表达式是 Python 表达式，字面值须加引号：'%(code)s'", what=what, code=code),
                               oid, el.sourceline))
            continue
        for error in check_code(el.text or "", mode):
            found = SANDBOX_LINE.match(error)
            line, text = (el.sourceline + int(found.group(1)) - 1, found.group(2)) if found else (el.sourceline, error)
            if isinstance(error, Msg) and "problem" in error.params:  # the sandbox's refusal, a catalog message
                text = error.params["problem"]
            out.append(Problem(N_("%(what)s代码不被接受：%(error)s", what=what, error=text), oid, line))
    return out
