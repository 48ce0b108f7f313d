"""The type-ahead's index of unit names (issue 14): unit_name_gram, each character and each pair of adjacent
characters of a unit's name with the name, so that the units whose name contains what was typed are read in
name order through the rows of one of its pairs, not by trying LIKE '%...%' on every unit. Filled here for the
units there are; the application keeps it as units are added or renamed (engine.people.unit_search).

Revision ID: 5c3e9a7d1b24
Revises: 5c0e7a3d9b14
Create Date: 2026-12-01 07:40:00

"""
import string
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '5c3e9a7d1b24'
down_revision: Union[str, Sequence[str], None] = '5c0e7a3d9b14'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _grams(name: str) -> list[str]:
    """As engine.people.unit_search.name_grams at this revision (a migration does not import the application)."""
    folded = name.translate(_ASCII_LOWER)
    return sorted(set(folded) | {folded[k:k + 2] for k in range(len(folded) - 1)})


def upgrade() -> None:
    grams = op.create_table(
        'unit_name_gram',
        sa.Column('gram', sa.String(length=2), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_unit_name_gram_unit_id_unit'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('gram', 'name', 'unit_id', name=op.f('pk_unit_name_gram')))
    with op.batch_alter_table('unit_name_gram', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_name_gram_unit_id'), ['unit_id'], unique=False)
    unit = sa.table("unit", sa.column("id", sa.Integer), sa.column("name", sa.String))
    units = op.get_bind().execute(sa.select(unit.c.id, unit.c.name).order_by(unit.c.id)).all()
    rows = [dict(gram=g, name=name, unit_id=unit_id) for unit_id, name in units for g in _grams(name)]
    for k in range(0, len(rows), 5000):
        op.bulk_insert(grams, rows[k:k + 5000])


def downgrade() -> None:
    with op.batch_alter_table('unit_name_gram', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_name_gram_unit_id'))
    op.drop_table('unit_name_gram')
