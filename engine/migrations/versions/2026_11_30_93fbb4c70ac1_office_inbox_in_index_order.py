"""pages in index order (issue 14): the office inbox off (lane, due_at, created_at), the public
replies off published_at

Revision ID: 93fbb4c70ac1
Revises: 12a2db934ded
Create Date: 2026-11-30 19:08:02.939532

"""
from typing import Sequence, Union

from alembic import op



# revision identifiers, used by Alembic.
revision: str = '93fbb4c70ac1'
down_revision: Union[str, Sequence[str], None] = '12a2db934ded'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('task_row', schema=None) as batch_op:
        batch_op.create_index('ix_task_row_lane_due', ['lane', 'due_at', 'created_at'], unique=False)
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosure_published_at'), ['published_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosure_published_at'))
    with op.batch_alter_table('task_row', schema=None) as batch_op:
        batch_op.drop_index('ix_task_row_lane_due')
