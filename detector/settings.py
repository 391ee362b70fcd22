"""Settings: defaults, then ``INVDET_*`` environment variables, then command-line flags.

Operators and scripts depend on these names; ``inversion-detector config show``
prints the effective values (secrets masked).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./inversion-detector.db"


class Settings(BaseSettings):
    """Every tunable of the detector, with its environment variable ``INVDET_<NAME>``.

    >>> Settings(rules="a.yaml, b/").rules
    ['a.yaml', 'b/']
    """

    model_config = SettingsConfigDict(env_prefix="INVDET_", extra="forbid", validate_default=True)

    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL of the alert store")
    kafka_bootstrap_servers: str = Field("localhost:9092", description="Kafka bootstrap servers, comma-separated")
    kafka_topic: str = Field("inference-logs", description="topic of inference-log events")
    kafka_group_id: str = Field("inversion-detector", description="consumer group id")
    kafka_dlq_topic: str = Field("inference-logs.dlq", description="dead-letter topic for bad events")
    webhook_url: str | None = Field(None, description="SOC webhook receiving each new alert as JSON")
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key for X-Signature-256")
    rules: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="extra rule files or folders, comma-separated"
    )
    window: int = Field(64, ge=8, le=4096, description="per-client window: recent queries kept")
    max_clients: int = Field(100_000, ge=1, description="most (model, client) pairs tracked at once")
    idle_ttl_s: float = Field(3600.0, gt=0, description="forget a client idle this long (event time)")
    score_every: int = Field(4, ge=1, description="score a client's window every N of its events")
    model_warmup: int = Field(500, ge=0, description="scored windows per model before model alerts")
    model_quantile: float = Field(
        0.999, gt=0.5, lt=1.0, description="anomaly-score quantile above which a window is anomalous"
    )
    console_token: SecretStr | None = Field(
        None, description="token the console requires (Bearer or Basic password) when bound beyond loopback"
    )
    metrics_port: int = Field(8000, ge=0, le=65535, description="HTTP port for /healthz and /metrics")

    @field_validator("webhook_url", "webhook_secret", "console_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``INVDET_WEBHOOK_URL=`` (as compose files write it) means no webhook."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rules", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def masked(self) -> dict[str, object]:
        """The effective settings with secrets replaced by ``***``."""
        shown = self.model_dump()
        for name, value in shown.items():
            if isinstance(value, SecretStr):
                shown[name] = "***"
        return shown
