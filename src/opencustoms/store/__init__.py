"""Storage: SQLAlchemy 2 tables, Alembic migrations, engines. SQLite under ./var/ by default, PostgreSQL by URL."""
