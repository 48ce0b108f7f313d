"""分办 (separate handling, issue 12): rating.unit_id and rehandling_order.unit_id say which separate unit's reply
a rating rates or a re-handling order concerns (NULL for the item's own reply, its lead unit's); separate units'
parts are assignment rows with role 'separate'.

Revision ID: d2a5c7e91f30
Revises: d7a41c2e9f10
Create Date: 2026-12-01 01:20:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'd2a5c7e91f30'
down_revision: Union[str, Sequence[str], None] = 'd7a41c2e9f10'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_rating_unit_id_unit'), 'unit', ['unit_id'], ['id'])
    with op.batch_alter_table('rehandling_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_rehandling_order_unit_id_unit'), 'unit', ['unit_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('rehandling_order', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_rehandling_order_unit_id_unit'), type_='foreignkey')
        batch_op.drop_column('unit_id')
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_rating_unit_id_unit'), type_='foreignkey')
        batch_op.drop_column('unit_id')
