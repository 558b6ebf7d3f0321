"""bot/store: SQLite and PostgreSQL, migrations, and the database's own faults."""
