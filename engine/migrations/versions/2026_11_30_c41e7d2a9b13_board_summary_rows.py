"""the board in O(page) (issue 14): deadlines carry their item's grouping and a board date along an index;
summary rows (deadline_tally) count open deadlines per board date, unit, key and item group; the inbox
and the public list indexes end with a unique column, for keyset pages; the item list's filters have indexes
in its order

Revision ID: c41e7d2a9b13
Revises: a5889f58d829
Create Date: 2026-11-30 22:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'c41e7d2a9b13'
down_revision: Union[str, Sequence[str], None] = 'a5889f58d829'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index('ix_item_status')
        batch_op.drop_index('ix_item_is_key')
        batch_op.drop_index('ix_item_year_type_status')
        batch_op.create_index('ix_item_status_list', ['status', 'year', 'item_type', 'number'], unique=False)
        batch_op.create_index('ix_item_type_list', ['item_type', 'year', 'number'], unique=False)
        batch_op.create_index('ix_item_key_list', ['is_key', 'year', 'item_type', 'number'], unique=False)
    with op.batch_alter_table('task_row', schema=None) as batch_op:
        batch_op.drop_index('ix_task_row_lane_due')
        batch_op.create_index('ix_task_row_lane_due', ['lane', 'due_at', 'created_at', 'id'], unique=False)
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.drop_index('ix_disclosure_published_at')
        batch_op.create_index('ix_disclosure_published', ['published_at', 'id'], unique=False)
    op.create_table(
        'deadline_tally',
        sa.Column('board_date', sa.Date(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('item_type', sa.String(length=20), nullable=False),
        sa.Column('is_key', sa.Boolean(), nullable=False),
        sa.Column('leader_id', sa.Integer(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('board_date', 'unit_id', 'key', 'item_type', 'is_key', 'leader_id',
                                name=op.f('pk_deadline_tally')),
    )
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('item_type', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('is_key', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('leader_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('board_date', sa.Date(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_deadline_leader_id_user_account'), 'user_account', ['leader_id'], ['id'])
        batch_op.create_index('ix_deadline_board', ['is_key', 'board_date', 'due_date', 'item_id', 'id'], unique=False)
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.alter_column('is_key', server_default=None)
    # Existing deadlines: their item's grouping, their board date, and the summary rows counted from them.
    op.execute("UPDATE deadline SET item_type = (SELECT item.item_type FROM item WHERE item.id = deadline.item_id), "
               "is_key = COALESCE((SELECT item.is_key FROM item WHERE item.id = deadline.item_id), false), "
               "leader_id = (SELECT item.leader_id FROM item WHERE item.id = deadline.item_id), "
               "board_date = CASE WHEN status = 'overdue' THEN DATE '0001-01-01' "
               "WHEN status = 'open' THEN due_date END"
               if op.get_bind().dialect.name == "postgresql" else
               "UPDATE deadline SET item_type = (SELECT item.item_type FROM item WHERE item.id = deadline.item_id), "
               "is_key = COALESCE((SELECT item.is_key FROM item WHERE item.id = deadline.item_id), 0), "
               "leader_id = (SELECT item.leader_id FROM item WHERE item.id = deadline.item_id), "
               "board_date = CASE WHEN status = 'overdue' THEN '0001-01-01' WHEN status = 'open' THEN due_date END")
    op.execute("INSERT INTO deadline_tally (board_date, unit_id, key, item_type, is_key, leader_id, n) "
               "SELECT board_date, COALESCE(unit_id, 0), key, COALESCE(item_type, ''), is_key, COALESCE(leader_id, 0), "
               "count(*) FROM deadline WHERE board_date IS NOT NULL "
               "GROUP BY board_date, COALESCE(unit_id, 0), key, COALESCE(item_type, ''), is_key, COALESCE(leader_id, 0)")


def downgrade() -> None:
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_board')
        batch_op.drop_constraint(op.f('fk_deadline_leader_id_user_account'), type_='foreignkey')
        batch_op.drop_column('board_date')
        batch_op.drop_column('leader_id')
        batch_op.drop_column('is_key')
        batch_op.drop_column('item_type')
    op.drop_table('deadline_tally')
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.drop_index('ix_disclosure_published')
        batch_op.create_index('ix_disclosure_published_at', ['published_at'], unique=False)
    with op.batch_alter_table('task_row', schema=None) as batch_op:
        batch_op.drop_index('ix_task_row_lane_due')
        batch_op.create_index('ix_task_row_lane_due', ['lane', 'due_at', 'created_at'], unique=False)
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index('ix_item_key_list')
        batch_op.drop_index('ix_item_type_list')
        batch_op.drop_index('ix_item_status_list')
        batch_op.create_index('ix_item_is_key', ['is_key'], unique=False)
        batch_op.create_index('ix_item_year_type_status', ['year', 'item_type', 'status'], unique=False)
        batch_op.create_index('ix_item_status', ['status'], unique=False)
