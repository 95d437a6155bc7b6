"""Guardrails: the redaction gate, per-trigger action allow-lists and the labelling of untrusted text."""
