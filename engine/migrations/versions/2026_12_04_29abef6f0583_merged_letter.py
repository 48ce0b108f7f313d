"""merged_letter: the letter of an item merged into another (并案) gets a document number of its own; it carried
the lead letter's, two letters issued under one 发文字号. Nothing is drawn here: a merged item whose lead reply
was approved before has no letter until the office draws its number on the item page (编发文字号), as a reply
approved before numbers were drawn at approval.

Revision ID: 29abef6f0583
Revises: b7e2c4a9d1f6
Create Date: 2026-12-04 17:50:00.459900

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '29abef6f0583'
down_revision: Union[str, Sequence[str], None] = 'b7e2c4a9d1f6'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('merged_letter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reply_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('letter_number', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_merged_letter_item_id_item')),
    sa.ForeignKeyConstraint(['reply_id'], ['reply.id'], name=op.f('fk_merged_letter_reply_id_reply')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merged_letter')),
    sa.UniqueConstraint('reply_id', 'item_id', name=op.f('uq_merged_letter_reply_id'))
    )
    with op.batch_alter_table('merged_letter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merged_letter_item_id'), ['item_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('merged_letter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merged_letter_item_id'))

    op.drop_table('merged_letter')