"""The process files against the standard tools: bpmnlint's recommended rules, and a round trip through
bpmn-moddle with camunda-bpmn-moddle (what Camunda Modeler does) that `banli check` still accepts.
Roles come from lane membership, never from where a shape is drawn."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.workflow.parser import parse_bpmn
from engine.workflow.validation import check_bpmn

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = sorted((ROOT / "processes").glob("*.bpmn"))
BPMNLINT = ROOT / "node_modules" / ".bin" / "bpmnlint"
NODE = shutil.which("node")


def _need_node_packages():
    if NODE and BPMNLINT.exists():
        return
    if os.environ.get("CI"):
        pytest.fail("node and node_modules are needed; `make install` installs them")
    pytest.skip("SKIPPED: node or node_modules missing (run `make install`)")


def roles(xml: bytes) -> dict[str, str]:
    proc = parse_bpmn(xml)
    out = {}
    for spec in (proc.spec, *proc.subprocess_specs.values()):
        for ts in spec.task_specs.values():
            if getattr(ts, "manual", False):
                out[ts.bpmn_id] = ts.lane
    return out


def test_processes_pass_bpmnlint_recommended_rules():
    _need_node_packages()
    run = subprocess.run([str(BPMNLINT), *map(str, PROCESSES)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "problem" not in run.stdout


@pytest.mark.parametrize("path", PROCESSES, ids=lambda p: p.name)
def test_round_trip_through_bpmn_moddle_keeps_the_process(path, tmp_path):
    _need_node_packages()
    out = tmp_path / path.name
    run = subprocess.run([NODE, str(ROOT / "tests" / "js" / "roundtrip.mjs"), str(path), str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr  # no unresolved references, nothing dropped on import
    assert check_bpmn(out.read_bytes(), path.name) == []
    assert roles(out.read_bytes()) == roles(path.read_bytes())
    parsed = parse_bpmn(out.read_bytes())
    children = [ts for spec in [parsed.spec, *parsed.subprocess_specs.values()] for ts in spec.task_specs.values()
                if getattr(ts, "data_input", None) is not None]  # the co-units' and 分办 units' parts, one per unit
    assert {(ts.data_input.bpmn_id, ts.input_item.bpmn_id) for ts in children} == {
        ("co_units", "co_unit"), ("separate_units", "sep_unit")}


def test_lanes_are_named_in_chinese_and_carry_their_role():
    xml = (ROOT / "processes" / "item_handling.bpmn").read_text(encoding="utf-8")
    names = re.findall(r'<bpmn:lane id="[^"]+" name="([^"]+)"', xml)
    assert names and all(re.search(r"[\u4e00-\u9fff]", n) for n in names), names
    assert roles(xml.encode())["assign_item"] == "office" and roles(xml.encode())["cohandle"] == "co_unit"


def _move_shape(xml: str, element: str, x: int, y: int) -> str:
    return re.sub(rf'(bpmnElement="{element}"[^>]*>\s*<dc:Bounds) x="[^"]+" y="[^"]+"', rf'\1 x="{x}" y="{y}"', xml)


def test_moving_a_shape_does_not_change_who_acts():
    xml = (ROOT / "processes" / "item_handling.bpmn").read_text(encoding="utf-8")
    before = roles(xml.encode())
    moved = _move_shape(xml, "consult", 1700, 1050)  # drawn in the proposers' lane now
    assert moved != xml
    assert roles(moved.encode()) == before
    assert before["consult"] == "lead_unit" and before["leader_instruct"] == "leader"


def test_a_role_property_on_a_task_decides_and_a_lane_without_a_role_is_refused():
    xml = (ROOT / "processes" / "item_handling.bpmn").read_text(encoding="utf-8")
    with_role = re.sub(r'(<bpmn:userTask id="sign_for" [^>]*>\s*<bpmn:extensionElements>)',
                       r'\1<camunda:properties><camunda:property name="role" value="unit_head" /></camunda:properties>',
                       xml, count=1)
    assert with_role != xml
    assert roles(xml.encode())["sign_for"] == "lead_unit"  # its lane's role
    assert roles(with_role.encode())["sign_for"] == "unit_head"  # its own role property wins
    no_role = re.sub(r'(<bpmn:lane id="Lane_office" [^>]*>.*?)<bpmn:extensionElements>.*?</bpmn:extensionElements>',
                     r"\1", xml, count=1, flags=re.S)
    assert no_role != xml
    problems = check_bpmn(no_role.encode())
    assert any(p.element_id == "assign_item" and "区府办" in p.message for p in problems), problems


def test_versions_deployed_before_role_properties_keep_their_roles():
    """A file of before (lanes named by role, no role properties) still resolves every task as it did, so
    items running on an old deployed version keep who may act."""
    xml = (ROOT / "processes" / "item_handling.bpmn").read_text(encoding="utf-8")
    legacy = re.sub(r'<bpmn:extensionElements><camunda:properties><camunda:property name="role" value="[a-z_]+" />'
                    r'</camunda:properties></bpmn:extensionElements>', "", xml)
    legacy = re.sub(r'<camunda:properties><camunda:property name="role" value="[a-z_]+" /></camunda:properties>',
                    "", legacy)
    legacy = re.sub(r'<bpmn:lane id="Lane_([a-z_]+)" name="[^"]+">', r'<bpmn:lane id="Lane_\1" name="\1">', legacy)
    assert 'name="role"' not in legacy
    # decide_co_return (the office's step inside a co-unit's part) and the steps of other roles inside a 分办
    # unit's part exist only since role properties did.
    newer = {"decide_co_return", "decide_sep_return", "sep_pledge", "sep_signoff", "sep_review", "sep_rate",
             "sep_order_rehandling", "sep_resignoff", "sep_rereview"}
    assert {k: v for k, v in roles(legacy.encode()).items() if k not in newer} == \
        {k: v for k, v in roles(xml.encode()).items() if k not in newer}
