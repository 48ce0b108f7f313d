"""notifications and timeline entries as catalog messages (issue 13): notification.message and
audit_event.message keep the msgid and parameters of the text so each reader sees it in their language;
user_account.lang the language e-mails use. Rows written before keep their Chinese text and are shown as
they are.

Revision ID: c13e7a1f0b42
Revises: c41e7d2a9b13
Create Date: 2026-11-30 22:10:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'c13e7a1f0b42'
down_revision: Union[str, Sequence[str], None] = 'c41e7d2a9b13'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message', sa.JSON(), nullable=True))
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lang', sa.String(length=5), nullable=True))
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('message')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('lang')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('message')
