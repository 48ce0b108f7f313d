"""Public year and unit of a published reply (issue 14): disclosure.public_year and public_unit_id, the item's
year and lead unit stored at publication (NULL for scope 'none'), indexed so that the public list's year and
unit choices are read one index seek per year or unit rather than by joining every published item. Filled
here for the replies already published. And ix_unit_name, along which the unit filters' type-ahead reads.

Revision ID: 138a1130a856
Revises: e8b3f0c6a2d4
Create Date: 2026-12-01 04:00:18

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '138a1130a856'
down_revision: Union[str, Sequence[str], None] = 'e8b3f0c6a2d4'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PUBLISHED = ("full", "summary")


def upgrade() -> None:
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_year', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('public_unit_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_disclosure_public_unit_id'), ['public_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_disclosure_public_year'), ['public_year'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_disclosure_public_unit_id_unit'), 'unit', ['public_unit_id'], ['id'])
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_name'), ['name'], unique=False)
    disclosure = sa.table("disclosure", sa.column("item_id", sa.Integer), sa.column("scope", sa.String),
                          sa.column("public_year", sa.Integer), sa.column("public_unit_id", sa.Integer))
    item = sa.table("item", sa.column("id", sa.Integer), sa.column("year", sa.Integer),
                    sa.column("lead_unit_id", sa.Integer))
    of_item = item.c.id == disclosure.c.item_id
    op.execute(disclosure.update().where(disclosure.c.scope.in_(PUBLISHED)).values(
        public_year=sa.select(item.c.year).where(of_item).scalar_subquery(),
        public_unit_id=sa.select(item.c.lead_unit_id).where(of_item).scalar_subquery()))


def downgrade() -> None:
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_name'))
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_disclosure_public_unit_id_unit'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_disclosure_public_year'))
        batch_op.drop_index(batch_op.f('ix_disclosure_public_unit_id'))
        batch_op.drop_column('public_unit_id')
        batch_op.drop_column('public_year')
