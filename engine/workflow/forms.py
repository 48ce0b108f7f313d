"""Server-side validation of submitted task forms against the BPMN form (`camunda:formData`).

SpiffWorkflow validates nothing; this module turns raw strings from a browser (or the API) into the typed,
JSON-native values that go into task data, or into one clear message per field.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable, Mapping

from engine.text import unsafe_characters

# Types a form field may have. The domain types name what the value refers to; their choices come from
# the database through the `choices` callback.
SCALAR_TYPES = ("string", "text", "long", "boolean", "date", "enum")
REFERENCE_TYPES = ("unit", "unit_list", "leader")
FIELD_TYPES = SCALAR_TYPES + REFERENCE_TYPES

# Limits every field has, whatever its BPMN says: a form is no way to store megabytes, and a whole number
# must fit the database's integer columns.
TEXT_LIMITS = {"string": 1000, "text": 50_000}  # characters
LONG_MIN, LONG_MAX = -(2**31), 2**31 - 1

MESSAGES = {
    "required": ("此项为必填项", "This field is required"),
    "long": ("请输入整数", "Enter a whole number"),
    "date": ("请输入有效日期（年-月-日）", "Enter a valid date (YYYY-MM-DD)"),
    "enum": ("请从列表中选择", "Choose one of the listed options"),
    "reference": ("所选项目不存在", "The selected entry does not exist"),
    "minlength": ("内容过短，至少 {n} 个字", "Too short: at least {n} characters"),
    "maxlength": ("内容过长，至多 {n} 个字", "Too long: at most {n} characters"),
    "min": ("不能小于 {n}", "Must be at least {n}"),
    "max": ("不能大于 {n}", "Must be at most {n}"),
    "unknown_type": ("表单字段类型未知：{n}", "Unknown form field type: {n}"),
    "duplicate": ("编号 {n} 已存在", "Number {n} already exists"),
    "after": ("须晚于当前期限 {n}", "Must be later than the current deadline {n}"),
    "not_after": ("不得晚于 {n}（总期限不超过六个月）", "Must not be after {n} (six months in all)"),
    "pending": ("已有待审批的延期申请", "An extension request is already waiting for a decision"),
    "no_deadline": ("当前没有可延期的答复期限", "There is no open reply deadline to extend"),
    "not_started": ("责任状签订、办理开始后方可申请延期", "An extension can be asked once the pledge is signed and handling has begun"),
    "decided": ("该申请已经审批", "This request has already been decided"),
    "control": ("含有不允许的控制字符或方向字符（{n}）", "Contains control or direction characters ({n})"),
    "too_long": ("内容过长，至多 {n} 个字", "Too long: at most {n} characters"),
    "long_range": ("数值超出范围（{n}）", "Number out of range ({n})"),
    "token": ("表单已失效，请刷新页面后重新填写", "The form has expired; reload the page and fill it in again"),
    "too_late": ("答复期限 {n} 已过，延期须在期限届满前申请", "The reply deadline {n} has passed; ask before it does"),
    "lapsed": ("答复期限 {n} 已过，延期申请不能再同意，只能不同意",
               "The reply deadline {n} has passed: the request can no longer be approved, only refused"),
    "not_signing": ("只能改派尚未签收的事项", "Only an item that waits for sign-for can be reassigned"),
    "file_type": ("不支持的文件类型：{n}（可上传 PDF、OFD、图片、Word、Excel）",
                  "File type not accepted: {n} (PDF, OFD, images, Word, Excel)"),
    "file_size": ("文件过大：{n}", "File too large: {n}"),
    "file_count": ("一次最多上传 {n} 个文件", "At most {n} files at once"),
    "lead_is_co": ("主办单位不能同时作为协办单位", "The lead unit cannot also be a co-unit"),
    "lead_is_separate": ("主办单位不能同时作为分办单位", "The lead unit cannot also be a separate unit"),
    "separate_with_co": ("分办与协办不能同时选择：分办时各单位分别答复，请清空协办单位",
                         "Separate handling and co-handling exclude each other: each separate unit replies on its own; "
                         "clear the co-units"),
    "not_future": ("不能晚于今天（{n}）", "Cannot be later than today ({n})"),
    "not_past": ("不能早于今天（{n}）", "Cannot be earlier than today ({n})"),
    "before_assignment": ("不能早于交办日期（{n}）", "Cannot be earlier than the assignment date ({n})"),
    "before_registration": ("不能早于登记日期（{n}）", "Cannot be earlier than the registration date ({n})"),
    "after_reply_due": ("不能晚于答复期限（{n}）", "Cannot be later than the reply deadline ({n})"),
    "beyond_horizon": ("不能晚于 {n}（后年年底）", "Cannot be later than {n} (the end of the year after next)"),
    "item_number": ("编号只能由字母、数字组成，中间可用 - _ / . 分隔（如 JY2026-001、提2026-12）",
                    "A number holds letters and digits, with - _ / . only between them (e.g. JY2026-001)"),
    "phone": ("电话号码格式不正确（如 13812345678 或 0571-87654321）",
              "Not a valid phone number (e.g. 13812345678 or 0571-87654321)"),
    "not_in_roster": ("{n} 不在代表委员名册中", "{n} is not on the roster of deputies and members"),
    "inactive_proposer": ("{n} 已停用，不能作为领衔人", "{n} is deactivated and cannot lead an item"),
    "not_deputy": ("{n} 不是人大代表：建议由人大代表提出", "{n} is not a deputy: suggestions come from deputies"),
    "not_member": ("{n} 不是政协委员：提案由政协委员提出", "{n} is not a member: proposals come from CPPCC members"),
    "ambiguous": ("有多位同名代表委员“{n}”，请改用用户名", "Several deputies or members are named {n}: use the username"),
    "no_approved_reply": ("尚无审核通过的答复", "There is no approved reply yet"),
    "merge_state": ("只有登记或待交办的事项可以并案", "Only items waiting for assignment can be merged"),
    "merge_target": ("请填写同一年度、尚未办结的另一事项编号", "Enter the number of another open item of the same year"),
    "merge_replied": ("{n} 已答复：只能并入尚未答复的事项", "{n} has been replied to: merge only into an item not yet replied"),
    "merged_in": ("已有事项并入本件办理（{n}），不能撤回", "Items were merged into this one ({n}): it cannot be withdrawn"),
    "merged_unrated": ("并入本件的 {n} 尚未评价：请待其评价或评价期满后再责成重新办理",
                       "{n}, merged into this item, has not been rated yet: order re-handling once it is rated or its "
                       "rating window has passed"),
    "merge_type": ("建议只能并入建议，提案只能并入提案（分别向人大、政协报告办理情况）",
                   "A suggestion merges only into a suggestion, a proposal into a proposal (each is reported on "
                   "to its own body)"),
    "no_waiting_opinion": ("该协办单位没有待提出的协办意见", "This co-unit has no opinion waiting"),
    "promise_closed": ("该承诺事项已办结", "This promise is already closed"),
    "window_closed": ("申请退回的期限已于 {n} 届满；如确需改派，请联系区府办",
                      "The window to ask for a return closed on {n}; ask the office if the item must be reassigned"),
    "year_order": ("结转年度须晚于原年度", "The new year must come after the old one"),
}


@dataclass(frozen=True)
class FieldError:
    field: str
    label: str
    code: str
    param: str = ""

    def message(self, lang: str = "zh") -> str:
        zh, en = MESSAGES[self.code]
        return (en if lang == "en" else zh).format(n=self.param)


class FormInvalid(Exception):
    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(f"{e.label}: {e.message()}" for e in errors))
        self.errors = errors


Choices = Callable[[str], Mapping[str, str]]  # field type -> {id: label}


def _present(value) -> bool:
    return value not in (None, "", []) and value != [""]


def _condition_holds(cond: str, values: Mapping[str, object]) -> bool:
    """`a=x|b=y`: true when any clause holds (booleans compare as 'true'/'false')."""
    for clause in cond.split("|"):
        name, _, expected = clause.partition("=")
        actual = values.get(name.strip())
        if isinstance(actual, bool):
            actual = "true" if actual else "false"
        if str(actual) == expected.strip():
            return True
    return False


REFERENCES = ("unit", "unit_list", "leader")  # field types whose values are codes of the directory


def _listed(raw) -> list[str]:
    """A unit_list's submitted codes: a list, or one text of codes separated by commas."""
    values = raw if isinstance(raw, list) else str(raw or "").split(",")
    return [text for v in values if v is not None and (text := str(v).strip())]


