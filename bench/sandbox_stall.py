"""How long a runaway BPMN script takes to end, and how long it holds up another thread of the same
process (a web worker's other requests): `python -m bench.sandbox_stall`.

A ticker thread wakes every millisecond; its longest gap while a script runs is the stall other requests
would see. Each script runs through the real sandboxed engine in another thread.
"""
from __future__ import annotations

import threading
import time

from SpiffWorkflow.bpmn import BpmnWorkflow

from engine.workflow.sandbox import make_script_engine

RUNAWAYS = {
    "x = 2 ** 499999 (then squared)": "x = 2 ** 499999\ny = x * x",
    "repeated squaring": "x = 2 ** 40000\nfor i in range(30):\n    x = x * x",
    '"a" * 1_500_000_000': 'x = "a" * 1_500_000_000',
    "string doubling loop": 's = "a"\nwhile True:\n    s = s + s',
    "list.extend doubling": "x = [0] * 1000\nwhile True:\n    x.extend(x)",
    "many 1 MB strings": 'x = ["a" * 1_000_000 for i in range(100)]',
    "while True: pass": "while True: pass",
    "nested comprehension": "x = [i for i in range(10 ** 6) for j in range(10 ** 6)]",
}


def _workflow(script: str) -> BpmnWorkflow:
    from xml.sax.saxutils import escape

    from SpiffWorkflow.spiff.parser import SpiffBpmnParser

    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="w"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="w"/><bpmn:sequenceFlow id="f2" sourceRef="w" targetRef="e"/>
  </bpmn:process></bpmn:definitions>"""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(xml.encode(), "b.bpmn")
    return BpmnWorkflow(parser.get_spec("p"), script_engine=make_script_engine({}))


def measure(script: str) -> tuple[str, float, float]:
    gaps, stop = [0.0], threading.Event()

    def ticker():
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps[0] = max(gaps[0], now - last)
            last = now

    t = threading.Thread(target=ticker)
    t.start()
    started = time.perf_counter()
    try:
        _workflow(script).do_engine_steps()
        outcome = "finished"
    except Exception as exc:  # noqa: BLE001 - the outcome is what is measured
        outcome = getattr(exc, "error_type", type(exc).__name__)
    took = time.perf_counter() - started
    stop.set()
    t.join()
    return outcome, took, gaps[0]


def main() -> None:
    print(f"{'runaway script':34} {'outcome':18} {'ended after':>11} {'longest stall of another thread':>32}")
    for name, script in RUNAWAYS.items():
        outcome, took, gap = measure(script)
        print(f"{name:34} {outcome:18} {took:10.2f}s {gap * 1000:29.1f} ms")


if __name__ == "__main__":
    main()
