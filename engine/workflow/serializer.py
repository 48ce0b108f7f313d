"""Workflow state to JSON and back, with the spec stored by reference.

The default SpiffWorkflow serializer embeds the whole process spec in every instance (about 21 KB of a
30-40 KB blob). Here the spec lives once in `process_definition`; the state names nothing but tasks and
data, and is restored against the cached spec of the instance's pinned version.
"""
from __future__ import annotations

import json
import zlib
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

STATE_VERSION = "banli-1"


class SpecRefWorkflowConverter(BpmnWorkflowConverter):
    """BpmnWorkflowConverter without `spec` and `subprocess_specs` in the output."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def restore_with_spec(self, dct, spec, subprocess_specs):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class StateSerializer:
    def __init__(self):
        self.registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
        self.converter = SpecRefWorkflowConverter(BpmnWorkflow, self.registry)
        self.serializer = BpmnWorkflowSerializer(self.registry)

    def dumps(self, workflow: BpmnWorkflow) -> bytes:
        """Compressed JSON: task data repeats itself from task to task, so it shrinks about sixfold."""
        self.registry._encoder_mode = True
        try:
            dct = self.converter.to_dict(workflow)
            dct["state_version"] = STATE_VERSION
            text = json.dumps(dct, cls=self.serializer._encoder_cls, separators=(",", ":"))
        finally:
            self.registry._encoder_mode = False
        return zlib.compress(text.encode("utf-8"), 6)

    @staticmethod
    def text(state: bytes | str) -> str:
        """The JSON of a stored state (uncompressed states of earlier databases are read as they are)."""
        if isinstance(state, str):
            return state
        return state.decode("utf-8") if state[:1] == b"{" else zlib.decompress(state).decode("utf-8")

    def loads(self, state: bytes | str, spec, subprocess_specs) -> BpmnWorkflow:
        dct = json.loads(self.text(state))
        if dct.pop("state_version", None) != STATE_VERSION:
            raise ValueError("unknown workflow state version")
        return self.converter.restore_with_spec(dct, spec, subprocess_specs)


STATE = StateSerializer()