def references(form: dict, raw: Mapping[str, object]) -> dict[str, set[str]]:
    """The codes a submission names in its reference fields, by field type ("unit" for both kinds of unit
    field): all that validating it needs to know of the directory, which a province counts in thousands."""
    out: dict[str, set[str]] = {}
    for field in form.get("fields", []):
        kind = field["type"]
        if kind not in REFERENCES or "readonly" in (field.get("validation") or {}):
            continue
        value = raw.get(field["id"])
        codes = _listed(value) if kind == "unit_list" else [str(value).strip()] if _present(value) else []
        out.setdefault("unit" if kind == "unit_list" else kind, set()).update(codes)
    return out


def _convert(field: dict, raw, choices: Choices):
    kind = field["type"]
    if kind == "boolean":
        return str(raw).lower() in ("true", "on", "1", "yes", "y", "是")
    if kind == "unit_list":
        values = _listed(raw)
        valid = choices(kind)
        if any(v not in valid for v in values):
            raise ValueError("reference")
        return list(dict.fromkeys(values))
    if not _present(raw):
        return None
    raw = str(raw).strip()
    if kind in ("string", "text"):
        if len(raw) > TEXT_LIMITS[kind]:
            raise ValueError("too_long")
        bad = unsafe_characters(raw, multiline=kind == "text")
        if bad:  # refused at input: they would break every export and can hide what a text says
            raise ValueError("control:" + " ".join(bad))
        return raw
    if kind == "long":
        try:
            value = int(raw) if len(raw) <= 20 else None
        except ValueError:
            value = None
        if value is None:
            raise ValueError("long")
        if not LONG_MIN <= value <= LONG_MAX:
            raise ValueError("long_range")
        return value
    if kind == "date":
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError("date") from None
    if kind == "enum":
        if raw not in {o["id"] for o in field["options"]}:
            raise ValueError("enum")
        return raw
    if kind in ("unit", "leader"):
        if raw not in choices(kind):
            raise ValueError("reference")
        return raw
    raise ValueError("unknown_type")


