"""The ingestor's sources, each feeding `ingestor.pipeline`: Kafka, HTTP, files.

A source only receives messages and acknowledges what the pipeline
committed: `kafka.py` consumes a topic and commits offsets, `http.py` serves
`POST /ingest` and answers with what became of the body, `files.py` reads
NDJSON, JSON arrays and CSV and saves a checkpoint beside the file.
"""
