"""Timing, statement counting and database sizes."""
from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

from sqlalchemy import event, text


def paired_median_ms(first, second, repeat: int) -> tuple[float, float]:
    """The medians of `first` and `second` timed in turn, run for run: a machine that slows down or speeds up
    meanwhile (a neighbour on the VM) slows both sides alike instead of the side measured later."""
    first(), second()  # warm caches (compiled SQL, parsed specs) the way a running server has them warm
    runs: tuple[list, list] = ([], [])
    for _ in range(repeat):
        for fn, out in ((first, runs[0]), (second, runs[1])):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs[0]), statistics.median(runs[1])


@contextmanager
def counting_statements(engine):
    """Count the SQL statements sent through `engine` inside the block."""
    counter = {"n": 0}

    def count(*_args):
        counter["n"] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


def used_bytes(db) -> dict[str, int]:
    """Bytes each table (with its indexes and TOAST) occupies.

    SQLite: bytes in use in its b-tree pages (dbstat), free pages excluded. PostgreSQL: the relations'
    size on disk after VACUUM FULL, i.e. without dead row versions waiting for autovacuum.
    """
    if db.is_postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not _old_snapshots_gone(conn):
                print("    note: a long transaction elsewhere on the server keeps dead rows alive; the "
                      "PostgreSQL size below includes them", flush=True)
            conn.execute(text("VACUUM FULL"))
        return stored_bytes(db)
    with db.engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        rows = conn.execute(text(
            "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize - d.unused) FROM dbstat d "
            "LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY 1")).all()
    return {name: int(size) for name, size in rows}


def _old_snapshots_gone(conn, timeout: float = 120) -> bool:
    """Wait until no other session still holds a snapshot that began before now.

    VACUUM cannot remove a dead row that an open snapshot might still see, and that holds across
    databases: a test suite loading its demo data in one long transaction next door would make our
    rewritten states look like live data.
    """
    # A transaction that has written holds the horizon by its own id (backend_xid) even while idle, with
    # no snapshot (backend_xmin NULL): a test session left idle in transaction did, and went unnoticed.
    query = text("SELECT pid, coalesce(backend_xmin, backend_xid)::text FROM pg_stat_activity "
                 "WHERE (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND pid <> pg_backend_pid()")
    waiting = set(conn.execute(query).all())
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        time.sleep(0.5)
        waiting &= set(conn.execute(query).all())
    return not waiting


def stored_bytes(db) -> dict[str, int]:
    """PostgreSQL: what the tables take on disk right now, dead row versions included. Read as a page reads
    (`reading`, ended by COMMIT): a rollback would discard the statements the engine's connection has prepared,
    and the lifecycles measured next would pay for preparing them again, as no running server does."""
    with db.reading() as conn:
        rows = conn.execute(text(
            "SELECT relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'")).all()
    return {name: int(size) for name, size in rows}


def growth(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {t: after.get(t, 0) - before.get(t, 0) for t in set(before) | set(after)}


def commit_wait_ms(db, n: int = 50) -> float:
    """PostgreSQL: the median wait for the COMMIT of a one-row insert on this machine (the server's flush of its
    log to disk, which no client-side work shortens), in a table made for it in the bench's own database."""
    with db.engine.connect() as conn:
        conn.execute(text("CREATE TABLE bench_commit_probe (id serial PRIMARY KEY, at timestamptz DEFAULT now())"))
        conn.commit()
        waits = []
        for _ in range(n):
            conn.execute(text("INSERT INTO bench_commit_probe DEFAULT VALUES"))
            start = time.perf_counter()
            conn.commit()
            waits.append((time.perf_counter() - start) * 1000)
        conn.execute(text("DROP TABLE bench_commit_probe"))
        conn.commit()
    return statistics.median(waits)
