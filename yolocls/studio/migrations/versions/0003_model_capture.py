"""A deployed model's capture setting: keep copies of the requests it answered `unknown` or below a confidence.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_capture",
        sa.Column("model", sa.String(100), primary_key=True),
        sa.Column("settings", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_capture")