def _constraints(field: dict, value) -> FieldError | None:
    rules = field.get("validation") or {}
    for name in ("minlength", "maxlength", "min", "max"):
        if name not in rules or value is None or rules[name] is None:
            continue
        limit = float(rules[name])
        size = len(value) if name.endswith("length") else value
        if (name in ("minlength", "min") and size < limit) or (name in ("maxlength", "max") and size > limit):
            return FieldError(field["id"], field["label"], name, rules[name])
    return None


def windows(form: dict) -> list[tuple[str, str, str]]:
    """(field, option, deadline key) of options open only while a deadline runs: the field property
    `open_while` = `option:deadline_key` (申请退回 only within the return window)."""
    out = []
    for field in form.get("fields", []):
        spec = (field.get("properties") or {}).get("open_while")
        if spec and ":" in spec:
            option, key = spec.split(":", 1)
            out.append((field["id"], option.strip(), key.strip()))
    return out


def validate(form: dict, raw: Mapping[str, object], choices: Choices) -> dict:
    """Return the typed data for `form`, or raise FormInvalid with one error per bad field."""
    data, errors = checked(form, raw, choices)
    if errors:
        raise FormInvalid(errors)
    return data


def checked(form: dict, raw: Mapping[str, object], choices: Choices) -> tuple[dict, list[FieldError]]:
    """The typed data for `form` and one error per bad field; a field that could not be read is left out.

    Read-only fields keep their default; a field is required by the `required` constraint, or by a
    `required_when` property (`other_field=value|...`) evaluated on the submitted values. The caller goes
    on to the domain's rules with the rest, so that a form is told all that is wrong with it at once.
    """
    data, errors = {}, []
    for field in form.get("fields", []):
        fid = field["id"]
        if "readonly" in (field.get("validation") or {}):
            continue
        try:
            data[fid] = _convert(field, raw.get(fid), choices)
        except ValueError as exc:
            code, _, detail = str(exc).partition(":")
            param = {"too_long": TEXT_LIMITS.get(field["type"], ""), "long_range": f"{LONG_MIN}..{LONG_MAX}",
                     "control": detail}
            errors.append(FieldError(fid, field["label"], code, param.get(code, field["type"])))
            continue
        problem = _constraints(field, data[fid])
        if problem:
            errors.append(problem)
    for field in form.get("fields", []):
        fid = field["id"]
        if fid not in data or any(e.field == fid for e in errors):
            continue
        rules = field.get("validation") or {}
        cond = (field.get("properties") or {}).get("required_when")
        required = "required" in rules or (cond is not None and _condition_holds(cond, data))
        if required and not _present(data[fid]) and field["type"] != "boolean":
            errors.append(FieldError(fid, field["label"], "required"))
    return data, errors


