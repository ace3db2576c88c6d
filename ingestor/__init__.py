"""The one writer: Kafka, HTTP and file sources into PostgreSQL."""
