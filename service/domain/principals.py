"""Who is calling, and what they may touch."""

from __future__ import annotations

from dataclasses import dataclass

ALL = "*"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an API key's name and its scopes.

    Scopes hold names or ``"*"`` for all. ``name`` is safe to log; it is never the secret.
    """

    name: str
    action_groups: frozenset[str] = frozenset({ALL})
    jira_projects: frozenset[str] = frozenset({ALL})

    def may_call(self, action_group: str) -> bool:
        """True when this caller may invoke operations of ``action_group``."""
        return ALL in self.action_groups or action_group in self.action_groups

    def may_touch_project(self, project_key: str) -> bool:
        """True when this caller may read or write issues of Jira project ``project_key``."""
        return ALL in self.jira_projects or project_key.upper() in {p.upper() for p in self.jira_projects}


LOCAL_OPERATOR = Principal(name="local")
"""The caller when no API keys are configured (loopback only), and for the CLI on the same machine."""

LAMBDA_INVOKER = Principal(name="lambda")
"""The caller of the Lambda entry point; AWS IAM decided who may invoke the function."""
