"""Labelling: a dataset's images (its working copy), label changes, classes with keys, dataset versions.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("grp", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer, nullable=False, server_default="0"),
        sa.Column("height", sa.Integer, nullable=False, server_default="0"),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("split", sa.String(8), nullable=True),
        sa.Column("version_label", sa.String(100), nullable=True),
        sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
        sa.Column("author", sa.String(100), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("dataset_id", "name"),
    )
    op.create_index("ix_images_dataset_label", "images", ["dataset_id", "label"])
    op.create_table(
        "label_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
        sa.Column("old", sa.String(100), nullable=True),
        sa.Column("new", sa.String(100), nullable=True),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_label_changes_dataset_id", "label_changes", ["dataset_id"])
    op.create_index("ix_label_changes_image_id", "label_changes", ["image_id"])
    op.create_table(
        "classes",
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(4), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("images", sa.Integer, nullable=False, server_default="0"),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=True),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("author", sa.String(100), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("built", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("dataset_id", "number"),
    )
    op.create_index("ix_dataset_versions_dataset_id", "dataset_versions", ["dataset_id"])


def downgrade() -> None:
    op.drop_table("dataset_versions")
    op.drop_table("classes")
    op.drop_table("label_changes")
    op.drop_table("images")
