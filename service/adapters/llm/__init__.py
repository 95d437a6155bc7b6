"""Chat-model adapters and the one function that picks one from settings.

``build_llm`` checks the settings at once (a missing model or base URL fails at start-up). boto3 and httpx
clients are made only for the provider chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.adapters.embeddings.retry import Backoff
from service.errors import ConfigurationError
from service.ports.llm import LLM
from service.settings import Settings

if TYPE_CHECKING:
    import httpx

    from service.adapters.llm.bedrock_converse import ConverseRuntime


def _bedrock_client(region: str | None, timeout_seconds: float) -> ConverseRuntime:
    """A ``bedrock-runtime`` client (imported here: boto3 costs start-up time that only Bedrock users pay)."""
    import boto3
    from botocore.config import Config

    # Our adapter retries throttling itself, with jitter; botocore's own retries would multiply the attempts.
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=timeout_seconds, connect_timeout=10
    )
    client: ConverseRuntime = boto3.client("bedrock-runtime", region_name=region, config=config)
    return client


def build_llm(
    settings: Settings,
    *,
    bedrock_client: ConverseRuntime | None = None,
    http_client: httpx.Client | None = None,
) -> LLM | None:
    """The model ``settings.llm`` asks for, or None for provider ``none`` (the deterministic planner runs then).

    ``bedrock_client`` (a boto3 ``bedrock-runtime`` client) and ``http_client`` replace the ones made from
    settings. Raises :class:`ConfigurationError` with a hint when the model or the base URL is missing.
    """
    conf = settings.llm
    if conf.provider == "none":
        return None
    backoff = Backoff(attempts=conf.max_retries + 1)
    if not conf.model:
        raise ConfigurationError(
            f"the {conf.provider} LLM provider needs a model",
            hint="set TICKETSMITH_LLM__MODEL"
            + (
                " (a Bedrock model or inference profile id, e.g. anthropic.claude-3-5-sonnet-20240620-v1:0)"
                if conf.provider == "bedrock"
                else " (the served model's name)"
            ),
        )
    if conf.provider == "bedrock":
        from service.adapters.llm.bedrock_converse import BedrockConverseLLM

        client = bedrock_client or _bedrock_client(conf.region, conf.timeout_seconds)
        return BedrockConverseLLM(client, model=conf.model, backoff=backoff)

    from service.adapters.llm.openai_compat import OpenAICompatibleLLM

    if not conf.base_url:
        raise ConfigurationError(
            "the openai LLM provider needs a base URL",
            hint="set TICKETSMITH_LLM__BASE_URL, e.g. http://localhost:11434/v1 (Ollama) or http://localhost:8000/v1 "
            "(vLLM)",
        )
    return OpenAICompatibleLLM(
        base_url=conf.base_url,
        model=conf.model,
        api_key=conf.api_key,
        timeout_seconds=conf.timeout_seconds,
        http_client=http_client,
        backoff=backoff,
    )
