"""BPMN parsing: SpiffBpmnParser plus a reader for Camunda forms (`camunda:formData`).

The form becomes plain data in `task_spec.extensions['form']`, which the default spec serializer keeps,
so forms travel with the spec without a converter of their own.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import SpiffTaskParser
from SpiffWorkflow.spiff.specs.defaults import UserTask

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
    return {"key": key, "fields": fields}


def read_properties(node) -> dict:
    """`camunda:properties` directly on a task (not inside a form field)."""
    return {p.get("name"): p.get("value")
            for p in node.xpath("./bpmn:extensionElements/camunda:properties/camunda:property",
                                namespaces={**NS, "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"})}


class FormUserTaskParser(SpiffTaskParser):
    def parse_extensions(self, node=None):
        node = self.node if node is None else node
        extensions = super().parse_extensions(node)
        form = read_form(node)
        if form is not None:
            extensions["form"] = form
        props = read_properties(node)
        if props:
            extensions["camunda_properties"] = props
        return extensions


class ProcessParser(SpiffBpmnParser):
    """The parser every deployment uses; one fresh instance per deployment (ids must be unique)."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (FormUserTaskParser, UserTask),
    }
