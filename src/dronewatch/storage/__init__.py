"""Storage: SQLite by default, PostgreSQL by URL, through SQLAlchemy; Alembic migrations."""

from dronewatch.storage.database import create_database_engine, migrate, open_database
from dronewatch.storage.repository import AuditCheck, Repository

__all__ = ["AuditCheck", "Repository", "create_database_engine", "migrate", "open_database"]
