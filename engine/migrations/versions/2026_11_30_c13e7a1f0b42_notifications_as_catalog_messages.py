"""notifications as catalog messages (issue 13): notification.message keeps the msgid and parameters of
the title and body so each reader sees them in their language; user_account.lang the language e-mails use.
Rows written before keep their Chinese title and body and are shown as they are.

Revision ID: c13e7a1f0b42
Revises: a5889f58d829
Create Date: 2026-11-30 22:10:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'c13e7a1f0b42'
down_revision: Union[str, Sequence[str], None] = 'a5889f58d829'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message', sa.JSON(), nullable=True))
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lang', sa.String(length=5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('lang')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('message')
