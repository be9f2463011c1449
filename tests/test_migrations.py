"""Upgrading yolocls never means deleting the studio's database: a database made by an older version (schema
0003, with its rows) is brought to the newest schema by the studio's own migration step, rows kept; and the
labelling migrations go down and up again. On SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from yolocls.studio.db import MIGRATIONS, make_engine, migrate

NEW_TABLES = {"images", "label_changes", "classes", "dataset_versions", "suggestions"}


def _config(connection) -> Config:  # type: ignore[no-untyped-def]
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _old_database_upgraded(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        command.upgrade(_config(c), "0003")  # what a studio from before labelling left behind
        c.execute(text("INSERT INTO datasets (id, name, status, source, options, created) VALUES "
                       "('d1', 'shoes', 'ready', '.studio/uploads/d1', '{}', CURRENT_TIMESTAMP)"))
    assert not NEW_TABLES & set(inspect(engine).get_table_names())
    migrate(engine)  # what the studio does when it starts
    assert NEW_TABLES <= set(inspect(engine).get_table_names())
    with engine.begin() as c:
        assert c.execute(text("SELECT name FROM datasets")).scalars().all() == ["shoes"]
        c.execute(text("INSERT INTO images (dataset_id, name, file, sha256, grp, label, revision) VALUES "
                       "('d1', 'a.png', 'datasets/shoes/train/x/a.png', 'ab', 'ab', 'x', 0)"))
    with engine.begin() as c:
        command.downgrade(_config(c), "0003")
    assert not NEW_TABLES & set(inspect(engine).get_table_names())
    migrate(engine)
    assert NEW_TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_an_older_sqlite_database_is_upgraded_with_its_rows(tmp_path: Path):
    _old_database_upgraded(f"sqlite:///{tmp_path / 'studio.db'}")


@pytest.mark.integration
def test_an_older_postgresql_database_is_upgraded_with_its_rows(postgres):
    _old_database_upgraded(postgres.database("upgrade"))
