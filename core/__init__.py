"""The ground floor both processes stand on: settings, database access and its
error translation, the migration runner, API keys, legal holds, logging and
the embedded PostgreSQL server. It imports `schema` and `sql`, never a process."""
