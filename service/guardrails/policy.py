"""Which actions each trigger may take: the per-trigger allow-lists of ``settings.guardrails``.

Actions are named ``<action group>.<operationId>`` (``jira.createIssue``) or after a workflow action
(``kb.sync``, ``quality.check``, ``tickets.file``). Built-in defaults, per trigger:

- ``cli``: everything (a person at the terminal runs it).
- ``rest``, ``chat``: every read; every write, but only after a person confirms it.
- ``bedrock``, ``lambda``: every read; writes whose schema carries ``x-requireConfirmation`` (Bedrock asks the
  user before calling them); other writes are refused.
- ``jira`` (webhooks carry untrusted text, and nobody is there to confirm): ``codebase.*``, ``quality.*``,
  ``kb.sync``, ``jira.searchIssues``, ``jira.getIssue``, ``jira.addComment``, ``tickets.file`` (filing goes
  through the deduplicating ticket filer). Never ``jira.transitionIssue`` or ``jira.createIssue``.

A trigger named in ``allowed_actions`` gets exactly its configured ``fnmatch`` patterns instead. A write
allowed that way still needs confirmation from ``rest`` and ``chat``, and from ``bedrock``/``lambda`` unless
Bedrock confirms it itself. An action the policy knows nothing about counts as a write.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from service.domain.action_calls import Trigger
from service.errors import ConfigurationError
from service.settings import GuardrailSettings


@dataclass(frozen=True, slots=True)
class ActionTraits:
    """What the policy needs to know about an action: whether it changes state, and whether Bedrock asks the
    user before calling it (``x-requireConfirmation`` in its schema)."""

    writes: bool
    bedrock_confirms: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer. ``needs_confirmation``: allowed only once a person has confirmed this call
    (return of control); the caller must not perform it before."""

    allowed: bool
    reason: str
    needs_confirmation: bool = False


# Workflow actions, which are not action-group operations.
WORKFLOW_ACTIONS: Mapping[str, ActionTraits] = {
    "kb.sync": ActionTraits(writes=False),  # refreshes the service's own index; nothing outside changes
    "quality.check": ActionTraits(writes=False),
    "tickets.file": ActionTraits(writes=True),
}

JIRA_WEBHOOK_DEFAULT: tuple[str, ...] = (
    "codebase.*",
    "quality.*",
    "kb.sync",
    "jira.searchIssues",
    "jira.getIssue",
    "jira.addComment",
    "tickets.file",
)

_CONFIRMING_TRIGGERS = frozenset({Trigger.REST, Trigger.CHAT})
_BEDROCK_TRIGGERS = frozenset({Trigger.BEDROCK, Trigger.LAMBDA})

ActionLookup = Callable[[str], ActionTraits | None]


def _no_lookup(_action: str) -> ActionTraits | None:
    return None


class ActionPolicy:
    """Answers ``allows(trigger, action)`` from the settings' allow-lists and the built-in defaults.

    ``actions`` tells reads from writes for the action-group operations (the composition root passes one over
    the registry); workflow actions are known here. Raises :class:`ConfigurationError` for a trigger name in
    the settings that is not one of :class:`Trigger`'s.
    """

    def __init__(self, settings: GuardrailSettings, *, actions: ActionLookup = _no_lookup) -> None:
        known = {trigger.value for trigger in Trigger}
        unknown = sorted(set(settings.allowed_actions) - known)
        if unknown:
            raise ConfigurationError(
                f"guardrails.allowed_actions names unknown triggers: {', '.join(unknown)}",
                hint=f"use {', '.join(sorted(known))}",
            )
        self._configured = {Trigger(name): tuple(patterns) for name, patterns in settings.allowed_actions.items()}
        self._lookup = actions

    def traits(self, action: str) -> ActionTraits:
        """How the policy sees ``action``; unknown actions are writes Bedrock does not confirm."""
        return WORKFLOW_ACTIONS.get(action) or self._lookup(action) or ActionTraits(writes=True)

    def patterns(self, trigger: Trigger) -> tuple[str, ...] | None:
        """The configured patterns of ``trigger`` (the jira default when unset), or None for a trait-based
        default."""
        if trigger in self._configured:
            return self._configured[trigger]
        return JIRA_WEBHOOK_DEFAULT if trigger is Trigger.JIRA_WEBHOOK else None

    def allows(self, trigger: Trigger, action: str) -> Decision:
        """May ``trigger`` take ``action``, and does a person have to confirm it first?"""
        traits = self.traits(action)
        patterns = self.patterns(trigger)
        if patterns is not None:
            matched = next((p for p in patterns if fnmatch.fnmatchcase(action, p)), None)
            source = "configured" if trigger in self._configured else "default"
            if matched is None:
                return Decision(False, f"{action} is not in the {source} allow-list of the {trigger.value} trigger")
            return Decision(
                True, f"{action} matches {matched!r} ({source}, {trigger.value})", self._confirm(trigger, traits)
            )
        if trigger is Trigger.CLI or not traits.writes:
            what = "everything" if trigger is Trigger.CLI else "reads"
            return Decision(True, f"the {trigger.value} trigger allows {what} by default")
        if trigger in _CONFIRMING_TRIGGERS:
            return Decision(True, f"{action} writes: the {trigger.value} trigger needs a confirmation", True)
        if traits.bedrock_confirms:
            return Decision(True, f"{action} writes and Bedrock confirms it with the user (x-requireConfirmation)")
        return Decision(
            False, f"{action} writes without x-requireConfirmation; the {trigger.value} trigger may not call it"
        )

    def check(self, trigger: Trigger, action: str) -> tuple[bool, str]:
        """``(allowed, reason)`` for callers that cannot ask a person (workflow runs, job handlers): an action
        that needs a confirmation counts as refused until it has one."""
        decision = self.allows(trigger, action)
        if decision.allowed and decision.needs_confirmation:
            return False, f"{decision.reason}; refused without a confirmation"
        return decision.allowed, decision.reason

    @staticmethod
    def _confirm(trigger: Trigger, traits: ActionTraits) -> bool:
        if not traits.writes:
            return False
        if trigger in _CONFIRMING_TRIGGERS:
            return True
        return trigger in _BEDROCK_TRIGGERS and not traits.bedrock_confirms
