"""incident errors and deadline calendar warnings as catalog messages (issue 13): incident.error_message and
deadline.warning_message keep the msgid and parameters of a sandbox refusal and of a calendar warning, so each
reader sees them in their language. The calendar warnings already stored (the one message the ledger writes)
become that message; other rows keep their text and are shown as they are.

Revision ID: f6fb5ae91b9a
Revises: c13e7a1f0b42
Create Date: 2026-12-01 01:20:00

"""
import re
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'f6fb5ae91b9a'
down_revision: Union[str, Sequence[str], None] = 'c13e7a1f0b42'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# engine.deadlines.ledger's warning, as it was stored in Chinese.
WARNING_MSGID = "%(years)s年节假日数据未载入，按周末计算"
WARNING = re.compile(r"\s*(\d{4}(?:\s*[、,，]\s*\d{4})*)\s*年节假日.*", re.S)


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error_message', sa.JSON(), nullable=True))
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warning_message', sa.JSON(), nullable=True))
    deadline = sa.table('deadline', sa.column('id', sa.Integer), sa.column('warning', sa.String),
                        sa.column('warning_message', sa.JSON))
    bind = op.get_bind()
    for row_id, text in bind.execute(sa.select(deadline.c.id, deadline.c.warning)
                                     .where(deadline.c.warning.is_not(None))).all():
        found = WARNING.fullmatch(text or "")
        if found:
            bind.execute(deadline.update().where(deadline.c.id == row_id).values(
                warning_message={"id": WARNING_MSGID, "params": {"years": "、".join(re.findall(r"\d{4}", found.group(1)))}}))


def downgrade() -> None:
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.drop_column('warning_message')
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('error_message')
