"""The one settings tree. Nothing else in the package reads the environment.

Every setting comes from an environment variable with the prefix ``TICKETSMITH_``; nested models use ``__``
as the delimiter (``TICKETSMITH_SERVER__PORT=9000``). A ``.env`` file in the working directory is read too.
``.env.example`` lists every setting with its meaning; a test keeps the two in step.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
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
        description="Model name. local: all-MiniLM-L6-v2 (default) or all-MiniLM-L6-v2-int8; bedrock: "
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
    fusion: Literal["rrf", "minmax", "zscore"] = Field(
        default="rrf",
        description=(
            "How lexical and dense rankings are fused: rrf (weighted reciprocal rank), or a weighted sum of "
            "scores normalised by minmax or zscore."
        ),
    )
    lexical_weight: float = Field(default=1.0, ge=0, description="Weight of the lexical (BM25) ranking in fusion.")
    dense_weight: float = Field(default=1.0, ge=0, description="Weight of the dense (embedding) ranking in fusion.")
    rrf_k: int = Field(default=60, ge=1, description="The k constant of reciprocal rank fusion: 1 / (k + rank).")
    candidates: int = Field(
        default=50, ge=1, le=1000, description="Results taken from each retriever before fusing (at least k)."
    )
    default_k: int = Field(default=10, ge=1, le=100, description="Results returned when a search does not say.")


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
