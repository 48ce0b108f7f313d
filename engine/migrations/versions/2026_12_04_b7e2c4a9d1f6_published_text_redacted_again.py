"""Published text redacted again: the redaction learnt shapes it missed (soft hyphens and other invisible
characters between digits, styled and circled digits, tildes between groups, WeChat ids), and the public
pages read only what was stored when the office published. Each stored public title, text and content is
run through the redaction once more; what it already hid stays hidden, what it missed goes now.

Revision ID: b7e2c4a9d1f6
Revises: 9d4b2e7c1a53
Create Date: 2026-12-04 16:10:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'b7e2c4a9d1f6'
down_revision: Union[str, Sequence[str], None] = '9d4b2e7c1a53'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

def upgrade() -> None:
    from engine.people.redaction import redact_published  # today's rules: a stricter one later only hides more

    redact_published(op.get_bind())


def downgrade() -> None:
    """Nothing to undo: what was hidden stays hidden."""
