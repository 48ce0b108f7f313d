"""Server-side validation of BPMN forms: required, types, enum values, conditional requirements."""
from __future__ import annotations

import pytest

from engine.workflow.deployment import latest, parsed
from engine.workflow.forms import FormInvalid, validate

UNITS = {"jtj": "交通局", "jyj": "教育局"}


def choices(kind):
    return {"unit": UNITS, "unit_list": UNITS, "leader": {"leader_wang": "王副区长"}}.get(kind, {})


@pytest.fixture
def forms(db):
    with db.reading() as s:
        proc = parsed(latest(s, "item_handling"))
    return {ts.bpmn_id: ts.extensions["form"] for spec in (proc.spec, *proc.subprocess_specs.values())
            for ts in spec.task_specs.values() if "form" in getattr(ts, "extensions", {})}


def errors(form, raw):
    with pytest.raises(FormInvalid) as exc:
        validate(form, raw, choices)
    return {e.field: e.message("en") for e in exc.value.errors}


def test_every_user_task_of_the_process_has_a_form(forms):
    assert {"assign_item", "sign_for", "decide_return", "pledge", "cohandle", "leader_instruct", "consult",
            "draft_reply", "signoff_reply", "review_reply", "rate", "order_rehandling", "publish"} <= set(forms)


def test_valid_assignment_is_typed(forms):
    data = validate(forms["assign_item"], {"assign_decision": "assign", "lead_unit": "jtj", "co_units": ["jyj"],
                                           "is_key": "true", "leader": "leader_wang"}, choices)
    assert data["co_units"] == ["jyj"] and data["is_key"] is True and data["is_complex"] is False


def test_required_fields_and_enum_and_references(forms):
    assert errors(forms["rate"], {}) == {"attitude": "This field is required", "result": "This field is required"}
    assert errors(forms["rate"], {"attitude": "great", "result": "satisfied"}) == \
        {"attitude": "Choose one of the listed options"}
    assert errors(forms["assign_item"], {"assign_decision": "assign", "lead_unit": "nope"}) == \
        {"lead_unit": "The selected entry does not exist"}
    assert errors(forms["assign_item"], {"assign_decision": "assign", "lead_unit": "jtj", "co_units": ["x"]}) == \
        {"co_units": "The selected entry does not exist"}


def test_conditional_requirements(forms):
    # 不满意 needs a reason; a key item needs its leader; a return needs its reason.
    assert "rating_reason" in errors(forms["rate"], {"attitude": "unsatisfied", "result": "satisfied"})
    assert "rating_reason" in errors(forms["rate"], {"attitude": "satisfied", "result": "unsatisfied"})
    assert validate(forms["rate"], {"attitude": "satisfied", "result": "basically_satisfied"}, choices)
    assert errors(forms["assign_item"], {"assign_decision": "assign", "lead_unit": "jtj", "is_key": "true"}) == \
        {"leader": "This field is required"}
    assert "return_reason" in errors(forms["sign_for"], {"sign_decision": "return"})
    assert validate(forms["sign_for"], {"sign_decision": "sign"}, choices)["sign_decision"] == "sign"


def test_dates_are_checked(forms):
    raw = {"consult_date": "2026-02-30", "consult_form": "phone", "participants": "x", "proposer_views": "y"}
    assert errors(forms["consult"], raw) == {"consult_date": "Enter a valid date (YYYY-MM-DD)"}
    assert validate(forms["consult"], {**raw, "consult_date": "2026-02-28"}, choices)["consult_date"] == "2026-02-28"


def test_messages_are_chinese_by_default(forms):
    with pytest.raises(FormInvalid) as exc:
        validate(forms["rate"], {}, choices)
    assert exc.value.errors[0].message() == "此项为必填项"
