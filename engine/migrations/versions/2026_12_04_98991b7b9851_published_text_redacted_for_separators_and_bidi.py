"""Published text redacted again: the redaction learnt shapes it missed (digit groups split by line breaks,
commas or asterisks; a number stored reversed that a right-to-left override or embedding shows in order; a
detail glued to another; a mobile or ID number split by 、; a letters-only WeChat id without a colon, which
text published between d1a26f5 and 3bd6caa showed in clear) and now publishes no bidi control. Each stored
public title, text and content is run through the redaction once more, as b7e2c4a9d1f6 did; what it already
hid stays hidden, what it missed goes now. Words it hid wrongly before (微信 Official, a number after Hotel)
stay hidden: the public columns no longer hold them.

Revision ID: 98991b7b9851
Revises: 29abef6f0583
Create Date: 2026-12-04 17:56:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '98991b7b9851'
down_revision: Union[str, Sequence[str], None] = '29abef6f0583'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

def upgrade() -> None:
    from engine.people.redaction import redact_published  # today's rules: a stricter one later only hides more

    redact_published(op.get_bind())


def downgrade() -> None:
    """Nothing to undo: what was hidden stays hidden."""