def json_schema(form: dict, choices: Choices) -> dict:
    """The BPMN form as a JSON Schema (2020-12, the dialect of OpenAPI 3.1): what `validate` accepts.

    Reference fields list the current choices as an enum; `required_when` is kept as `x-required-when`
    (JSON Schema's if/then could say it, but clients read the plain property more easily).
    """
    props, required = {}, []
    for field in form.get("fields", []):
        kind, rules = field["type"], field.get("validation") or {}
        if kind in ("long",):
            prop = {"type": "integer"}
            for name, key in (("min", "minimum"), ("max", "maximum")):
                if rules.get(name) is not None and _is_int(rules[name]):
                    prop[key] = int(rules[name])
        elif kind == "boolean":
            prop = {"type": "boolean"}
        elif kind == "date":
            prop = {"type": "string", "format": "date"}
        elif kind == "enum":
            prop = {"type": "string", "enum": [o["id"] for o in field.get("options", [])],
                    "x-enum-labels": {o["id"]: o.get("name") or o["id"] for o in field.get("options", [])}}
        elif kind == "unit_list":
            prop = {"type": "array", "items": {"type": "string", "enum": sorted(choices(kind))}, "uniqueItems": True}
        elif kind in ("unit", "leader"):
            prop = {"type": "string", "enum": sorted(choices(kind))}
        else:
            prop = {"type": "string"}
            for name, key in (("minlength", "minLength"), ("maxlength", "maxLength")):
                if rules.get(name) is not None and _is_int(rules[name]):
                    prop[key] = int(rules[name])
        prop["title"] = field["label"]
        default = field.get("default")
        if default not in (None, "") and kind != "unit_list":
            if kind == "boolean":
                prop["default"] = str(default).lower() == "true"
            elif kind != "long" or _is_int(default):
                prop["default"] = int(default) if kind == "long" else default
        if "readonly" in rules:
            prop["readOnly"] = True
        when = (field.get("properties") or {}).get("required_when")
        if when:
            prop["x-required-when"] = when
        if "required" in rules and "readonly" not in rules:
            required.append(field["id"])
        props[field["id"]] = prop
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "title": form.get("key") or "", "properties": props, "required": required}


def _is_int(value) -> bool:
    try:
        int(value)
        return True
    except (TypeError, ValueError):
        return False
