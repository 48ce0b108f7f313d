"""Lock waits of the bench's own PostgreSQL backends, sampled from pg_stat_activity while a part runs.

Two processes that wait on each other's row locks keep one CPU busy where they could keep two: the drain
time says so only on a quiet machine; the time their backends spent waiting on a lock says so under any
load. Sampled, not exact: each sample is one look at every backend of the database, and a sample that
finds one waiting counts the time since the last sample as waited.
"""
from __future__ import annotations

import threading
import time
from collections import Counter

from sqlalchemy import create_engine, text

EVERY = 0.02  # seconds between samples

_SAMPLE = text("SELECT wait_event, left(query, 50) FROM pg_stat_activity "
               "WHERE datname = current_database() AND backend_type = 'client backend' "
               "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'")


class LockWaits:
    """`with LockWaits(url) as waits:` samples until the block ends; then `seconds` (the run's), `waited`
    (seconds of backend time spent waiting on a lock, all backends together) and `on` (waited seconds by
    lock kind and waiting statement)."""

    def __init__(self, url: str):
        self.url = url
        self.seconds = 0.0
        self.waited = 0.0
        self.on: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "LockWaits":
        self._engine = create_engine(self.url)
        self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.seconds = time.perf_counter() - self._started
        self._conn.close()
        self._engine.dispose()

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.wait(EVERY):
            rows = self._conn.execute(_SAMPLE).all()
            now = time.perf_counter()
            for event, query in rows:
                self.waited += now - last
                self.on[(event, " ".join(query.split()))] += now - last
            last = now

    def __str__(self) -> str:
        top = "; ".join(f"{event} in {query}... {s * 100 / self.waited:.0f}%"
                        for (event, query), s in self.on.most_common(2))
        return (f"backends waited on locks {self.waited:.1f} s in all in {self.seconds:.1f} s"
                + (f" ({top})" if top else ""))
