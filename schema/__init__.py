"""The shapes of data shared by the ingestor and the gateway. No I/O here."""
