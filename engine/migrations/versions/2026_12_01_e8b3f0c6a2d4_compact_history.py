"""a closed item's history stored compactly (issue 14): a notification keeps its text as catalog messages
only ([title] or [title, body], engine.i18n.Msg.to_json), no longer its Chinese copy beside them, so its
title may be NULL (a new task's notice keeps only its step and round); the rows stored before are converted. The notifications' indexes by user and by item
hold unread rows only (what reads them asks for), the board's index open deadlines only (every board query
bounds the board date, which closed deadlines lack), and deadline's index on status alone goes:
ix_deadline_status_due begins with status.

Revision ID: e8b3f0c6a2d4
Revises: d2a5c7e91f30
Create Date: 2026-12-01 05:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'e8b3f0c6a2d4'
down_revision: Union[str, Sequence[str], None] = 'd2a5c7e91f30'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BATCH = 2000
notification = sa.table('notification', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                        sa.column('title', sa.String),
                        sa.column('body', sa.Text), sa.column('message', sa.JSON))


def _compact(msg: dict) -> list:
    """{"id", "params", "context"} -> [msgid], [msgid, params] or [msgid, params, context] (Msg.to_json)."""
    params = {k: _compact(v) if isinstance(v, dict) else v for k, v in (msg.get('params') or {}).items()}
    if msg.get('context'):
        return [msg['id'], params, msg['context']]
    return [msg['id'], params] if params else [msg['id']]


def _expanded(msg: list) -> dict:
    params = {k: _expanded(v) if isinstance(v, list) else v for k, v in (msg[1] if len(msg) > 1 else {}).items()}
    out = {'id': msg[0], 'params': params}
    if len(msg) > 2:
        out['context'] = msg[2]
    return out


def _render(msg: dict) -> str:
    params = {k: _render(v) if isinstance(v, dict) else v for k, v in (msg.get('params') or {}).items()}
    return msg['id'] % params if params else msg['id']


def _convert(bind, where, change) -> None:
    """Rewrite the rows matching `where`, BATCH at a time in id order (a large table in bounded statements)."""
    last = 0
    while True:
        rows = bind.execute(sa.select(notification).where(where, notification.c.id > last)
                            .order_by(notification.c.id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(notification.update().where(notification.c.id == sa.bindparam('b_id')).values(
            title=sa.bindparam('b_title'), body=sa.bindparam('b_body'), message=sa.bindparam('b_message', type_=sa.JSON)),
            [dict(zip(('b_id', 'b_title', 'b_body', 'b_message'), change(r))) for r in rows])
        last = rows[-1].id


def _to_compact(row):
    if not isinstance(row.message, dict):  # not the former shape: left as it is
        return row.id, row.title, row.body, row.message
    title, body = row.message.get('title'), row.message.get('body')
    message = [_compact(title), _compact(body)] if body else [_compact(title)]
    if row.kind == 'task' and not body:  # a new task's notice: its step and round are enough
        step, round = title.get('params', {}).get('step'), title.get('params', {}).get('round', 1)
        task = [step['id'], round] if round > 1 else [step['id']] if isinstance(step, dict) else None
        if task is not None and _task_title(*task) == title:
            message = task
    return row.id, None, None if body else row.body, message


def _task_title(step: str, round: int = 1) -> dict:
    """engine.people.notifications.new_task_title, in the former shape."""
    params = {'step': {'id': step, 'params': {}, 'context': 'bpmn'}}
    if round > 1:
        return {'id': '新任务：%(step)s（第%(round)s轮）', 'params': {**params, 'round': round}}
    return {'id': '新任务：%(step)s', 'params': params}


def _to_expanded(row):
    if isinstance(row.message[0], str):  # a new task's notice: [step] or [step, round]
        title = _task_title(*row.message)
        return row.id, _render(title)[:300], row.body, {'title': title, 'body': None}
    title = _expanded(row.message[0])
    body = _expanded(row.message[1]) if len(row.message) > 1 else None
    return row.id, _render(title)[:300], _render(body) if body else row.body, {'title': title, 'body': body}


def upgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.alter_column('title', existing_type=sa.String(length=300), nullable=True)
        batch_op.drop_index('ix_notification_unread')
        batch_op.create_index('ix_notification_unread', ['user_id'], unique=False,
                              sqlite_where=sa.text('read_at IS NULL'), postgresql_where=sa.text('read_at IS NULL'))
        batch_op.drop_index('ix_notification_item_id')
        batch_op.create_index('ix_notification_unread_item', ['item_id'], unique=False,
                              sqlite_where=sa.text('read_at IS NULL'), postgresql_where=sa.text('read_at IS NULL'))
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_status')
        batch_op.drop_index('ix_deadline_board')
        batch_op.create_index('ix_deadline_board', ['is_key', 'board_date', 'due_date', 'item_id', 'id'], unique=False,
                              sqlite_where=sa.text('board_date IS NOT NULL'),
                              postgresql_where=sa.text('board_date IS NOT NULL'))
    # rows with a message in the former shape ({"title": ..., "body": ...}); those without keep their text
    bind = op.get_bind()
    _convert(bind, notification.c.title.is_not(None) & notification.c.message.is_not(None), _to_compact)


def downgrade() -> None:
    bind = op.get_bind()
    _convert(bind, notification.c.title.is_(None), _to_expanded)
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_board')
        batch_op.create_index('ix_deadline_board', ['is_key', 'board_date', 'due_date', 'item_id', 'id'], unique=False)
        batch_op.create_index('ix_deadline_status', ['status'], unique=False)
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_unread_item')
        batch_op.create_index('ix_notification_item_id', ['item_id'], unique=False)
        batch_op.drop_index('ix_notification_unread')
        batch_op.create_index('ix_notification_unread', ['user_id', 'read_at'], unique=False)
        batch_op.alter_column('title', existing_type=sa.String(length=300), nullable=False)
