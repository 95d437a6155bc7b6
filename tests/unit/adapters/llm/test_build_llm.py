"""Choosing the chat model from settings."""

from __future__ import annotations

from pathlib import Path

import boto3
import httpx
import pytest

from service.adapters.llm import build_llm
from service.adapters.llm.bedrock_converse import BedrockConverseLLM
from service.adapters.llm.openai_compat import OpenAICompatibleLLM
from service.adapters.llm.scripted import ScriptedLLM
from service.container import build_container
from service.errors import ConfigurationError
from service.guardrails.gates import RedactingLLM
from service.settings import GuardrailSettings, LLMSettings
from tests.conftest import make_settings
from tests.llm_fakes import text_reply


def test_no_provider_means_no_model(tmp_path: Path) -> None:
    assert build_llm(make_settings(tmp_path)) is None


def test_bedrock_uses_the_model_and_the_given_client(tmp_path: Path) -> None:
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    settings = make_settings(tmp_path, llm=LLMSettings(provider="bedrock", model="amazon.nova-pro-v1:0"))
    llm = build_llm(settings, bedrock_client=client)
    assert isinstance(llm, BedrockConverseLLM)
    assert (llm.model_id, llm.hosted) == ("amazon.nova-pro-v1:0", True)


def test_bedrock_builds_its_own_client_with_botocore_retries_off(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        llm=LLMSettings(provider="bedrock", model="amazon.nova-pro-v1:0", region="eu-west-1", max_retries=5),
    )
    llm = build_llm(settings)
    assert isinstance(llm, BedrockConverseLLM)
    assert llm._client.meta.region_name == "eu-west-1"  # type: ignore[attr-defined]
    assert llm._client.meta.config.retries["total_max_attempts"] == 1  # type: ignore[attr-defined]
    assert llm._backoff.attempts == 6


def test_openai_uses_base_url_and_model(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, llm=LLMSettings(provider="openai", model="qwen2.5-coder", base_url="http://127.0.0.1:8000/v1")
    )
    with httpx.Client() as client:
        llm = build_llm(settings, http_client=client)
        assert isinstance(llm, OpenAICompatibleLLM)
        assert (llm.model_id, llm.hosted) == ("qwen2.5-coder", False)


@pytest.mark.parametrize(
    ("conf", "message", "hint"),
    [
        (LLMSettings(provider="bedrock"), "needs a model", "TICKETSMITH_LLM__MODEL"),
        (LLMSettings(provider="openai", base_url="http://x/v1"), "needs a model", "TICKETSMITH_LLM__MODEL"),
        (LLMSettings(provider="openai", model="m"), "needs a base URL", "TICKETSMITH_LLM__BASE_URL"),
    ],
)
def test_missing_settings_are_configuration_errors_with_hints(
    tmp_path: Path, conf: LLMSettings, message: str, hint: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        build_llm(make_settings(tmp_path, llm=conf))
    assert hint in (caught.value.hint or "")


def test_the_container_holds_the_given_model_or_the_configured_one(tmp_path: Path) -> None:
    scripted = ScriptedLLM([text_reply("hi")])
    container = build_container(make_settings(tmp_path), in_memory=True, llm=scripted)
    assert isinstance(container.llm, RedactingLLM)  # prompts pass the redaction gate
    assert container.llm.inner is scripted
    container.close()
    ungated = make_settings(tmp_path, guardrails=GuardrailSettings(redact_secrets=False))
    bare = build_container(ungated, in_memory=True, llm=scripted)
    assert bare.llm is scripted
    bare.close()
    plain = build_container(make_settings(tmp_path), in_memory=True)
    assert plain.llm is None
    plain.close()
    settings = make_settings(tmp_path, llm=LLMSettings(provider="openai", model="m", base_url="http://127.0.0.1:9/v1"))
    configured = build_container(settings, in_memory=True)
    assert isinstance(configured.llm, RedactingLLM)
    assert isinstance(configured.llm.inner, OpenAICompatibleLLM)
    configured.close()
