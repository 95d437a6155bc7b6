"""The steps of the orchestrator's workflows, one per module."""
