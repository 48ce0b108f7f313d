"""A server process freezes what it loaded out of the garbage collector's walks once it is ready (engine.heap).

Each check runs in a process of its own: freezing is for a process's life, and this test run's own objects are
not the test's to freeze."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Prints what a ready process shows: whether the parsed processes are frozen (no longer among the objects the
# collector walks), whether a cycle made afterwards is still collected, and the status of a page if asked.
_CHECK = """
import gc, json, sys, weakref
from engine.workflow import deployment

def frozen(obj):
    return not any(o is obj for o in gc.get_objects())

{start}
specs = [p.spec for p in deployment._BY_ID.values()]

class Node:
    pass

node = Node()
node.itself = node
gone = weakref.ref(node)
del node
gc.collect()
print(json.dumps({{"specs": len(specs), "specs_frozen": all(frozen(s) for s in specs),
                  "frozen": gc.get_freeze_count(), "cycle_collected": gone() is None, "page": page}}))
"""

_WEB = """
from web.cli import production_app
app = production_app({{"DATABASE_URL": {url!r}, "SECRET_KEY": "test"}})
page = app.test_client().get("/login").status_code
"""

_SCHEDULER = """
from engine.db import Database
from engine.scheduler import ready
ready(Database({url!r}))
page = None
"""


def _run(start: str, url: str) -> dict:
    script = _CHECK.format(start=start.format(url=url))
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": url})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_web_worker_freezes_its_parsed_processes_and_still_collects_what_requests_leave(demo_db):
    shown = _run(_WEB, demo_db.url)
    assert shown["specs"] >= 1 and shown["specs_frozen"]  # parsed before the freeze, never walked again
    assert shown["frozen"] > 10_000  # the modules, templates and specs of a worker
    assert shown["cycle_collected"]  # what comes after is collected as before
    assert shown["page"] == 200


def test_the_scheduler_parses_the_running_versions_then_freezes_them(demo_db):
    shown = _run(_SCHEDULER, demo_db.url)
    assert shown["specs"] >= 1 and shown["specs_frozen"]
    assert shown["cycle_collected"]


def test_the_scheduler_starts_on_a_database_it_cannot_read_yet_and_freezes_all_the_same(tmp_path):
    """A scheduler started before `banli init`, or while the database is restarting, kept running and swept once
    the database answered: its start must not fail where its ticks only log. The processes are parsed at first
    use then."""
    url = f"sqlite:///{tmp_path / 'not_initialised.db'}"
    script = f"""
import gc, logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
from engine.db import Database
from engine.scheduler import ready
ready(Database({url!r}))
print("frozen", gc.get_freeze_count() > 10_000)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "WARNING" in done.stdout and "parsed at first use" in done.stdout
    assert done.stdout.strip().endswith("frozen True")
