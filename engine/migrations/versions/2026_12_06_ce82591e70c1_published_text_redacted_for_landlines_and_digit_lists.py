"""Published text redacted again: the redaction learnt shapes it missed (a landline split by 、 after its area
code, a mobile or ID number written digit by digit with 、, an ID number glued to letters). Each stored public
title, text and content is run through the redaction once more, as 98991b7b9851 did; what it already hid stays
hidden, what it missed goes now.

Revision ID: ce82591e70c1
Revises: 98991b7b9851
Create Date: 2026-12-06 21:00:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'ce82591e70c1'
down_revision: Union[str, Sequence[str], None] = '98991b7b9851'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    from engine.people.redaction import redact_published  # today's rules: a stricter one later only hides more

    redact_published(op.get_bind())


def downgrade() -> None:
    """Nothing to undo: what was hidden stays hidden."""
