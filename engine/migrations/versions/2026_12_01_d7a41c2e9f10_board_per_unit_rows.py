"""the board's per-unit table in O(page) (issue 14): per-unit rows (deadline_unit_tally) in the table's order,
for each filter the board offers; summary rows of every unit together (negative unit ids, in 16 shards) for
the per-step table; the summary rows that count, by unit and date (ix_deadline_tally_unit). Filled from
deadline_tally.

Revision ID: d7a41c2e9f10
Revises: f6fb5ae91b9a
Create Date: 2026-12-01 01:20:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'd7a41c2e9f10'
down_revision: Union[str, Sequence[str], None] = 'f6fb5ae91b9a'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'deadline_unit_tally',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('item_type', sa.String(length=20), nullable=False),
        sa.Column('key_only', sa.Boolean(), nullable=False),
        sa.Column('leader_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('minus_flagged', sa.Integer(), nullable=False),
        sa.Column('dated', sa.Integer(), nullable=False),
        sa.Column('first_due', sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint('key', 'item_type', 'key_only', 'leader_id', 'unit_id',
                                name=op.f('pk_deadline_unit_tally')),
    )
    with op.batch_alter_table('deadline_unit_tally', schema=None) as batch_op:
        batch_op.create_index('ix_deadline_unit_tally_rank', ['key', 'item_type', 'key_only', 'leader_id',
                                                              'minus_flagged', 'first_due', 'unit_id'], unique=False)
    with op.batch_alter_table('deadline_tally', schema=None) as batch_op:
        batch_op.create_index('ix_deadline_tally_unit', ['unit_id', 'board_date'], unique=False,
                              sqlite_where=sa.text('n > 0'), postgresql_where=sa.text('n > 0'))
    pg = op.get_bind().dialect.name == "postgresql"
    flagged, no_date = ("DATE '0001-01-01'", "DATE '9999-12-31'") if pg else ("'0001-01-01'", "'9999-12-31'")
    true, false = ("true", "false") if pg else ("1", "0")
    # One SELECT per combination of the board's filters (deadlines.tally.scopes): each filter names its
    # value or takes every one ('*'; key items only or all; a leader's items or all: 0).
    parts = []
    for key in ("key", "'*'"):
        for item_type in ("item_type", "'*'"):
            for key_only in (False, True):
                for leader in ("0", "leader_id"):
                    where = " AND ".join(c for c in ("n > 0", "unit_id >= 0", (f"is_key = {true}" if key_only else ""),
                                                     ("leader_id <> 0" if leader != "0" else "")) if c)
                    parts.append(
                        f"SELECT {key} AS k, {item_type} AS t, {true if key_only else false} AS o, {leader} AS l, "
                        f"unit_id, -sum(CASE WHEN board_date = {flagged} THEN n ELSE 0 END), "
                        f"sum(CASE WHEN board_date <> {flagged} THEN n ELSE 0 END), "
                        f"COALESCE(min(CASE WHEN board_date <> {flagged} THEN board_date END), {no_date}) "
                        f"FROM deadline_tally WHERE {where} "
                        "GROUP BY " + ", ".join(c for c in (key, item_type, leader, "unit_id") if c[0] not in "'0"))
    op.execute("INSERT INTO deadline_unit_tally (key, item_type, key_only, leader_id, unit_id, minus_flagged, "
               "dated, first_due) " + " UNION ALL ".join(parts))
    # Every unit's rows (deadlines.tally.ALL_UNITS): 16 shards, unit u in shard -1 - u % 16.
    op.execute("INSERT INTO deadline_tally (board_date, unit_id, key, item_type, is_key, leader_id, n) "
               "SELECT board_date, -1 - unit_id % 16, key, item_type, is_key, leader_id, sum(n) FROM deadline_tally "
               "WHERE n > 0 AND unit_id >= 0 GROUP BY board_date, -1 - unit_id % 16, key, item_type, is_key, leader_id")


def downgrade() -> None:
    with op.batch_alter_table('deadline_tally', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_tally_unit')
    op.drop_table('deadline_unit_tally')
    op.execute("DELETE FROM deadline_tally WHERE unit_id < 0")
