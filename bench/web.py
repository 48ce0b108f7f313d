"""(g) The web stack: the real Flask app under gunicorn on PostgreSQL, driven by a bounded client.

`banli serve --prod` runs as its own process on a fresh database; `cores x 4` simulated office users (each
its own account and session, one request at a time) go through the inbox, a task page, the completion of
the task (交办, the assignment form) and the supervisors' board, item after item. Each page's p50 / p95
latency is printed. Then the CPU cost of a completion: the server's worker processes' CPU for a run of
completions posted through HTTP, against the engine command (`runtime.complete`) alone on the same kind
of item, in this process, neither side holding the items' workflows in memory (each reads the stored state).
The database server's CPU is in neither.
"""
from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import insert, select

from bench import scenario
from engine.models import TaskRow, Unit, User
from engine.people.accounts import hash_password

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PAGES = ("inbox", "task page", "completion", "board")


@dataclass
class WebFigure:
    users: int
    latencies: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PAGES})
    web_cpu_ms: float = 0.0  # server CPU per completion posted through HTTP
    engine_cpu_ms: float = 0.0  # CPU per completion through the engine command alone
    errors: list[str] = field(default_factory=list)

    def pct(self, page: str, q: float) -> float:
        values = sorted(self.latencies[page])
        return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")

    @property
    def web_over_engine(self) -> float:
        return self.web_cpu_ms / self.engine_cpu_ms


class Client:
    """One user's browser: a keep-alive connection, a session cookie, no redirects followed."""

    IDLE = 1.0  # seconds; gunicorn closes a keep-alive connection idle for 2 s, so a browser would open a new one

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}
        self.last = time.monotonic()

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        if time.monotonic() - self.last > self.IDLE:  # reconnect rather than write into a closed socket (a POST
            self.conn.close()                         # cannot be sent again safely once it may have arrived)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        for header, value in resp.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        self.last = time.monotonic()
        return resp.status, text

    def login(self, username: str) -> str:
        _, page = self.request("GET", "/login")
        status, _ = self.request("POST", "/login", {"username": username, "password": "bench",
                                                   "csrf_token": CSRF_RE.search(page).group(1)})
        if status != 302:
            raise RuntimeError(f"bench: login of {username} answered {status}")
        _, inbox = self.request("GET", "/tasks/")
        return CSRF_RE.search(inbox).group(1) if CSRF_RE.search(inbox) else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (Linux /proc), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _setup(db, users: int, items_per_user: int) -> tuple[list[str], str]:
    """Office accounts (one per simulated user) and items registered, each waiting for assignment."""
    with db.transaction() as s:
        org = scenario.create_org(s)
        s.execute(insert(User), [dict(username=f"office_{k}", name=f"区府办{k}", role="office",
                                      password_hash=hash_password("bench")) for k in range(users)])
        s.execute(User.__table__.update().values(password_hash=hash_password("bench")))
        unit = s.scalar(select(Unit.code).order_by(Unit.id).limit(1))
    for plan in scenario.plans(org, users * items_per_user * 3 + 1, seed=5):  # mixed, posted, alone + 1 warm-up
        scenario.register(db, plan)
    return [f"office_{k}" for k in range(users)], unit


def _assignment_tasks(db) -> list[str]:
    with db.reading() as s:
        return list(s.scalars(select(TaskRow.id).where(TaskRow.form_key == "assignment")
                              .order_by(TaskRow.created_at, TaskRow.id)))


def _serve(db, port: int, workers: int) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=db.url, SECRET_KEY="bench-" + os.urandom(16).hex(), BANLI_LOG_LEVEL="ERROR")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("banli")), "serve", "--prod", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("bench: the web server did not answer within 60 s")


ROUND = 8  # completions per side before the other side's turn


def run(db, items_per_user: int = 5) -> WebFigure:
    from engine.workflow import runtime

    cores = os.cpu_count() or 1
    fig = WebFigure(users=cores * 4)
    usernames, unit = _setup(db, fig.users, items_per_user)
    tasks = _assignment_tasks(db)
    n = fig.users * items_per_user
    mixed, rest = tasks[:n], tasks[n:]
    posted, alone = rest[1::2], rest[2::2]  # interleaved, so both sides get the same mix of items
    form = {"assign_decision": "assign", "lead_unit": unit, "is_key": "false", "is_complex": "false"}
    port = _free_port()
    server = _serve(db, port, workers=cores)
    try:
        clients = [Client(port) for _ in usernames]
        tokens = [c.login(u) for c, u in zip(clients, usernames)]

        def user_loop(k: int) -> None:  # inbox, task page, completion, board: one item after another
            c = clients[k]
            try:
                for task_id in mixed[k::fig.users]:
                    for page, method, path, data in (
                            ("inbox", "GET", "/tasks/", None), ("task page", "GET", f"/tasks/{task_id}", None),
                            ("completion", "POST", f"/tasks/{task_id}", {**form, "csrf_token": tokens[k]}),
                            ("board", "GET", "/supervision/", None)):
                        t0 = time.perf_counter()
                        status, _ = c.request(method, path, data)
                        fig.latencies[page].append(time.perf_counter() - t0)
                        if status not in (200, 302, 303):
                            fig.errors.append(f"{page} {path}: HTTP {status}")
            except Exception as exc:  # noqa: BLE001 - reported with the figures
                fig.errors.append(f"user {k}: {exc!r}")

        threads = [threading.Thread(target=user_loop, args=(k,)) for k in range(fig.users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        # CPU of a completion through HTTP (the server's worker processes) against the engine command alone (this
        # process) on the same kind of item, in alternating rounds: the VM's speed drifts within a run, and a
        # figure taken all on one side and then all on the other moved by half between runs.
        workers = _children(server.pid)
        with db.reading() as s:
            office = s.scalar(select(User.id).where(User.username == usernames[0]))
        runtime.complete(db, rest[0], office, form)  # warm: parsed spec, compiled statements
        # Both sides start from the stored state: the web workers never saw these items (this process registered
        # them), and a workflow this process committed last would spare the engine side its deserialisation
        # (about a millisecond of the command, counted as the web's own cost before).
        runtime.WORKFLOWS.entries.clear()
        web_cpu = engine_cpu = 0.0
        for r in range(0, len(posted), ROUND):
            before = _cpu_seconds(workers)
            for k, task_id in enumerate(posted[r:r + ROUND], start=r):
                status, _ = clients[k % fig.users].request("POST", f"/tasks/{task_id}",
                                                           {**form, "csrf_token": tokens[k % fig.users]})
                if status not in (302, 303):
                    fig.errors.append(f"completion {task_id}: HTTP {status}")
            web_cpu += _cpu_seconds(workers) - before
            before = time.process_time()
            for task_id in alone[r:r + ROUND]:
                runtime.complete(db, task_id, office, form)
            engine_cpu += time.process_time() - before
        fig.web_cpu_ms = web_cpu / len(posted) * 1000
        fig.engine_cpu_ms = engine_cpu / len(alone) * 1000
    finally:
        server.terminate()
        server.wait(30)
    return fig


def summary(fig: WebFigure) -> dict[str, dict[str, float]]:
    return {p: {"p50_ms": round(fig.pct(p, 0.5), 1), "p95_ms": round(fig.pct(p, 0.95), 1)} for p in PAGES}

