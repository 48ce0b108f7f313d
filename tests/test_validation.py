"""Validation before deploy (engine.workflow.validation and `banli check`): good files pass, each kind of broken or
hostile file is refused with a message naming the element and its line."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.config import PROCESSES_DIR
from engine.i18n import render, translator
from engine.workflow.validation import check_bpmn

PROCESS_FILES = sorted(PROCESSES_DIR.glob("*.bpmn"))
HANDLING = (PROCESSES_DIR / "item_handling.bpmn").read_text(encoding="utf-8")


def en(problem) -> str:
    """The problem as the English UI shows it (messages are catalog strings; the tests read the English)."""
    return render(problem.message, translator("en"))


def line_of(text: str, fragment: str) -> int:
    return text[:text.index(fragment)].count("\n") + 1


def broken(old: str, new: str) -> tuple[str, bytes]:
    assert old in HANDLING, f"the process file no longer contains {old!r}"
    text = HANDLING.replace(old, new, 1)
    return text, text.encode("utf-8")


def only(problems, element_id):
    found = [p for p in problems if p.element_id == element_id]
    assert found, f"no problem names {element_id}: {[str(p) for p in problems]}"
    return found[0]


@pytest.mark.parametrize("path", PROCESS_FILES, ids=[p.name for p in PROCESS_FILES])
def test_the_projects_own_processes_pass(path):
    assert check_bpmn(path.read_bytes(), path.name) == []


def test_user_task_in_a_lane_that_names_no_role():
    text, xml = broken('<camunda:property name="role" value="proposer" />',
                       '<camunda:property name="role" value="citizens" />')
    p = only(check_bpmn(xml), "rate")
    assert "citizens" in en(p) and "proposer" in en(p)  # says what was found and what is known
    assert p.line == line_of(text, '<bpmn:userTask id="rate"')


def test_user_task_outside_every_lane():
    _, xml = broken("<bpmn:flowNodeRef>assign_item</bpmn:flowNodeRef>", "")
    assert "不属于任何泳道" in only(check_bpmn(xml), "assign_item").message


@pytest.mark.parametrize("old,new,element,fragment", [
    ('<camunda:formField id="assign_note" label="交办说明 / 撤回原因" type="text">',
     '<camunda:formField id="assign_note" label="交办说明 / 撤回原因" type="richtext">', "assign_item", "richtext"),
    ('<camunda:value id="withdraw" name="撤回（交办前）" />', '<camunda:value id="assign" name="again" />',
     "assign_item", "option assign of field assign_decision is listed twice"),
    ('<camunda:formField id="is_complex"', '<camunda:formField id="is_key"', "assign_item",
     "field id is_key is used twice"),
    ('<camunda:formField id="assign_note"', '<camunda:formField id="sign_for"', "assign_item",
     "equals the id of a flow node"),
    ('<camunda:formField id="assign_note"', '<camunda:formField id="due_at"', "assign_item", "expression function"),
    ('<camunda:formField id="assign_note"', '<camunda:formField id="assign-note"', "assign_item", "variable name"),
    ('<camunda:value id="assign" name="交办" /><camunda:value id="withdraw" name="撤回（交办前）" />', '',
     "assign_item", "enum field assign_decision has no options"),
    ('value="assign_decision=withdraw"', 'value="decision=withdraw"', "assign_item", "required_when"),
])
def test_form_fields_must_have_known_types_and_valid_options(old, new, element, fragment):
    text, xml = broken(old, new)
    problem = only(check_bpmn(xml), element)
    assert fragment in en(problem)
    assert problem.line == line_of(text, f'id="{element}"')


def test_numeric_constraint_must_be_a_number():
    _, xml = broken('<camunda:formField id="plan" label="办理方案" type="text"><camunda:validation>',
                    '<camunda:formField id="plan" label="办理方案" type="text"><camunda:validation>'
                    '<camunda:constraint name="maxlength" config="lots" />')
    assert "maxlength" in en(only(check_bpmn(xml), "pledge"))


def test_bare_iso_literal_in_a_timer_is_refused_with_the_fix():
    timer = "remind_at(co_due, rules['reminder_leads'][0])"
    text, xml = broken(timer, "P3D")
    p = only(check_bpmn(xml), "co_remind")
    assert "'P3D'" in en(p) and p.line == line_of(text, "P3D")


def test_condition_that_does_not_compile_names_its_flow_and_line():
    text, xml = broken("assign_decision == 'withdraw'", "assign_decision = = 'withdraw'")
    p = only(check_bpmn(xml), "Flow_gw_assign_end_withdrawn")
    assert "condition" in en(p) and p.line == line_of(text, "assign_decision = = ")


def test_empty_timer_expression_is_refused():
    _, xml = broken("remind_at(co_due, rules['reminder_leads'][0])", "")
    assert "empty" in en(only(check_bpmn(xml), "co_remind"))


@pytest.mark.parametrize("code,refused", [
    ("import os", "import"),
    ("x = ().__class__.__bases__[0].__subclasses__()", "__class__"),
    ("f = open('/etc/passwd').read()", "open()"),
    ("os = __import__('os')", "__import__"),
    ("g = getattr(round, '__globals__')", None),  # compiles; refused at run time by the guarded getattr
])
def test_sandbox_escapes_in_a_script_are_refused_before_deploy(code, refused):
    start = "<bpmn:script>assigned_on = today()"
    text, xml = broken(start, f"<bpmn:script>x = 1\n{code}\nassigned_on = today()")
    owner = [p for p in check_bpmn(xml) if "script" in en(p)]
    if refused is None:
        assert owner == []
        return
    assert owner, "the escape was not refused"
    assert any(refused in en(p) for p in owner)
    assert {p.element_id for p in owner} == {"mark_assigned"}
    assert {p.line for p in owner} == {line_of(text, code)}  # the script's second line, counted in the file


def test_dangling_flow_reference():
    text, xml = broken('targetRef="join"', 'targetRef="nowhere"')
    problems = check_bpmn(xml)
    assert len(problems) == 1 and "nowhere" in en(problems[0])
    assert problems[0].line == line_of(text, 'targetRef="nowhere"')


def test_bpmn_structure_error_from_spiffworkflow_carries_element_and_line():
    text, xml = broken(' camunda:elementVariable="co_unit"', "")
    (problem,) = check_bpmn(xml)
    assert problem.element_id == "co_part" and "camunda:elementVariable" in en(problem)
    assert problem.line == line_of(text, '<bpmn:subProcess id="co_part"')


def test_malformed_xml_gives_its_line():
    problems = check_bpmn(b'<?xml version="1.0"?>\n<definitions>\n  <process>\n</definitions>\n')
    assert len(problems) == 1 and problems[0].line == 4 and "XML" in en(problems[0]) and problems[0].unreadable


def test_billion_laughs_and_xxe_are_refused():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><definitions>&lol2;</definitions>')
    xxe = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><definitions>&x;</definitions>'
    for xml in (laughs, xxe):
        (problem,) = check_bpmn(xml)
        assert "DOCTYPE" in en(problem) and problem.unreadable


def test_not_utf8_and_not_a_single_process():
    gbk = HANDLING.replace('encoding="UTF-8"', 'encoding="GB18030"', 1).encode("gb18030")
    assert "UTF-8" in en(check_bpmn(gbk)[0])  # well-formed, but stored and served as UTF-8
    empty = b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"/>'
    assert "exactly one executable process" in en(check_bpmn(empty)[0])


def test_banli_check_exits_non_zero_on_a_broken_file(tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_text(HANDLING.replace('name="role" value="proposer"', 'name="role" value="citizens"', 1), encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(main, ["check", *map(str, PROCESS_FILES)])
    assert ok.exit_code == 0 and "ok" in ok.output
    result = runner.invoke(main, ["check", str(PROCESS_FILES[0]), str(bad)])
    assert result.exit_code == 1
    line = line_of(HANDLING, '<bpmn:userTask id="rate"')
    assert f"{bad}:{line}: [rate]" in result.output


def test_banli_check_reports_a_hostile_file_without_a_traceback(tmp_path):
    path = tmp_path / "evil.bpmn"
    path.write_bytes(b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>')
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1 and "DOCTYPE" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("process_id", ["../../etc/passwd", "item\u202ehandling", "流程", "1item", "a b", "x" * 65, ""])
def test_process_ids_must_be_plain_identifiers(process_id):
    _, xml = broken('<bpmn:process id="item_handling"', f'<bpmn:process id="{process_id}"')
    problems = check_bpmn(xml)
    assert problems and any("process id" in en(p) for p in problems)


@pytest.mark.parametrize("old, new", [
    ('<bpmn:userTask id="sign_for" name="签收"', '<bpmn:userTask id="sign_for" name="签\u202e收"'),
    ('label="退回理由"', 'label="退回&#x9;理由"'),
    ('label="退回理由"', 'label="退回&#x85;理由"'),
    ('<bpmn:userTask id="sign_for"', '<bpmn:userTask id="sign\u2066_for"'),
])
def test_labels_and_ids_with_control_or_direction_characters_are_refused(old, new):
    _, xml = broken(old, new)
    problems = check_bpmn(xml)
    assert problems and any("U+" in en(p) for p in problems)


def test_uploaded_file_names_are_held_to_a_safe_set():
    from engine.text import safe_filename

    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\办理流程.bpmn") == "办理流程.bpmn"
    assert safe_filename("evil\u202egnp.bpmn") == "evilgnp.bpmn"
    assert safe_filename('a"b;\r\nc.bpmn') == "a_b_c.bpmn"
    assert safe_filename("") == "process.bpmn" and safe_filename("...") == "process.bpmn"
