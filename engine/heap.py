"""A server process's long-lived objects kept out of the cyclic garbage collector's walks.

A web worker or the scheduler imports its modules, parses the deployed processes and compiles its templates
before its first request: some hundred and fifty thousand objects that live as long as the process. Python's
full collection walks every tracked object each time the heap has grown by a quarter since the last one:
about 90 ms at a time on a worker, paid by whichever completion or sweep it fell on (1-2% of a completion's
time on average). Frozen once the process is ready, they are never walked again; what requests create is
collected as before. A frozen object dropped later is still freed by its reference count; only a cycle of such
objects waits for the process's end (gunicorn replaces a worker every couple of thousand requests).
"""
from __future__ import annotations

import gc


def settle() -> None:
    """Call once the process has loaded what it keeps (after `deployment.warm`): what loading left as garbage
    is collected first, so that it is freed rather than kept for the process's life."""
    gc.collect()
    gc.freeze()
