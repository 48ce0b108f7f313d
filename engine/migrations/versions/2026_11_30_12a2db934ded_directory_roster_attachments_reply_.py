"""directory roster attachments reply letter (issue 13)

Users get the roster fields (代表证号/委员编号, 代表团/界别) and the instant their e-mail address was set;
units the document-number prefix of their reply letters; replies the letter's number; new tables for the
yearly letter counters and attachments. Addresses already present count as set at the upgrade.

Revision ID: 12a2db934ded
Revises: bee59555f532
Create Date: 2026-11-30 18:43:07.703209

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '12a2db934ded'
down_revision: Union[str, Sequence[str], None] = 'bee59555f532'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('letter_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_letter_counter_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letter_counter')),
    sa.UniqueConstraint('unit_id', 'year', name=op.f('uq_letter_counter_unit_id'))
    )
    op.create_table('attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage', sa.String(length=20), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=True),
    sa.Column('uploaded_by', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_attachment_item_id_item')),
    sa.ForeignKeyConstraint(['uploaded_by'], ['user_account.id'], name=op.f('fk_attachment_uploaded_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachment'))
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachment_item_id'), ['item_id'], unique=False)

    with op.batch_alter_table('reply', schema=None) as batch_op:
        batch_op.add_column(sa.Column('letter_number', sa.String(length=80), nullable=True))

    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('letter_prefix', sa.String(length=40), nullable=True))

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_set_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('roster_number', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('delegation', sa.String(length=120), nullable=True))
    op.execute("UPDATE user_account SET email_set_at = CURRENT_TIMESTAMP WHERE email IS NOT NULL")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('delegation')
        batch_op.drop_column('roster_number')
        batch_op.drop_column('email_set_at')

    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_column('letter_prefix')

    with op.batch_alter_table('reply', schema=None) as batch_op:
        batch_op.drop_column('letter_number')

    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachment_item_id'))

    op.drop_table('attachment')
    op.drop_table('letter_counter')
