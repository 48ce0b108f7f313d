"""incident lifecycle, item counter, registration token

Revision ID: 8a3a9d8cf62e
Revises: 568fa44684f7
Create Date: 2026-11-30 18:45:30.812457

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '8a3a9d8cf62e'
down_revision: Union[str, Sequence[str], None] = '568fa44684f7'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    
    op.create_table('item_counter',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('item_type', sa.String(length=20), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', 'item_type', name=op.f('pk_item_counter'))
    )
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolved_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('occurrences', sa.Integer(), server_default='1', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_incident_resolved_by_id_user_account'), 'user_account', ['resolved_by_id'], ['id'])

    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_token', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_item_request_token'), ['request_token'])




def downgrade() -> None:
    """Downgrade schema."""
    
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_item_request_token'), type_='unique')
        batch_op.drop_column('request_token')

    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_incident_resolved_by_id_user_account'), type_='foreignkey')
        batch_op.drop_column('occurrences')
        batch_op.drop_column('resolved_by_id')

    op.drop_table('item_counter')

