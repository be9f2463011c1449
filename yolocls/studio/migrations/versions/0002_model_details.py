"""Model versions remember what the page needs to know without loading them: image size and classes.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("imgsz", sa.Integer, nullable=True))
        batch.add_column(sa.Column("classes", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("classes")
        batch.drop_column("imgsz")
