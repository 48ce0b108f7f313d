"""Notifications: in-app for everyone, e-mail through SMTP when configured; each event notifies once.

`dedupe_key` names the event (a task, a reminder of one deadline, ...); a (user, key) pair is stored once,
so repeated sweeps, retries and coalesced timers never notify twice. Titles (and bodies the engine writes)
are catalog messages (`N_`), stored as msgid and parameters and rendered in the reader's language when
shown (`text`) or e-mailed (the recipient's last chosen language, Chinese by default); a body that is a
person's own words (an opinion, a reason) is stored as typed.
"""
from __future__ import annotations

import smtplib
from email.message import EmailMessage

import sqlalchemy
from sqlalchemy import String, bindparam, case, cast, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine import clock, writes
from engine.sqlin import one_of
from engine.i18n import N_, Msg, Translate, step_name, translator
from engine.people.authz import LANES
from engine.config import Settings
from engine.models import Item, Notification, TaskRow, User
from engine.models.deadlines import task_key, task_keys


def notify(session: Session, users, item: Item | int | None, kind: str, title: str, dedupe_key: str,
           body: str | None = None, link: str | None = None) -> int:
    """Add one notification per user unless that user already has this event. Returns how many were added.

    `item`: the item the event is about, or its id.

    `title` is a catalog message (`N_`, with or without parameters); `body` a catalog message (a `Msg`) or
    a person's own text. One INSERT that skips the (user, event) pairs already stored: no read first, no
    ORM objects.
    """
    user_ids = list(dict.fromkeys(u.id if isinstance(u, User) else u for u in users))
    if not user_ids:
        return 0
    now = clock.now()
    message = stored_message(title, body)
    item_id = item if item is None or isinstance(item, int) else item.id
    rows = [dict(user_id=uid, item_id=item_id, kind=kind, title=None, body=own_words(body),
                 message=message, link=link, dedupe_key=dedupe_key, created_at=now) for uid in user_ids]
    return len(session.execute(_insert_new(session).returning(Notification.__table__.c.id), rows).all())


def own_words(body) -> str | None:
    """What a notification keeps in its `body` column: a person's own words, as typed (a catalog message goes
    in `message`, see stored_message)."""
    return body if body is not None and not isinstance(body, Msg) else None


def stored_message(title, body=None) -> list:
    """What a notification stores of its text: [title] or [title, body] as catalog messages (msgid and
    parameters, `Msg.to_json`), not the Chinese text beside them: rendered when shown. A body that is a
    person's own text goes to the `body` column instead."""
    title = title if isinstance(title, Msg) else Msg(title)
    return [title.to_json(), body.to_json()] if isinstance(body, Msg) else [title.to_json()]


def _insert_new(session: Session, select_from=None):
    """INSERT INTO notification ... ON CONFLICT (user_id, dedupe_key) DO NOTHING, in the session's dialect;
    `select_from` = (columns, select) inserts the rows of a query instead of given values."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite if dialect == "sqlite" else None
    stmt = (module or sqlalchemy).insert(Notification.__table__)
    if select_from is not None:
        stmt = stmt.from_select(*select_from)
    if module is None:
        return stmt.prefix_with("IGNORE")  # MySQL spelling; not a supported backend today
    return stmt.on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"])


def task_users(session: Session, row: TaskRow) -> list[int]:
    """Everyone who may act on a task row (mirrors authz.can_act)."""
    lane = LANES.get(row.lane or "")
    if lane is None:
        return []
    q = select(User.id).where(User.role == lane.role, User.active)
    if lane.unit_var:
        q = q.where(User.unit_id == row.unit_id)
    elif lane.person_var:
        q = q.where(User.id == row.assignee_id)
    return list(session.scalars(q))


def role_users(session: Session, role: str, unit_id: int | None = None) -> list[int]:
    q = select(User.id).where(User.role == role, User.active)
    if unit_id is not None:
        q = q.where(User.unit_id == unit_id)
    return list(session.scalars(q))


_NEW_TASK_COLUMNS = ("item_id", "kind", "message", "dedupe_key", "created_at")  # the link is the task's key
_STATEMENTS: dict = {}  # built once per dialect and lane kind (see engine.workflow.runtime on why)


def _statement(session: Session, name: str, build):
    key = (session.get_bind().dialect.name, name)
    if key not in _STATEMENTS:
        _STATEMENTS[key] = build()
    return _STATEMENTS[key]


def _new_task_insert(session: Session, by: str):
    """INSERT INTO notification (user_id, ...) SELECT id, :item_id, ... FROM user_account WHERE <the lane's users>."""
    table = Notification.__table__
    users = select(User.id, *(bindparam(f"n_{c}", type_=table.c[c].type).label(c) for c in _NEW_TASK_COLUMNS))
    users = users.where(User.role == bindparam("role"), User.active)
    if by == "unit":
        users = users.where(User.unit_id == bindparam("unit_id"))
    elif by == "person":
        users = users.where(User.id == bindparam("assignee_id"))
    return writes.later(_insert_new(session, select_from=(["user_id", *_NEW_TASK_COLUMNS], users)))


