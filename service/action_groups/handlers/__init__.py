"""Handlers of the built-in action groups, one module per group."""
