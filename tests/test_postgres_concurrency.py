"""Two people act on one item at the same moment, on PostgreSQL with real threads and processes.

`complete_task` locks the instance row (SELECT ... FOR UPDATE) and the instance carries an optimistic
version: whoever comes second waits for the first to commit, then works on the committed state. For the
same task that means "already completed" (TaskGone); for a parallel task (the other co-unit's opinion)
it means success. Nothing is lost and nothing is done twice: the audit events and read-model rows say so.
A merge (并案) locks both items' instances the same way, so it waits for a command on the lead item, and for
another merge of either item, and checks what they committed.
"""
from __future__ import annotations

import multiprocessing
import threading
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text

from engine import clock
from engine.db import Database
from engine.items import merging
from engine.models import AuditEvent, CoOpinion, Consultation, Item, ProcessInstance, TaskRow
from engine.items.registration import register_item
from engine.workflow.runtime import GONE_MESSAGE, StaleTask, TaskGone, complete, complete_task
from engine.workflow.forms import FormInvalid
from tests.conftest import BACKEND, user
from tests.test_followup import handle_to_reply, new_item
from tests.test_lifecycle import REPLY, do

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL only: runs in the BANLI_TEST_DB=postgres "
                                                     "pass of `make test`"),
]

OPINIONS = {"jyj_staff": "教育局同意牵头方案，配合做好学生出行调查。", "wjw_staff": "卫健委配合做好站点周边医疗保障。"}
CONSULT = {"consult_date": clock.today().isoformat(), "consult_form": "meeting", "participants": "陈代表、郑住建",
           "proposer_views": "希望增加夜间班次。", "more_consultation": "false"}
WAIT = 30  # seconds any step may take before the test gives up (a bound, never an expectation)


def _complete(db: Database, username: str, spec: str, item_id: int, form: dict,
              unit_code: str | None = None) -> str:
    """What the task page does: find the user's task, then run the completion command (engine.runtime.complete)."""
    with db.reading() as s:
        actor = user(s, username)
        q = select(TaskRow.id).where(TaskRow.item_id == item_id, TaskRow.spec_name == spec)
        if unit_code:
            q = q.where(TaskRow.unit_id == actor.unit_id)
        task_id, actor_id = s.scalars(q).first(), actor.id
    complete(db, task_id, actor_id, form)
    return task_id


@pytest.fixture
def item(demo_db) -> int:
    """A key item of 住建局 with two co-units (教育局, 卫健委), all signed for, pledged: handling has begun."""
    db = demo_db
    with db.transaction() as s:
        item_id = register_item(s, {"item_type": "suggestion", "title": "关于完善夜间公交的建议",
                                    "content": "夜间公交班次少，末班车过早。", "proposer": "deputy_chen",
                                    "year": "2026"}, user(s, "office")).id
    _complete(db, "office", "assign_item", item_id, {"assign_decision": "assign", "lead_unit": "zjj",
                                                     "co_units": ["jyj", "wjw"]})
    for staff in ("jyj_staff", "wjw_staff"):  # each co-unit signs for its part (open since assignment)
        _complete(db, staff, "co_sign_for", item_id, {"co_sign_decision": "sign"}, unit_code=True)
    _complete(db, "zjj_staff", "sign_for", item_id, {"sign_decision": "sign"})
    _complete(db, "zjj_head", "pledge", item_id, {"responsible_leader": "副局长", "contact_person": "郑住建",
                                                  "contact_phone": "0571-6666", "plan": "调研、试点、推广",
                                                  "target_date": clock.today().isoformat()})
    return item_id


def task_ids(db, item_id, spec) -> dict[int | None, str]:
    with db.reading() as s:
        return dict(s.execute(select(TaskRow.unit_id, TaskRow.id)
                              .where(TaskRow.item_id == item_id, TaskRow.spec_name == spec)).all())


def version(db, item_id) -> int:
    with db.reading() as s:
        return s.scalar(select(ProcessInstance.version).where(ProcessInstance.item_id == item_id))


def audit_count(db, item_id, step) -> int:
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.item_id == item_id, AuditEvent.action == "completed", AuditEvent.step == step))


def opinions(db, item_id) -> list[str]:
    with db.reading() as s:
        return sorted(s.scalars(select(CoOpinion.text).where(CoOpinion.item_id == item_id)))


@dataclass
class Outcome:
    ok: bool = False
    error: Exception | None = None


def race(*calls) -> list[Outcome]:
    """Run the calls in threads released together; each call's outcome, in order."""
    barrier = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]

    def run(i, call):
        barrier.wait(WAIT)
        try:
            call()
            outcomes[i].ok = True
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test looks at
            outcomes[i].error = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads), "a completion never finished (deadlock?)"
    return outcomes


# --- threads -------------------------------------------------------------------------------------

