"""联名/附议 by person: item_cosigner links an item to the proposers the office picked at registration, so that
access follows the person and not the name shown (a namesake added later saw the other's co-signed items).
Filled here from Item.cosigners: a name that exactly one proposer bears is that proposer; a name two
proposers bear already links nobody (the portal cannot tell them apart, and guessing would show an item to
the wrong person), and the office can register it again.

Revision ID: 9d4b2e7c1a53
Revises: 5c3e9a7d1b24
Create Date: 2026-12-04 15:10:00

"""
import re
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '9d4b2e7c1a53'
down_revision: Union[str, Sequence[str], None] = '5c3e9a7d1b24'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_SEPARATORS = re.compile(r"[、,，;；/\s]+")  # as Item.cosigners was split at this revision


def upgrade() -> None:
    links = op.create_table(
        'item_cosigner',
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_item_cosigner_item_id_item')),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_item_cosigner_user_id_user_account')),
        sa.PrimaryKeyConstraint('item_id', 'user_id', name=op.f('pk_item_cosigner')))
    with op.batch_alter_table('item_cosigner', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_cosigner_user_id'), ['user_id'], unique=False)
    bind = op.get_bind()
    user = sa.table("user_account", sa.column("id", sa.Integer), sa.column("name", sa.String),
                    sa.column("role", sa.String))
    item = sa.table("item", sa.column("id", sa.Integer), sa.column("cosigners", sa.Text),
                    sa.column("proposer_id", sa.Integer))
    bearers: dict[str, list[int]] = {}
    for user_id, name in bind.execute(sa.select(user.c.id, user.c.name).where(user.c.role == "proposer")):
        bearers.setdefault(name, []).append(user_id)
    rows = []
    for item_id, names, lead in bind.execute(sa.select(item.c.id, item.c.cosigners, item.c.proposer_id)
                                             .where(item.c.cosigners.isnot(None))):
        picked = {bearers[n][0] for n in _SEPARATORS.split(names) if len(bearers.get(n, ())) == 1}
        rows += [dict(item_id=item_id, user_id=u) for u in sorted(picked - {lead})]
    for k in range(0, len(rows), 5000):
        op.bulk_insert(links, rows[k:k + 5000])


def downgrade() -> None:
    with op.batch_alter_table('item_cosigner', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_cosigner_user_id'))
    op.drop_table('item_cosigner')
