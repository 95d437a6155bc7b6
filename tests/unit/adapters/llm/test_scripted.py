"""The scripted model: replays its script, records what it was sent, fails like a provider when it runs out."""

from __future__ import annotations

import pytest

from service.adapters.llm.scripted import ScriptedLLM, ScriptedRequest
from service.domain.llm import Message, ModelReply, TextBlock, ToolSpec
from service.errors import ConfigurationError, UpstreamFailed
from tests.llm_fakes import text_reply, tool_reply

HELLO = Message(role="user", content=(TextBlock("hello"),))


def test_replies_are_played_in_order_and_requests_recorded() -> None:
    def echo(request: ScriptedRequest) -> ModelReply:
        return text_reply(f"you said {request.last.text}")

    llm = ScriptedLLM([tool_reply(("lookup", {"q": 1})), echo], model_id="scripted-1")
    spec = ToolSpec("lookup", "Look up.", {"type": "object"})
    first = llm.converse(system="sys", messages=[HELLO], tools=[spec], max_tokens=99, temperature=0.3)
    second = llm.converse(system="sys", messages=[HELLO])
    assert first.message.tool_uses[0].name == "lookup"
    assert second.message.text == "you said hello"
    assert [(r.system, r.messages, r.tools, r.max_tokens, r.temperature) for r in llm.requests] == [
        ("sys", (HELLO,), (spec,), 99, 0.3),
        ("sys", (HELLO,), (), 2048, 0.0),
    ]
    assert llm.remaining == 0
    assert llm.model_id == "scripted-1"
    assert llm.hosted is False
    assert ScriptedLLM([], hosted=True).hosted is True


def test_running_out_of_script_is_an_upstream_failure() -> None:
    llm = ScriptedLLM([text_reply("only one")])
    llm.converse(system="", messages=[HELLO])
    with pytest.raises(UpstreamFailed, match="no reply left"):
        llm.converse(system="", messages=[HELLO])


def test_tool_names_are_checked_like_the_providers_do() -> None:
    with pytest.raises(ConfigurationError, match="invalid tool name"):
        ScriptedLLM([text_reply("x")]).converse(
            system="", messages=[HELLO], tools=[ToolSpec("jira.createIssue", "d", {})]
        )
