"""Bedrock action groups: operation definitions, the dispatcher, envelopes, schema export and checks."""
