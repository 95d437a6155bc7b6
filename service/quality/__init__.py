"""Quality checks: one checker per module, all producing the same :class:`service.domain.findings.Finding`."""