def test_both_co_units_send_their_opinions_at_once_and_both_are_kept(demo_db, item):
    before = version(demo_db, item)
    outcomes = race(*[lambda u=u: _complete(demo_db, u, "cohandle", item, {"co_opinion": OPINIONS[u]}, unit_code=u)
                      for u in OPINIONS])
    assert [o.error for o in outcomes] == [None, None]
    assert opinions(demo_db, item) == sorted(OPINIONS.values())
    assert audit_count(demo_db, item, "cohandle") == 2
    assert task_ids(demo_db, item, "cohandle") == {}
    assert version(demo_db, item) > before


def submit(db, task_id, username, form):
    with db.reading() as s:
        actor_id = user(s, username).id
    complete(db, task_id, actor_id, form)


def test_the_same_task_submitted_twice_at_once_is_done_once(demo_db, item):
    """A double click, or two handlers of the lead unit on the same consultation task."""
    (task_id,) = task_ids(demo_db, item, "consult").values()
    outcomes = race(*[lambda: submit(demo_db, task_id, "zjj_staff", CONSULT)] * 2)
    assert sorted(o.ok for o in outcomes) == [False, True]
    error = next(o.error for o in outcomes if not o.ok)
    assert isinstance(error, TaskGone) and str(error) == GONE_MESSAGE
    assert audit_count(demo_db, item, "consult") == 1
    with demo_db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Consultation).where(Consultation.item_id == item)) == 1


# --- processes -----------------------------------------------------------------------------------

