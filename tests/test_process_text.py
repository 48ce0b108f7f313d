"""Process content in the reader's language: the names, labels and enum names of processes/*.bpmn are catalog
messages of their own context (engine.workflow.process_text), shown through the catalog on task pages, the
inbox, the timeline, the step overview and the diagrams; a name the catalog lacks shows as written."""
from __future__ import annotations

import io

from sqlalchemy import select

from engine.config import PROCESSES_DIR
from engine.i18n import Msg, step_name, translator
from engine.models import TaskRow, User
from engine.workflow.process_text import extract_bpmn, texts, translated_xml
from tests.conftest import login

BPMN = (PROCESSES_DIR / "item_handling.bpmn").read_bytes()


def test_the_extractor_reads_steps_lanes_flows_labels_and_enum_names_with_their_lines():
    found = {(text, what.split(" ")[0]) for _line, text, what in texts(BPMN)}
    assert {("签订责任状", "userTask"), ("区府办", "lane"), ("审核通过", "value"), ("计划办结日期", "formField"),
            ("同意退回？", "exclusiveGateway"), ("驳回", "sequenceFlow")} <= found
    assert not any(what == "property" for _t, what in found)  # role="office" and the like are ids, not text
    extracted = list(extract_bpmn(io.BytesIO(BPMN), {}, [], {}))
    line, funcname, (context, text), comments = next(e for e in extracted if e[2][1] == "签订责任状")
    assert (funcname, context, comments) == ("pgettext", "bpmn", ["BPMN userTask pledge"])
    assert BPMN.decode().splitlines()[line - 1].lstrip().startswith('<bpmn:userTask id="pledge"')


def test_a_step_name_renders_in_its_context_and_a_name_outside_the_catalog_as_written():
    en = translator("en")
    assert step_name("签收").render(en) == "Sign for"  # the step, not the word as other pages use it
    assert en("签收") != "Sign for"
    assert step_name("新加的环节").render(en) == "新加的环节"
    stored = Msg("新任务：%(step)s", step=step_name("签订责任状")).to_json()
    assert Msg.from_json(stored).render(en) == "New task: Sign the responsibility pledge"
    assert Msg.from_json(stored).render() == "新任务：签订责任状"
    xml = translated_xml(BPMN.decode().replace('name="审核答复"', 'name="审核答复（新）"'), en)
    assert 'name="Sign the responsibility pledge"' in xml and 'name="审核答复（新）"' in xml
    assert 'label="Planned completion date"' in xml and 'id="pledge"' in xml


def test_task_page_inbox_and_diagram_speak_the_readers_language(app, client, demo_db):
    with demo_db.reading() as s:
        sign = s.scalars(select(TaskRow).where(TaskRow.spec_name == "sign_for")).first()
        handler = s.scalars(select(User.username).where(User.unit_id == sign.unit_id, User.role == "unit_handler")).first()
    login(client, "office")
    client.get("/lang/en")
    steps = client.get("/admin/steps").get_data(as_text=True)
    assert "Sign for" in steps and ">签收<" not in steps
    diagram = client.get("/admin/steps/item_handling.json").get_json()["xml"]
    assert 'name="Sign for"' in diagram and 'name="签收"' not in diagram
    item = client.get(f"/items/{sign.item_id}").get_data(as_text=True)
    assert "Sign for ·" in item
    client.get("/lang/zh")
    assert 'name="签收"' in client.get("/admin/steps/item_handling.json").get_json()["xml"]
    client = app.test_client()
    login(client, handler)
    client.get("/lang/en")
    inbox = client.get("/tasks/").get_data(as_text=True)
    assert "Sign for" in inbox
    page = client.get(f"/tasks/{sign.id}").get_data(as_text=True)
    assert "<h1>Sign for" in page and "Sign for or ask to return" in page and ">Ask to return</option>" in page
    assert "签收或申请退回" not in page


def test_the_confirmation_of_a_completed_step_names_it_in_english(app, demo_db):
    from tests.conftest import csrf_token

    with demo_db.reading() as s:
        sign = s.scalars(select(TaskRow).where(TaskRow.spec_name == "sign_for")).first()
        handler = s.scalars(select(User.username).where(User.unit_id == sign.unit_id, User.role == "unit_handler")).first()
    client = app.test_client()
    login(client, handler)
    client.get("/lang/en")
    r = client.post(f"/tasks/{sign.id}", data={"csrf_token": csrf_token(client, f"/tasks/{sign.id}"),
                                              "sign_decision": "sign"})
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Done: Sign for" in page and "签收" not in page
