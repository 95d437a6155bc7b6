"""Per-trigger allow-lists: the built-in defaults, configured lists replacing them, and confirmations."""

from __future__ import annotations

import pytest

from service.domain.action_calls import Trigger
from service.errors import ConfigurationError
from service.guardrails.policy import ActionPolicy, ActionTraits
from service.settings import GuardrailSettings

TRAITS = {
    "codebase.searchCode": ActionTraits(writes=False),
    "jira.getIssue": ActionTraits(writes=False),
    "jira.createIssue": ActionTraits(writes=True, bedrock_confirms=True),
    "jira.addComment": ActionTraits(writes=True),
    "jira.transitionIssue": ActionTraits(writes=True),
}


def policy(**allowed: list[str]) -> ActionPolicy:
    return ActionPolicy(GuardrailSettings(allowed_actions=allowed), actions=TRAITS.get)


@pytest.mark.parametrize("action", [*TRAITS, "tickets.file", "anything.else"])
def test_cli_may_do_everything_without_confirmation(action: str) -> None:
    decision = policy().allows(Trigger.CLI, action)
    assert decision.allowed
    assert not decision.needs_confirmation


@pytest.mark.parametrize("trigger", [Trigger.REST, Trigger.CHAT])
def test_rest_and_chat_read_freely_and_write_after_confirmation(trigger: Trigger) -> None:
    assert policy().allows(trigger, "codebase.searchCode") == policy().allows(trigger, "codebase.searchCode")
    read = policy().allows(trigger, "jira.getIssue")
    assert read.allowed
    assert not read.needs_confirmation
    for write in ("jira.createIssue", "jira.transitionIssue", "tickets.file", "unknown.action"):
        decision = policy().allows(trigger, write)
        assert decision.allowed
        assert decision.needs_confirmation, write


@pytest.mark.parametrize("trigger", [Trigger.BEDROCK, Trigger.LAMBDA])
def test_bedrock_writes_only_what_bedrock_confirms(trigger: Trigger) -> None:
    assert policy().allows(trigger, "jira.getIssue").allowed
    create = policy().allows(trigger, "jira.createIssue")
    assert create.allowed
    assert not create.needs_confirmation
    assert "x-requireConfirmation" in create.reason
    for write in ("jira.transitionIssue", "jira.addComment", "tickets.file", "unknown.action"):
        denied = policy().allows(trigger, write)
        assert not denied.allowed, write
        assert write in denied.reason


@pytest.mark.parametrize(
    "action",
    [
        "codebase.searchCode",
        "codebase.readFile",
        "quality.startCheck",
        "kb.sync",
        "quality.check",
        "jira.searchIssues",
        "jira.getIssue",
        "jira.addComment",
        "tickets.file",
    ],
)
def test_jira_webhook_default_allows_its_list(action: str) -> None:
    decision = policy().allows(Trigger.JIRA_WEBHOOK, action)
    assert decision.allowed
    assert not decision.needs_confirmation


@pytest.mark.parametrize("action", ["jira.transitionIssue", "jira.createIssue", "system.listCalls", "runs.startRun"])
def test_jira_webhook_default_denies_the_rest(action: str) -> None:
    decision = policy().allows(Trigger.JIRA_WEBHOOK, action)
    assert not decision.allowed
    assert "jira trigger" in decision.reason


def test_configured_entries_replace_the_default() -> None:
    configured = policy(jira=["codebase.*"], bedrock=["jira.*"])
    assert configured.allows(Trigger.JIRA_WEBHOOK, "codebase.readFile").allowed
    assert not configured.allows(Trigger.JIRA_WEBHOOK, "tickets.file").allowed
    assert not configured.allows(Trigger.BEDROCK, "codebase.searchCode").allowed
    transition = configured.allows(Trigger.BEDROCK, "jira.transitionIssue")
    assert transition.allowed
    assert transition.needs_confirmation  # a write Bedrock does not confirm: return of control
    assert not configured.allows(Trigger.BEDROCK, "jira.createIssue").needs_confirmation
    assert "configured" in transition.reason


def test_configured_rest_writes_still_need_confirmation() -> None:
    configured = policy(rest=["jira.*"])
    assert configured.allows(Trigger.REST, "jira.addComment").needs_confirmation
    assert not configured.allows(Trigger.REST, "jira.getIssue").needs_confirmation
    assert not configured.allows(Trigger.REST, "codebase.searchCode").allowed


def test_patterns_are_case_sensitive_fnmatch() -> None:
    configured = policy(cli=["jira.get*"])
    assert configured.allows(Trigger.CLI, "jira.getIssue").allowed
    assert not configured.allows(Trigger.CLI, "jira.GetIssue").allowed
    assert not configured.allows(Trigger.CLI, "jira.createIssue").allowed


def test_unknown_trigger_in_settings_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="jria"):
        policy(jria=["*"])


def test_without_a_lookup_unknown_actions_are_writes() -> None:
    bare = ActionPolicy(GuardrailSettings())
    assert bare.traits("jira.getIssue").writes
    assert not bare.traits("kb.sync").writes
    assert not bare.allows(Trigger.BEDROCK, "jira.getIssue").allowed
    assert bare.allows(Trigger.JIRA_WEBHOOK, "jira.getIssue").allowed


def test_check_refuses_what_needs_a_confirmation() -> None:
    read = policy().allows(Trigger.REST, "jira.getIssue")
    assert policy().check(Trigger.REST, "jira.getIssue") == (True, read.reason)
    allowed, reason = policy().check(Trigger.REST, "jira.addComment")
    assert not allowed
    assert "confirmation" in reason
    assert policy().check(Trigger.JIRA_WEBHOOK, "tickets.file")[0]
    assert not policy().check(Trigger.JIRA_WEBHOOK, "jira.transitionIssue")[0]
