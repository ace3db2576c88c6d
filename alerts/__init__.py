"""The alerts process: stored reads matched against hotlists, alerts raised
once per vehicle pass, past hits searched, webhooks delivered.

A floor of its own beside the ingestor and the gateway: it imports core,
schema and sql only, and meets the other processes in the database.
"""