def _proposers_insert(session: Session):
    """INSERT INTO notification ... SELECT the proposer of the item and of every item merged into it (并案),
    each about their own item: its key and link name that item."""
    items, table = Item.__table__, Notification.__table__
    about = bindparam("p_item_id", type_=items.c.id.type)
    own_id = cast(items.c.id, String)
    rows = (select(items.c.proposer_id, items.c.id, literal("proposer", String), literal(None, String),
                   bindparam("p_body", type_=table.c.body.type), bindparam("p_message", type_=table.c.message.type),
                   literal("/portal/items/", String) + own_id, bindparam("p_key", type_=String) + own_id,
                   bindparam("p_now", type_=table.c.created_at.type))
            .where(or_(items.c.id == about, items.c.merged_into_id == about))
            .order_by(case((items.c.id == about, 0), else_=1), items.c.id))  # the lead item's proposer first
    columns = ["user_id", "item_id", "kind", "title", "body", "message", "link", "dedupe_key", "created_at"]
    return writes.later(_insert_new(session, select_from=(columns, rows)))


def tell_proposers(session: Session, item_id: int, event: str, title, body=None) -> None:
    """Tell the lead proposer of item `item_id`, and the proposer of every item merged into it (并案), in the portal:
    one INSERT ... SELECT that waits for nothing (the proposers are not read first). Each notice's event key is
    `proposer:<event>:<their item>`, its link their item's page in the portal.

    Only what the portal shows: the body is a catalog message of facts, never staff's words (instructions,
    opinions are internal deliberations, visibility.PORTAL_FIELDS)."""
    stmt = _statement(session, "proposers", lambda: _proposers_insert(session))
    session.connection().execute(stmt, dict(
        p_item_id=item_id, p_body=own_words(body),
        p_message=stored_message(title, body), p_key=f"proposer:{event}:", p_now=clock.now()))


def new_task_title(step: str, round: int = 1) -> Msg:
    """A new task's notice: the step's BPMN name (process content, in the catalog) and its round after the first.
    The notice stores only [step] or [step, round] (one row per recipient of every task): this is its title."""
    name = step_name(step)
    return (N_("新任务：%(step)s（第%(round)s轮）", step=name, round=round) if round > 1
            else N_("新任务：%(step)s", step=name))


def new_task(session: Session, row: TaskRow, item: Item, inserting=None) -> None:
    """Tell everyone who may act on a new task, in one INSERT ... SELECT: the recipients are not read first.

    `inserting`: (a CTE inserting the new task rows, its parameters), sent in the same statement as a WITH
    clause: one round trip for both (PostgreSQL). The caller sends it only for a task of a known lane."""
    lane = LANES.get(row.lane or "")
    if lane is None:
        return
    by = "unit" if lane.unit_var else "person" if lane.person_var else "role"
    if inserting is None:
        stmt = _statement(session, f"new_task:{by}", lambda: _new_task_insert(session, by))
    else:
        stmt = _statement(session, f"new_task:{by}:{inserting[0].name}",
                          lambda: _new_task_insert(session, by).add_cte(inserting[0]))
    # The step's name as the process names it, as the inbox and the task page show it (and its round).
    step = [row.title or "", row.round] if row.round > 1 else [row.title or ""]
    session.connection().execute(stmt, dict(
        n_item_id=item.id, n_kind="task", n_message=step,
        n_dedupe_key=task_key(str(row.id)),
        n_created_at=clock.now(), role=lane.role, unit_id=row.unit_id, assignee_id=row.assignee_id,
        **(inserting[1] if inserting is not None else {})))


