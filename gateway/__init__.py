"""The one reader: GraphQL and REST over the stored reads."""
