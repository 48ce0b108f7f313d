"""BPMN parsing: SpiffBpmnParser plus a reader for Camunda forms (`camunda:formData`).

The form becomes plain data in `task_spec.extensions['form']`, which the default spec serializer keeps,
so forms travel with the spec without a converter of their own.
"""
from __future__ import annotations

from dataclasses import dataclass

from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import SpiffTaskParser, SubWorkflowParser
from SpiffWorkflow.spiff.specs.defaults import SubWorkflowTask, UserTask

from lxml import etree

from engine.i18n import N_
from engine.workflow.safexml import parse_untrusted_xml

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"camunda": CAMUNDA_NS}


def _attr(node, name):
    return node.get(name) or ""


def read_form(task_node) -> dict | None:
    """Read `camunda:formData` of a user task into {'key', 'fields': [...]} or None."""
    fields = []
    for f in task_node.xpath("./bpmn:extensionElements/camunda:formData/camunda:formField",
                             namespaces={**NS, "bpmn": task_node.nsmap.get("bpmn", "http://www.omg.org/spec/BPMN/20100524/MODEL")}):
        fields.append({
            "id": _attr(f, "id"),
            "label": _attr(f, "label") or _attr(f, "id"),
            "type": _attr(f, "type") or "string",
            "default": f.get("defaultValue"),
            "options": [{"id": _attr(v, "id"), "name": _attr(v, "name") or _attr(v, "id")}
                        for v in f.xpath("./camunda:value", namespaces=NS)],
            "validation": {c.get("name"): c.get("config")
                           for c in f.xpath("./camunda:validation/camunda:constraint", namespaces=NS)},
            "properties": {p.get("id"): p.get("value")
                           for p in f.xpath("./camunda:properties/camunda:property", namespaces=NS)},
        })
    key = task_node.get(f"{{{CAMUNDA_NS}}}formKey")
    if not fields and not key:
        return None
    for field in fields:
        field["required_when"] = _condition_words(field["properties"].get("required_when"), fields)
    return {"key": key, "fields": fields}


def _condition_words(cond: str | None, fields: list[dict]) -> list[dict]:
    """`required_when` (`a=x|b=y`) as a person reads it: each clause's field label and value name, so that the
    form marks such a field required and says when, before anyone is refused (forms._condition_holds decides)."""
    by_id = {f["id"]: f for f in fields}
    words = []
    for clause in (cond or "").split("|"):
        name, _, value = (part.strip() for part in clause.partition("="))
        other = by_id.get(name)
        if other is None:
            continue
        names = {o["id"]: o["name"] for o in other["options"]} | {"true": N_("是"), "false": N_("否")}
        words.append({"field": other["label"], "value": names.get(value, value)})
    return words


class CamundaMultiInstance:
    """A task parser that also reads multi-instance in Camunda's form; mixed into the user-task and the
    sub-process parsers (a co-unit's part, a 分办 unit's part, is a multi-instance sub-process)."""

    def _add_multiinstance_task(self, loop_characteristics):
        """Multi-instance in Camunda's form (`camunda:collection`, `camunda:elementVariable`), which Camunda
        Modeler and bpmn-moddle keep; the standard `loopDataInputRef` form is still read as before."""
        collection = loop_characteristics.get(f"{{{CAMUNDA_NS}}}collection")
        if collection is None:
            return super()._add_multiinstance_task(loop_characteristics)
        element = loop_characteristics.get(f"{{{CAMUNDA_NS}}}elementVariable")
        if not collection.strip() or not (element or "").strip():
            self.raise_validation_exception("多实例须同时给出 camunda:collection 和 camunda:elementVariable "
                                            "(a multi-instance needs both camunda:collection and "
                                            "camunda:elementVariable)")
        condition = self.xpath("./bpmn:multiInstanceLoopCharacteristics/bpmn:completionCondition")
        original = self.spec.task_specs.pop(self.task.name)
        params = {"task_spec": "", "cardinality": None, "data_input": TaskDataReference(collection.strip()),
                  "data_output": None, "input_item": TaskDataReference(element.strip()), "output_item": None,
                  "condition": condition[0].text if condition else None}
        sequential = loop_characteristics.get("isSequential") == "true"
        cls = self.SEQUENTIAL_MI_CLASS if sequential else self.PARALLEL_MI_CLASS
        self.task = cls(self.spec, original.name, **params,
                        description="Sequential MultiInstance" if sequential else "Parallel MultiInstance")
        self._copy_task_attrs(original, loop_characteristics)


