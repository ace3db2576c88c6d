"""What both processes share: settings, database access, migrations, the CLI."""
