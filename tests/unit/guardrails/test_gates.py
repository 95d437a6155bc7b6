"""The redaction gate at the boundaries: what reaches a tracker or a hosted model holds no secret, a local
model sees the prompt as written, and the container wires the gate (and the policy over its registry)."""

from __future__ import annotations

from collections.abc import Sequence

from service.adapters.tickets.local import in_memory_local_tracker
from service.container import action_policy, build_container
from service.domain.action_calls import Trigger
from service.domain.llm import Message, ModelReply, StopReason, TextBlock, TokenUsage, ToolResult, ToolSpec, ToolUse
from service.domain.tickets import TicketDraft
from service.guardrails.gates import RedactingIssueTracker, RedactingLLM, gate_issue_tracker, gate_llm, trace_scrub
from service.guardrails.redaction import marker
from service.settings import GuardrailSettings, Settings

KEY = "AKIAIOSFODNN7EXAMPLE"
AKIA = marker("aws_access_key_id")


class RecordingLLM:
    """An LLM that answers "ok" and keeps every request it was sent."""

    def __init__(self, *, hosted: bool) -> None:
        self.hosted = hosted
        self.model_id = "recording"
        self.requests: list[tuple[str, Sequence[Message]]] = []

    def converse(
        self,
        *,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = 2048,
        temperature: float = 0.0,
    ) -> ModelReply:
        self.requests.append((system, list(messages)))
        return ModelReply(
            message=Message(role="assistant", content=(TextBlock("ok"),)),
            stop_reason=StopReason.END_TURN,
            usage=TokenUsage(1, 1),
            latency_ms=1.0,
        )


def test_tracker_gate_redacts_what_it_sends_and_keeps_labels() -> None:
    seen: list[tuple[str, int, tuple[str, ...]]] = []
    tracker = RedactingIssueTracker(
        in_memory_local_tracker(projects=["OPS"]), observer=lambda where, n, kinds: seen.append((where, n, kinds))
    )
    created = tracker.create(
        draft=TicketDraft(
            project_key="OPS",
            summary=f"Key {KEY} committed",
            description=f'In `app.py`: `aws_key = "{KEY}"`',
            labels=("ticketsmith", "AKIA-label"),
        )
    )
    assert KEY not in created.summary
    assert KEY not in created.description
    assert AKIA in created.summary
    assert "AKIA-label" in created.labels
    comment = tracker.comment(key=created.key, body=f"still there: password = 'hunter22' and {KEY}")
    assert "hunter22" not in comment.body
    assert KEY not in comment.body
    stored = tracker.inner.comments(key=created.key)
    assert all(KEY not in c.body for c in stored)
    assert [where for where, _, _ in seen] == ["ticket summary", "ticket description", "comment"]
    assert seen[-1][1] == 2
    assert KEY not in repr(seen)
    assert tracker.name == "local"
    assert tracker.sends is False


def test_tracker_gate_redacts_create_many() -> None:
    tracker = RedactingIssueTracker(in_memory_local_tracker(projects=["OPS"]))
    results = tracker.create_many(
        drafts=[TicketDraft(project_key="OPS", summary=f"{KEY} {n}", description=KEY) for n in range(2)]
    )
    for result in results:
        assert not isinstance(result, Exception)
        assert KEY not in result.summary + result.description


def test_hosted_model_gets_redacted_prompts_and_tool_traffic() -> None:
    inner = RecordingLLM(hosted=True)
    seen: list[str] = []
    llm = RedactingLLM(inner, observer=lambda where, n, kinds: seen.append(where))
    llm.converse(
        system=f"You know {KEY}",
        messages=[
            Message(role="user", content=(TextBlock(f"code: aws = '{KEY}'"),)),
            Message(role="assistant", content=(ToolUse("t1", "codebase_readFile", {"path": "a.py", "q": KEY}),)),
            Message(role="user", content=(ToolResult("t1", {"lines": [f"key = {KEY}"]}),)),
        ],
    )
    system, messages = inner.requests[0]
    assert KEY not in system
    assert KEY not in repr(messages)
    assert AKIA in messages[0].text
    assert seen == ["system prompt", "prompt", "tool input", "tool result"]
    assert llm.model_id == "recording"
    assert llm.hosted


def test_local_model_sees_the_prompt_as_written() -> None:
    inner = RecordingLLM(hosted=False)
    RedactingLLM(inner).converse(system=KEY, messages=[Message(role="user", content=(TextBlock(KEY),))])
    system, messages = inner.requests[0]
    assert system == KEY
    assert messages[0].text == KEY


def test_switch_off_leaves_everything_unchanged() -> None:
    off = Settings(guardrails=GuardrailSettings(redact_secrets=False))
    tracker = in_memory_local_tracker()
    assert gate_issue_tracker(off, tracker) is tracker
    assert trace_scrub(off)({"k": KEY}) == {"k": KEY}
    llm = RecordingLLM(hosted=True)
    assert gate_llm(off, llm) is llm
    assert gate_llm(Settings(), None) is None
    assert isinstance(gate_llm(Settings(), llm), RedactingLLM)


def test_trace_scrub_redacts_span_attributes() -> None:
    scrub = trace_scrub(Settings())
    assert scrub({"input": {"q": KEY}, "observation": [KEY, 3]}) == {"input": {"q": AKIA}, "observation": [AKIA, 3]}


def test_container_wraps_the_tracker_and_builds_the_policy_over_its_registry() -> None:
    container = build_container(Settings(), in_memory=True)
    try:
        assert isinstance(container.issue_tracker, RedactingIssueTracker)
        assert gate_issue_tracker(container.settings, container.issue_tracker) is container.issue_tracker
        policy = action_policy(container)
        assert policy.allows(Trigger.BEDROCK, "codebase.searchCode").allowed
        assert policy.allows(Trigger.BEDROCK, "jira.createIssue").allowed
        transition = policy.allows(Trigger.BEDROCK, "jira.transitionIssue")
        assert transition.allowed, "the operation carries x-requireConfirmation: Bedrock asks its user"
        assert "x-requireConfirmation" in transition.reason
        assert not transition.needs_confirmation
        assert not policy.allows(Trigger.BEDROCK, "jira.nonexistent").allowed
        assert not policy.allows(Trigger.BEDROCK, "nogroup.x").allowed
        assert policy.allows(Trigger.REST, "jira.addComment").needs_confirmation
        assert not policy.allows(Trigger.REST, "quality.listFindings").needs_confirmation
        assert not policy.allows(Trigger.JIRA_WEBHOOK, "jira.transitionIssue").allowed
        for group in container.registry:
            for operation in group.operations:
                traits = policy.traits(f"{group.name}.{operation.operation_id}")
                assert traits.writes is operation.writes
    finally:
        container.close()


def test_container_without_redaction_keeps_the_tracker() -> None:
    container = build_container(Settings(guardrails=GuardrailSettings(redact_secrets=False)), in_memory=True)
    try:
        assert not isinstance(container.issue_tracker, RedactingIssueTracker)
    finally:
        container.close()