class FormUserTaskParser(CamundaMultiInstance, SpiffTaskParser):
    def parse_extensions(self, node=None):
        node = self.node if node is None else node
        extensions = super().parse_extensions(node)
        form = read_form(node)
        if form is not None:
            extensions["form"] = form
        return extensions


class MultiInstanceSubprocessParser(CamundaMultiInstance, SubWorkflowParser):
    """Sub-processes, with Camunda's multi-instance too."""


class ProcessParser(SpiffBpmnParser):
    """The parser every deployment uses; one fresh instance per deployment (ids must be unique)."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (FormUserTaskParser, UserTask),
        full_tag("subProcess"): (MultiInstanceSubprocessParser, SubWorkflowTask),
    }


BPMN_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
           "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI", "dc": "http://www.omg.org/spec/DD/20100524/DC",
           **NS}


def _bounds(tree) -> dict[str, tuple[float, float, float, float]]:
    """Shapes of the main diagram only: a collapsed sub-process draws its content on a plane of its own, whose
    coordinates say nothing about lanes (its nodes take the sub-process's role)."""
    plane = tree.find(".//bpmndi:BPMNPlane", BPMN_NS)
    if plane is None:
        return {}
    return {s.get("bpmnElement"): tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))
            for s in plane.iterfind("bpmndi:BPMNShape", BPMN_NS)
            for b in s.iterfind("dc:Bounds", BPMN_NS)}


def _drawn_lanes(tree) -> dict[str, str]:
    """Versions deployed before lanes carried a role property placed nested nodes by where they were drawn
    (the lane whose shape holds the node's centre). Kept for those files only, so items running on them
    keep their roles; files with role properties never use it."""
    bounds = _bounds(tree)
    lanes = [(lane.get("name"), bounds[lane.get("id")]) for lane in tree.iterfind(".//bpmn:lane", BPMN_NS)
             if lane.get("id") in bounds and lane.get("name")]
    result = {}
    for node in tree.iterfind(".//bpmn:subProcess//*[@id]", BPMN_NS):
        box = bounds.get(node.get("id"))
        if box is None:
            continue
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        for name, (x, y, w, h) in lanes:
            if x <= cx <= x + w and y <= cy <= y + h:
                result[node.get("id")] = name
                break
    return result


def lane_roles(tree) -> dict[str, str]:
    """The role (泳道) of every flow node, from lane membership, never from where a shape is drawn.

    A lane names its role by a `camunda:property name="role"`, so the lane itself may carry a Chinese name
    (区府办, 主办单位, ...); a lane without that property names its role by its name (files of before).
    A node's role is, first found: a `role` property on the node itself; the lane whose `flowNodeRef` lists
    it; the role of the innermost sub-process around it (modelers list only a process's direct children in
    lanes, and a task drawn inside a sub-process belongs to the sub-process's lane unless it says otherwise).
    A boundary event (a deadline's timer) has the role of the activity it is attached to.
    """
    props = element_properties(tree)
    lane_of = {}
    for lane in tree.iterfind(".//bpmn:lane", BPMN_NS):
        role = props.get(lane.get("id"), {}).get("role") or lane.get("name")
        for ref in lane.iterfind("bpmn:flowNodeRef", BPMN_NS):
            if role and (ref.text or "").strip():
                lane_of[ref.text.strip()] = role
    sub_process = f"{{{BPMN_NS['bpmn']}}}subProcess"
    legacy = not any("role" in props.get(lane.get("id"), {}) for lane in tree.iterfind(".//bpmn:lane", BPMN_NS))
    drawn = _drawn_lanes(tree) if legacy else {}
    roles: dict[str, str] = {}
    for process in tree.iterfind(".//bpmn:process", BPMN_NS):
        for node in process.iter(etree.Element):  # document order: a sub-process before what it holds
            node_id = node.get("id")
            if node_id is None or node.tag.endswith(("}lane", "}laneSet", "}sequenceFlow")):
                continue
            role = props.get(node_id, {}).get("role") or lane_of.get(node_id) or drawn.get(node_id)
            if role is None:
                outer = next((a for a in node.iterancestors(sub_process)), None)
                role = roles.get(outer.get("id")) if outer is not None else None
            if role:
                roles[node_id] = role
    for boundary in tree.iterfind(".//bpmn:boundaryEvent", BPMN_NS):  # a boundary event belongs to its activity
        own = props.get(boundary.get("id"), {}).get("role")
        role = own or roles.get(boundary.get("attachedToRef") or "")
        if role:
            roles[boundary.get("id")] = role
    return roles


