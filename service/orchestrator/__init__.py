"""Workflows as explicit, persisted state machines: steps, budgets, planners and the agent loop."""
