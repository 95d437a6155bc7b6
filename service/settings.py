"""The one settings tree. Nothing else in the package reads the environment.

Every setting comes from an environment variable with the prefix ``TICKETSMITH_``; nested models use ``__``
as the delimiter (``TICKETSMITH_SERVER__PORT=9000``). A ``.env`` file in the working directory is read too.
``.env.example`` lists every setting with its meaning; a test keeps the two in step.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """True when ``host`` names only the local machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServerSettings(BaseModel):
    """Where ``ticketsmith serve`` listens and how much it accepts."""

    host: str = Field(default="127.0.0.1", description="Interface to bind. Anything but loopback needs API keys.")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port to listen on.")
    workers: int = Field(
        default=1, ge=1, le=64, description="Server processes sharing the port; about one per CPU core for throughput."
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body accepted, in bytes; larger ones are refused with 413.",
    )
    handler_timeout_seconds: float = Field(
        default=30.0, gt=0, description="An action handler that runs longer than this is stopped with 408."
    )


class ApiKeySettings(BaseModel):
    """One API key and what it may touch.

    ``action_groups`` and ``jira_projects`` hold names or ``"*"`` for all.
    """

    name: str = Field(min_length=1, description="A label for logs and audit records; never the key itself.")
    key: SecretStr = Field(description="The secret presented as 'Authorization: Bearer <key>' or 'X-Api-Key'.")
    action_groups: list[str] = Field(default_factory=lambda: ["*"], description="Action groups this key may call.")
    jira_projects: list[str] = Field(default_factory=lambda: ["*"], description="Jira project keys it may touch.")

    @field_validator("key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("API keys must be at least 16 characters; generate one with `openssl rand -hex 24`")
        return value


class DatabaseSettings(BaseModel):
    """How the relational store is reached and prepared."""

    auto_migrate: bool = Field(
        default=True, description="Apply pending Alembic migrations when the service or CLI starts."
    )
    echo_sql: bool = Field(default=False, description="Log every SQL statement (debugging only).")


class JobsSettings(BaseModel):
    """The durable job queue and its workers."""

    in_process_worker: bool = Field(
        default=True,
        description="Run a worker inside `ticketsmith serve`; off when `ticketsmith worker` processes run.",
    )
    poll_interval_seconds: float = Field(default=1.0, gt=0, description="Seconds a worker waits when no job is due.")
    lease_seconds: float = Field(
        default=300.0, ge=5, description="How long a claimed job is held before another worker may take it over."
    )
    call_retention_days: int = Field(
        default=30, ge=0, description="Days of action-call records to keep; older ones are pruned daily. 0 keeps all."
    )


class QualitySettings(BaseModel):
    """Quality checks requested through the API (the CLI may check any repository its user can read)."""

    allowed_roots: list[Path] = Field(
        default_factory=list,
        description="JSON list of directories whose git repositories API callers may have checked; empty: none.",
    )


class IndexingSettings(BaseModel):
    """Indexing git repositories into the knowledge base (``ticketsmith index``, ``POST .../sync``)."""

    allowed_roots: list[Path] = Field(
        default_factory=list,
        description="JSON list of directories whose git repositories API callers may have indexed; empty: none.",
    )
    allowed_url_prefixes: list[str] = Field(
        default_factory=list,
        description="JSON list of URL prefixes API callers may have cloned (https://github.com/acme/); empty: none.",
    )
    max_file_bytes: int = Field(default=1_000_000, ge=1, description="Text files larger than this are skipped.")
    max_document_bytes: int = Field(
        default=20_000_000, ge=1, description="Documents (pdf, docx, xlsx...) larger than this are skipped."
    )


class WebhookSettings(BaseModel):
    """Incoming Jira webhooks (``POST /v1/webhooks/jira``)."""

    secret: SecretStr | None = Field(
        default=None,
        description="Shared secret of the Jira webhook; requests must carry X-Hub-Signature. Unset: endpoint off.",
    )
    ignore_account_ids: list[str] = Field(
        default_factory=list,
        description="JSON list of Jira accountIds whose events are ignored (the service's own account: no loops).",
    )


class JiraSettings(BaseModel):
    """Where tickets go. Unset ``url``: no Jira, tickets stay in the local dry-run store.

    Cloud (``*.atlassian.net`` or ``deployment=cloud``) uses REST v3 with Basic ``email`` + ``api_token``;
    Server/Data Center uses REST v2 with a personal access token (``pat``, sent as a Bearer token) or Basic
    ``username`` + ``password``.
    """

    url: str | None = Field(
        default=None, description="Base URL of the Jira site, e.g. https://acme.atlassian.net. Unset: local store."
    )
    email: str | None = Field(default=None, description="Cloud: the Atlassian account email the API token belongs to.")
    api_token: SecretStr | None = Field(default=None, description="Cloud: API token (id.atlassian.com).")
    pat: SecretStr | None = Field(default=None, description="Server/Data Center: personal access token (Bearer).")
    username: str | None = Field(default=None, description="Server/Data Center: user for Basic authentication.")
    password: SecretStr | None = Field(default=None, description="Server/Data Center: password for Basic auth.")
    project_key: str | None = Field(default=None, description="Project new tickets are filed in, e.g. OPS.")
    deployment: Literal["auto", "cloud", "datacenter"] = Field(
        default="auto", description="auto: *.atlassian.net is Cloud, any other host is Server/Data Center."
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Seconds to wait for one Jira HTTP answer.")
    max_retries: int = Field(
        default=3, ge=0, le=10, description="Retries of a read or an idempotent write on 429/503/connection errors."
    )
    issue_type: str = Field(default="Task", min_length=1, description="Issue type of new tickets, by name.")
    closed_ticket_policy: Literal["reopen", "link", "ignore"] = Field(
        default="reopen",
        description="A finding whose ticket is closed: reopen it, link a new ticket to it, or leave it alone.",
    )
    reopen_status: str = Field(
        default="To Do", min_length=1, description="Status name a closed ticket is moved to when it is reopened."
    )

    @field_validator("url", "email", "api_token", "pat", "username", "password", "project_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL; set it like https://acme.atlassian.net")
        return value.strip().rstrip("/")

    @property
    def configured(self) -> bool:
        """True when a Jira site is set (else the local dry-run store is used)."""
        return self.url is not None

    @property
    def resolved_deployment(self) -> Literal["cloud", "datacenter"]:
        """``cloud`` or ``datacenter``; ``auto`` decides by the host name."""
        if self.deployment != "auto":
            return self.deployment
        host = urlsplit(self.url or "").hostname or ""
        return "cloud" if host.endswith(".atlassian.net") else "datacenter"

    @model_validator(mode="after")
    def _credentials_for_the_deployment(self) -> JiraSettings:
        if self.url is None:
            return self
        if self.resolved_deployment == "cloud":
            if self.email is None or self.api_token is None:
                raise ValueError(
                    f"Jira Cloud at {self.url} needs TICKETSMITH_JIRA__EMAIL and TICKETSMITH_JIRA__API_TOKEN "
                    "(create a token at https://id.atlassian.com/manage-profile/security/api-tokens); "
                    "for Server/Data Center set TICKETSMITH_JIRA__DEPLOYMENT=datacenter"
                )
        elif self.pat is None and (self.username is None or self.password is None):
            raise ValueError(
                f"Jira Server/Data Center at {self.url} needs TICKETSMITH_JIRA__PAT (a personal access token) "
                "or TICKETSMITH_JIRA__USERNAME and TICKETSMITH_JIRA__PASSWORD; "
                "for Jira Cloud set TICKETSMITH_JIRA__DEPLOYMENT=cloud with EMAIL and API_TOKEN"
            )
        return self


class TicketFilingSettings(BaseModel):
    """How findings become tickets without duplicates (the ledger and the local store).

    What happens to a closed ticket is ``JiraSettings.closed_ticket_policy`` and ``reopen_status``.
    """

    marker_label: str = Field(
        default="ticketsmith",
        pattern=r"^\S{1,255}$",
        description="Label on every filed ticket; the ledger is rebuilt from the tickets carrying it.",
    )
    local_project: str = Field(
        default="LOCAL",
        pattern=r"^[A-Z][A-Z0-9_]{0,9}$",
        description="Project key of the local dry-run store (used when no Jira is configured).",
    )
    claim_stale_seconds: float = Field(
        default=300.0, ge=1, description="A claim older than this belongs to a dead worker and may be taken over."
    )
    wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a filer waits for another worker's claim before reporting it (under the 30 s "
        "handler timeout, so an agent's createIssue answers in time).",
    )


class TriggerConditions(BaseModel):
    """What a webhook event must show for its rule to fire; every condition set must hold."""

    labels: list[str] = Field(default_factory=list, description="The issue carries at least one of these labels.")
    comment_prefix: str | None = Field(default=None, description="The comment body starts with this text.")
    projects: list[str] = Field(default_factory=list, description="The issue's project is one of these keys.")
    issue_types: list[str] = Field(default_factory=list, description="The issue's type is one of these names.")


class TriggerRule(BaseModel):
    """Which Jira events start which workflow, with which parameters."""

    name: str = Field(min_length=1, max_length=100, description="Names the rule in job results and logs.")
    events: list[Literal["jira:issue_created", "jira:issue_updated", "comment_created"]] = Field(
        min_length=1, description="Webhook events the rule listens to."
    )
    conditions: TriggerConditions = Field(default_factory=TriggerConditions)
    workflow: Literal["suggest", "scan"] = Field(description="Workflow the rule starts.")
    parameters: dict[str, str] = Field(default_factory=dict, description="Parameters passed to the workflow.")


def _default_triggers() -> list[TriggerRule]:
    return [
        TriggerRule(
            name="label-ts-suggest",
            events=["jira:issue_created", "jira:issue_updated"],
            conditions=TriggerConditions(labels=["ts-suggest"]),
            workflow="suggest",
        ),
        TriggerRule(
            name="comment-rescan",
            events=["comment_created", "jira:issue_updated"],
            conditions=TriggerConditions(comment_prefix="/ticketsmith rescan"),
            workflow="scan",
        ),
    ]


class LoggingSettings(BaseModel):
    """Log output."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Lowest level logged.")


class EmbeddingSettings(BaseModel):
    """The model that turns code and documents into vectors for dense retrieval.

    Vectors from different models never mix: changing the provider, model or dimensions means re-embedding.
    """

    provider: Literal["local", "bedrock", "openai"] = Field(
        default="local",
        description="local: the bundled all-MiniLM-L6-v2, offline; bedrock: Titan or Cohere; openai: any "
        "OpenAI-compatible /v1/embeddings endpoint.",
    )
    model: str | None = Field(
        default=None,
        description="Model name. local: all-MiniLM-L6-v2-int8 (default) or all-MiniLM-L6-v2 (exact fp32); bedrock: "
        "amazon.titan-embed-text-v2:0 (default), cohere.embed-english-v3 or cohere.embed-multilingual-v3; "
        "openai: required, e.g. text-embedding-3-small.",
    )
    region: str | None = Field(
        default=None, description="AWS region for bedrock. Unset: the AWS SDK's default (AWS_REGION, profile)."
    )
    dimensions: int | None = Field(
        default=None,
        ge=1,
        description="Vector length where the model lets you choose (Titan V2: 1024, 512 or 256; OpenAI "
        "text-embedding-3). Unset: the model's default.",
    )
    base_url: str | None = Field(
        default=None, description="openai: the API root ending in /v1, e.g. https://api.openai.com/v1."
    )
    api_key: SecretStr | None = Field(default=None, description="openai: bearer token, if the endpoint needs one.")
    batch_size: int = Field(default=32, ge=1, le=2048, description="Texts embedded per model call or request.")
    threads: int | None = Field(
        default=None, ge=1, description="local: CPU threads for the model. Unset: one per core."
    )


class KnowledgeBaseSettings(BaseModel):
    """Where indexed code lives and how hybrid retrieval fuses its lexical and dense results."""

    index_backend: Literal["auto", "sqlite", "postgres"] = Field(
        default="auto",
        description=(
            "Chunk index: sqlite (a file under <data_dir>/index), postgres (the service database, with pgvector), "
            "or auto: postgres when database_url is PostgreSQL, else sqlite."
        ),
    )
    # The defaults are the best fusion on the tuning split of bench/retrieval_quality.py (docstring -> function on
    # the standard library): z-score at a lexical share of 0.25 gave MRR@10 0.647 on the separate test split,
    # against 0.611 for equal-weight RRF (docs/benchmarks/retrieval_quality.json).
    fusion: Literal["rrf", "minmax", "zscore"] = Field(
        default="zscore",
        description=(
            "How lexical and dense rankings are fused: rrf (weighted reciprocal rank), or a weighted sum of "
            "scores normalised by minmax or zscore."
        ),
    )
    lexical_weight: float = Field(default=0.25, ge=0, description="Weight of the lexical (BM25) ranking in fusion.")
    dense_weight: float = Field(default=0.75, ge=0, description="Weight of the dense (embedding) ranking in fusion.")
    rrf_k: int = Field(default=60, ge=1, description="The k constant of reciprocal rank fusion: 1 / (k + rank).")
    candidates: int = Field(
        default=50, ge=1, le=1000, description="Results taken from each retriever before fusing (at least k)."
    )
    default_k: int = Field(default=10, ge=1, le=100, description="Results returned when a search does not say.")


class LLMSettings(BaseModel):
    """The language model the orchestrator plans and writes with. ``none`` runs the deterministic planner:
    the same workflows from the templates in ``prompts/``, and traces that say no model was used."""

    provider: Literal["none", "bedrock", "openai"] = Field(
        default="none",
        description="none: no model (deterministic planner); bedrock: Bedrock Converse with tool use; openai: any "
        "OpenAI-compatible /v1/chat/completions endpoint (vLLM, Ollama, llama.cpp server).",
    )
    model: str | None = Field(
        default=None,
        description="Model id. bedrock: e.g. anthropic.claude-3-5-sonnet-20240620-v1:0 or an inference profile id; "
        "openai: the served model's name. Required unless provider is none.",
    )
    region: str | None = Field(default=None, description="bedrock: AWS region (default: the boto3 session's).")
    base_url: str | None = Field(
        default=None, description="openai: the endpoint's base URL, e.g. http://localhost:11434/v1."
    )
    api_key: SecretStr | None = Field(default=None, description="openai: bearer token, if the endpoint needs one.")
    max_tokens: int = Field(default=2048, ge=1, le=200_000, description="Most tokens one model reply may use.")
    temperature: float = Field(default=0.0, ge=0.0, le=1.0, description="Sampling temperature.")
    timeout_seconds: float = Field(default=120.0, gt=0, description="Seconds to wait for one model reply.")
    max_retries: int = Field(default=3, ge=0, le=10, description="Retries of a throttled or failed model call.")


class OrchestratorSettings(BaseModel):
    """Default budgets of workflow runs (a run request may lower them, never raise them)."""

    max_steps: int = Field(default=200, ge=1, description="Most steps (tool calls, model calls) one run may take.")
    max_tokens: int = Field(default=200_000, ge=0, description="Most model tokens (input + output) one run may use.")
    max_seconds: float = Field(default=1800.0, gt=0, description="Most wall-clock seconds one run may take.")
    max_tickets: int = Field(default=20, ge=0, description="Most tickets one run may create or update.")
    prompts_dir: Path | None = Field(
        default=None,
        description="Directory of the prompt templates (<name>.md.j2); default: prompts/ of the source tree.",
    )

    @property
    def resolved_prompts_dir(self) -> Path:
        """``prompts_dir``, or the ``prompts/`` directory beside the ``service`` package (the source tree)."""
        return self.prompts_dir or Path(__file__).resolve().parent.parent / "prompts"


class GuardrailSettings(BaseModel):
    """What each trigger may do. Actions are named ``<action group>.<operationId>`` (e.g. ``jira.createIssue``)
    or ``tickets.file`` for a workflow filing tickets; entries may use ``*`` wildcards. A trigger missing from
    ``allowed_actions`` gets its built-in default (see ``.env.example``)."""

    allowed_actions: dict[str, list[str]] = Field(
        default_factory=dict,
        description="JSON object trigger -> allowed action patterns; triggers: cli, rest, chat, bedrock, lambda, jira.",
    )
    redact_secrets: bool = Field(
        default=True, description="Pass ticket bodies, comments, trace exports and prompts through the redaction gate."
    )


class TelemetrySettings(BaseModel):
    """OpenTelemetry export of run traces (opt-in)."""

    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces endpoint, e.g. http://localhost:4318/v1/traces; unset: no export.",
    )
    service_name: str = Field(default="ticketsmith", description="The service.name resource attribute.")


class Settings(BaseSettings):
    """Root of the settings tree."""

    model_config = SettingsConfigDict(
        env_prefix="TICKETSMITH_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    data_dir: Path = Field(
        default=Path(".ticketsmith"), description="Directory for the embedded database, clones and indexes."
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the store, e.g. postgresql+psycopg://user:pass@host/db. "
            "Unset: SQLite at <data_dir>/ticketsmith.db."
        ),
    )
    api_keys: list[ApiKeySettings] = Field(
        default_factory=list,
        description='JSON list of keys, e.g. [{"name":"chat","key":"...","action_groups":["system"]}].',
    )
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    indexing: IndexingSettings = Field(default_factory=IndexingSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    knowledge_base: KnowledgeBaseSettings = Field(default_factory=KnowledgeBaseSettings)
    jira: JiraSettings = Field(default_factory=JiraSettings)
    tickets: TicketFilingSettings = Field(default_factory=TicketFilingSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    orchestrator: OrchestratorSettings = Field(default_factory=OrchestratorSettings)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    triggers: list[TriggerRule] = Field(
        default_factory=_default_triggers,
        description="JSON list of webhook trigger rules (default: label ts-suggest → suggest; rescan comment → scan).",
    )

    @property
    def resolved_database_url(self) -> str:
        """The URL actually used: ``database_url`` or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ticketsmith.db').resolve()}"

    @property
    def auth_enabled(self) -> bool:
        """True when at least one API key is configured; with none, only loopback binds are allowed."""
        return bool(self.api_keys)