def text(n: Notification, translate: Translate = translator("zh")) -> tuple[str, str | None]:
    """A notification's title and body in the language of `translate`. Rows stored before: with a message
    {"title": msg, "body": msg or None} beside their Chinese title (and body), or with only the Chinese
    (before notifications kept their message), read as they were written."""
    stored = n.message
    if isinstance(stored, dict):
        title, body = stored.get("title"), stored.get("body")
    elif stored and isinstance(stored[0], str):  # a new task's notice: [step] or [step, round]
        title, body = new_task_title(*stored).to_json(), None
    else:
        title, body = (stored or [None])[0], (stored[1] if stored and len(stored) > 1 else None)
    return (Msg.from_json(title).render(translate) if title else n.title,
            Msg.from_json(body).render(translate) if body else n.body)


_TASKS_DONE = writes.later(update(Notification)
               .where(Notification.item_id == bindparam("b_item_id"),
                      one_of(Notification.dedupe_key, "keys"), Notification.read_at.is_(None))
               .values(read_at=bindparam("b_now", type_=Notification.read_at.type)))


def tasks_done(session: Session, item: Item, task_ids: list[str], deleting=None) -> None:
    """A task's "new task" notice is read once the task is done or gone, for everyone it went to.

    Found through the item (indexed): the event key alone has no index of its own and would scan them all.
    `deleting`: the deletion of the tasks' rows (a CTE whose parameter `ids` takes `task_ids`), sent in the same
    statement as a WITH clause: one round trip for both (PostgreSQL)."""
    if not task_ids:
        return
    stmt = _TASKS_DONE
    if deleting is not None:
        stmt = _statement(session, f"tasks_done:{deleting.name}", lambda: _TASKS_DONE.add_cte(deleting))
    keys = [k for t in task_ids for k in task_keys(str(t))]  # both spellings: a task open since before the short one
    session.connection().execute(stmt, {"b_item_id": item.id, "keys": keys, "b_now": clock.now(), "ids": task_ids})


def unread_count(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def for_user(session: Session, user_id: int, limit: int = 100):
    return session.scalars(select(Notification).where(Notification.user_id == user_id)
                           .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)).all()


def mark_read(session: Session, user_id: int, notification_id: int | None = None) -> None:
    q = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        q = q.where(Notification.id == notification_id)
    session.execute(q.values(read_at=clock.now()))


def send_pending_email(db, settings: Settings, limit: int = 100) -> int:
    """Send unread notifications not yet e-mailed to users with an address, of events after the address
    was set (a new address or a newly configured SMTP server gets no backlog); each row in its own commit."""
    if not settings.smtp_host:
        return 0
    with db.reading() as s:
        pending = s.execute(select(Notification, User.email, User.lang, Item.number, Item.title)
                            .join(User, User.id == Notification.user_id)
                            .outerjoin(Item, Item.id == Notification.item_id)
                            .where(Notification.emailed_at.is_(None), Notification.read_at.is_(None),
                                   User.email.is_not(None), User.email_set_at.is_not(None),
                                   Notification.created_at >= User.email_set_at)
                            .order_by(Notification.id).limit(limit)).all()
        pending = [(note.id, translator(lang), *text(note, translator(lang)), email, number, item_title)
                   for note, email, lang, number, item_title in pending]
    sent = 0
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        for nid, translate, title, body, email, number, item_title in pending:
            about = f"{number} {item_title}" if number else ""
            msg = EmailMessage()
            msg["From"], msg["To"] = settings.smtp_sender, email
            msg["Subject"] = f"[{translate(N_('建议提案办理'))}] {title}" + (f" · {about}" if about else "")
            msg.set_content("\n\n".join(p for p in (title, about, body) if p))
            with db.transaction() as s:
                claimed = s.execute(update(Notification).where(Notification.id == nid,
                                                               Notification.emailed_at.is_(None))
                                    .values(emailed_at=clock.now())).rowcount
                if claimed:
                    smtp.send_message(msg)
                    sent += 1
    return sent