def _submit_in_process(url, task_id, username, form, barrier, results):
    """One worker process: its own engine and connection, released together with the others."""
    db = Database(url)
    try:
        with db.reading() as s:
            actor_id = user(s, username).id
        barrier.wait(WAIT)
        complete(db, task_id, actor_id, form)
        results.put((username, "ok", ""))
    except (TaskGone, StaleTask) as exc:
        results.put((username, type(exc).__name__, str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        results.put((username, "error", repr(exc)))
    finally:
        db.engine.dispose()


def _in_processes(jobs) -> list[tuple[str, str, str]]:
    ctx = multiprocessing.get_context("spawn")  # no pooled connection or lock crosses a fork
    barrier, results = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [ctx.Process(target=_submit_in_process, args=(*job, barrier, results)) for job in jobs]
    for p in procs:
        p.start()
    got = [results.get(timeout=WAIT * 2) for _ in procs]
    for p in procs:
        p.join(WAIT)
        assert p.exitcode == 0
    return got


def test_double_submission_from_two_processes_is_done_once(demo_db, item):
    (task_id,) = task_ids(demo_db, item, "consult").values()
    got = _in_processes([(demo_db.url, task_id, "zjj_staff", CONSULT)] * 2)
    assert sorted(status for _, status, _ in got) == ["TaskGone", "ok"], got
    assert next(msg for _, status, msg in got if status == "TaskGone") == GONE_MESSAGE
    assert audit_count(demo_db, item, "consult") == 1
    assert task_ids(demo_db, item, "consult") == {}


def test_co_units_in_two_processes_both_get_through(demo_db, item):
    ids = task_ids(demo_db, item, "cohandle")
    with demo_db.reading() as s:
        unit_of = {u: user(s, u).unit_id for u in OPINIONS}
    got = _in_processes([(demo_db.url, ids[unit_of[u]], u, {"co_opinion": OPINIONS[u]}) for u in OPINIONS])
    assert sorted(status for _, status, _ in got) == ["ok", "ok"], got
    assert opinions(demo_db, item) == sorted(OPINIONS.values()) and audit_count(demo_db, item, "cohandle") == 2


# --- a deterministic interleaving ----------------------------------------------------------------

class Held(threading.Thread):
    """Runs `work(session)` in a transaction and stops just before COMMIT until released."""

    def __init__(self, db, work):
        super().__init__()
        self.db, self.work = db, work
        self.pid = None
        self.flushed, self.release = threading.Event(), threading.Event()
        self.error: Exception | None = None

    def run(self):
        try:
            with self.db.transaction() as s:
                self.pid = s.execute(text("SELECT pg_backend_pid()")).scalar()
                self.work(s)
                s.flush()
                self.flushed.set()
                self.release.wait(WAIT)
        except Exception as exc:  # noqa: BLE001
            self.error = exc
            self.flushed.set()


def held_completion(db, username, spec, item_id, form, unit_code=None) -> Held:
    """The user's completion of the item's `spec` task, held before its COMMIT."""
    def work(s):
        actor = user(s, username)
        q = select(TaskRow.id).where(TaskRow.item_id == item_id, TaskRow.spec_name == spec)
        if unit_code:
            q = q.where(TaskRow.unit_id == actor.unit_id)
        complete_task(s, s.scalars(q).first(), actor, form)
    return Held(db, work)


class Second(threading.Thread):
    """The other user's command (`work(session)`), started while the first is held; reports the backend it runs
    on."""

    def __init__(self, db, work):
        super().__init__()
        self.db, self.work = db, work
        self.pid, self.started_tx = None, threading.Event()
        self.error: Exception | None = None
        self.done = False

    def run(self):
        try:
            with self.db.transaction() as s:
                self.pid = s.execute(text("SELECT pg_backend_pid()")).scalar()
                self.started_tx.set()
                self.work(s)
            self.done = True
        except Exception as exc:  # noqa: BLE001
            self.error = exc
        finally:
            self.started_tx.set()


def second_completion(db, username, task_id, form) -> Second:
    return Second(db, lambda s: complete_task(s, task_id, user(s, username), form))


def wait_until_blocked(db, waiter_pid: int, holder_pid: int) -> None:
    """Return once PostgreSQL reports `waiter_pid` waiting for a lock that `holder_pid` holds."""
    probe = threading.Event()
    with db.engine.connect() as conn:
        for _ in range(WAIT * 100):
            if holder_pid in conn.execute(text("SELECT pg_blocking_pids(:p)"), {"p": waiter_pid}).scalar():
                return
            conn.rollback()
            probe.wait(0.01)
    raise AssertionError("the second transaction never waited for the first")


def second_waits_for_first(db, first: Held, second: Second) -> None:
    """Hold `first` open before its COMMIT, start `second`, see it wait for the first's lock, then let the first
    commit and both end; the first must have succeeded."""
    first.start()
    assert first.flushed.wait(WAIT) and first.error is None, first.error
    second.start()
    assert second.started_tx.wait(WAIT) and second.pid is not None, second.error
    wait_until_blocked(db, second.pid, first.pid)
    assert not second.done  # it cannot pass the first's row lock while that transaction is open
    first.release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert first.error is None and not first.is_alive() and not second.is_alive()


@pytest.mark.parametrize("case", ["same task", "other co-unit"])
def test_second_transaction_waits_for_the_held_first_then_sees_its_result(demo_db, item, case):
    db = demo_db
    ids = task_ids(db, item, "cohandle")
    with db.reading() as s:
        jyj, wjw = user(s, "jyj_staff").unit_id, user(s, "wjw_staff").unit_id
    seen = version(db, item)
    first = held_completion(db, "jyj_staff", "cohandle", item, {"co_opinion": OPINIONS["jyj_staff"]}, unit_code=True)
    if case == "same task":
        second = second_completion(db, "jyj_staff", ids[jyj], {"co_opinion": "重复提交"})
    else:
        second = second_completion(db, "wjw_staff", ids[wjw], {"co_opinion": OPINIONS["wjw_staff"]})
    second_waits_for_first(db, first, second)
    if case == "same task":
        assert isinstance(second.error, TaskGone) and str(second.error) == GONE_MESSAGE
        assert opinions(db, item) == [OPINIONS["jyj_staff"]]
    else:  # worked on the state the first committed: both opinions, no lost update
        assert second.done and second.error is None
        assert opinions(db, item) == sorted(OPINIONS.values())
    assert audit_count(db, item, "cohandle") == len(opinions(db, item))
    assert version(db, item) > seen


# --- 并案 at the same moment as a command on the lead item, or as another merge -------------------------------

def merge(item_id: int, into: int):
    """The office merges `item_id` into the item `into` (by its number, as the item page's form names it)."""
    return lambda s: merging.merge_item(s, user(s, "office"), item_id, s.get(Item, into).number)


def merged_into(db, item_id: int) -> int | None:
    with db.reading() as s:
        return s.get(Item, item_id).merged_into_id


def refused_with(outcome, code: str) -> bool:
    return isinstance(outcome, FormInvalid) and [e.code for e in outcome.errors] == [code]


def test_a_merge_waits_for_the_lead_items_reply_approval_then_refuses_it_as_replied(demo_db):
    """Checked before the approval committed, the lead item read as not yet replied: the merged proposer was
    then asked at once to rate a reply written without a word of their item."""
    db = demo_db
    lead, other = new_item(db, "关于增设夜间公交线路的建议"), new_item(db, "关于延长末班车的建议", proposer="deputy_liu")
    handle_to_reply(db, lead)
    do(db, lead, "zjj_staff", "draft_reply", **REPLY)
    do(db, lead, "zjj_head", "signoff_reply", signoff_decision="approve")
    approval = held_completion(db, "office", "review_reply", lead, {"review_decision": "approve"})
    merging_in = Second(db, merge(other, into=lead))
    second_waits_for_first(db, approval, merging_in)
    assert refused_with(merging_in.error, "merge_replied"), merging_in.error
    assert merged_into(db, other) is None
    with db.reading() as s:
        assert s.get(Item, other).status == "assigning"


def test_two_items_merged_into_each_other_at_once_one_merge_is_refused(demo_db):
    """Each merge saw the other item still open: both went through, each item 已并入 the other, and neither was
    handled by anyone."""
    db = demo_db
    first_item, second_item = new_item(db, "关于公园开放时间的建议"), new_item(db, "关于延长公园开放时间的建议",
                                                                             proposer="deputy_liu")
    one = Held(db, merge(first_item, into=second_item))
    other = Second(db, merge(second_item, into=first_item))
    second_waits_for_first(db, one, other)
    assert refused_with(other.error, "merge_target"), other.error
    assert (merged_into(db, first_item), merged_into(db, second_item)) == (second_item, None)
