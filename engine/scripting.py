"""Functions that BPMN scripts and expressions may call (through the sandbox)."""
from __future__ import annotations

FUNCTIONS: dict = {}
