"""Opening the database: SQLite (WAL, foreign keys on) by default, PostgreSQL by URL; migrations.

Migrations are Alembic revisions shipped in the package (``storage/migrations``) and run
programmatically: :func:`open_database` brings any database to the newest revision.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from dronewatch.errors import ConfigError


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable at each checkpoint, safe against corruption
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_database_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite files get their folder created and the pragmas set)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"storage.url: {url!r} is not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise ConfigError(f"storage.url: {parsed.get_backend_name()!r} is not supported; use sqlite or postgresql")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the newest by default)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(resources.files("dronewatch.storage") / "migrations"))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except OperationalError as error:
        raise ConfigError(f"storage: cannot open {engine.url.render_as_string(hide_password=True)}: "
                          f"{error.orig}") from None


def open_database(url: str) -> Engine:
    """An engine for ``url`` with the schema migrated to the newest revision."""
    engine = create_database_engine(url)
    migrate(engine)
    return engine