def element_properties(tree) -> dict[str, dict[str, str]]:
    """`camunda:properties` of every element that has them (e.g. which deadline a timer serves)."""
    out = {}
    for props in tree.iterfind(".//bpmn:extensionElements/camunda:properties", BPMN_NS):
        element = props.getparent().getparent()
        if element.get("id"):
            out[element.get("id")] = {p.get("name"): p.get("value") for p in props.iterfind("camunda:property", NS)}
    return out


def annotate(tree, specs) -> None:
    """Complete parsed specs with what SpiffWorkflow leaves out: nested lanes, element properties and
    the activity each boundary event is attached to."""
    lanes, props = lane_roles(tree), element_properties(tree)
    attached = {b.get("id"): b.get("attachedToRef") for b in tree.iterfind(".//bpmn:boundaryEvent", BPMN_NS)}
    for spec in specs:
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id in lanes:
                task_spec.lane = lanes[bpmn_id]
            if not hasattr(task_spec, "extensions"):
                continue
            if bpmn_id in props:
                task_spec.extensions["camunda_properties"] = props[bpmn_id]
            if bpmn_id in attached:
                task_spec.extensions["attached_to"] = attached[bpmn_id]


class DeploymentError(Exception):
    """A file that cannot be deployed; the message says why, for the admin."""


@dataclass(frozen=True)
class ParsedProcess:
    process_id: str
    name: str
    spec: object
    subprocess_specs: dict


def parse_bpmn(xml: bytes, filename: str = "upload.bpmn") -> ParsedProcess:
    """Parse untrusted BPMN bytes into the one executable process they hold."""
    tree = parse_untrusted_xml(xml)
    parser = ProcessParser()
    parser.add_bpmn_xml(tree, filename)
    ids = parser.get_process_ids()
    if len(ids) != 1:
        raise DeploymentError(N_("文件须恰好包含一个可执行流程，实际为 %(n)s 个", n=len(ids)))
    spec = parser.get_spec(ids[0])
    subprocess_specs = parser.get_subprocess_specs(ids[0])
    annotate(tree, [spec, *subprocess_specs.values()])
    for each in (spec, *subprocess_specs.values()):
        join_loop_children(each)
    return ParsedProcess(ids[0], spec.description or ids[0], spec, subprocess_specs)


def join_loop_children(spec) -> None:
    """Wire each multi-instance's child to its parent now, as SpiffWorkflow's spec deserializer does.

    The parser leaves it to the first `create_child` in this process: a workflow restored after a restart,
    or migrated onto a newly parsed version, whose instances were created earlier would complete them
    without their parent ever hearing of it, and the join after a pending co-unit opinion never fires.
    """
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, LoopTask):
            child = spec.task_specs.get(task_spec.task_spec)
            if child is not None and not child.completed_event.is_connected(task_spec.merge_child):
                child.completed_event.connect(task_spec.merge_child)
