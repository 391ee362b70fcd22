"""Settings: defaults, then a TOML file, then ``INVDET_*`` environment variables, then command-line flags.

Operators and scripts depend on these names; ``inversion-detector config show``
prints the effective values (secrets masked). The optional TOML file
(``--config FILE`` or ``INVDET_CONFIG``) holds the same names as top-level
keys; an unknown key or a wrong value stops the start with one line per
problem naming the file, the line and the key (:class:`ConfigError`).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_DATABASE_URL = "sqlite:///./inversion-detector.db"
ENV_PREFIX = "INVDET_"
CONFIG_ENV = "INVDET_CONFIG"
"""Environment variable naming the TOML settings file (``--config`` wins over it)."""

log = logging.getLogger(__name__)

_FILE_VALUES: ContextVar[Mapping[str, Any]] = ContextVar("settings_file_values", default={})
"""Values read from the TOML file for the :class:`Settings` being built (see :meth:`Settings.load`)."""


class ConfigError(Exception):
    """Settings that cannot be used; ``errors`` holds one line per problem, each naming where it is."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


class Settings(BaseSettings):
    """Every tunable of the detector, with its environment variable ``INVDET_<NAME>`` (an empty
    variable counts as unset).

    >>> Settings(rules="a.yaml, b/").rules
    ['a.yaml', 'b/']
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, env_ignore_empty=True)

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
    idle_ttl_s: float = Field(
        21600.0, gt=0, description="forget a client idle this long (event time); attacks paced over hours must stay in memory"
    )
    max_clock_skew_s: float = Field(
        300.0, gt=0, description="dead-letter events dated further ahead of the detector's clock (ts_out_of_range)"
    )
    max_models: int = Field(1000, ge=1, description="most model ids whose state is held at once (least recently seen evicted)")
    score_every: int = Field(4, ge=1, description="score a client's window every N of its events")
    model_every: int = Field(
        16, ge=1, description="also score it with the per-model anomaly model every N of its events (costlier than rules)"
    )
    calibration_file: Path | None = Field(
        None, description="calibration file from `inversion-detector calibrate`: per-model rule thresholds (SIGHUP reloads it)"
    )
    online_calibration: bool = Field(
        True, description="without a calibration file, learn each model's rule thresholds from its own unflagged clients"
    )
    calibration_target_fpr: float = Field(
        0.01, gt=0, lt=0.5, description="online calibration: client-level false-positive rate aimed at, per model"
    )
    calibration_warmup_clients: int = Field(
        100, ge=10, description="online calibration: clients a model must have seen before its thresholds move"
    )
    calibration_min_events: int = Field(
        32, ge=1, description="online calibration: events a client must have sent to count towards the fit"
    )
    model_warmup: int = Field(500, ge=0, description="scored windows per model before its anomaly model alerts")
    model_quantile: float = Field(
        0.9999, gt=0.5, lt=1.0, description="anomaly-score quantile above which a window is anomalous"
    )
    model_persistence: int = Field(
        4, ge=1, description="consecutive anomalous windows of a client before the anomaly model alerts"
    )
    console_token: SecretStr | None = Field(
        None, description="token the console requires (Bearer or Basic password) when bound beyond loopback"
    )
    metrics_port: int = Field(8000, ge=0, le=65535, description="HTTP port for /healthz, /readyz and /metrics (0 = off)")

    kafka_client: Literal["kafka-python", "confluent"] = Field(
        "kafka-python", description="Kafka client library: kafka-python, or confluent (the [confluent] extra)"
    )
    kafka_session_timeout_ms: int = Field(
        10_000, ge=1000, description="consumer-group session timeout: how soon a dead worker's partitions move"
    )
    kafka_fetch_max_wait_ms: int = Field(100, ge=0, description="longest a fetch waits for data on the broker")
    kafka_poll_timeout_ms: int = Field(500, ge=0, description="longest one poll waits when there is nothing to read")
    fingerprint_topic: str | None = Field(
        None, description="cross-worker fingerprint exchange: topic of the clients' input fingerprints, matches "
        "broadcast on <topic>.matches (unset: off, each worker matches only its own clients)"
    )
    batch_size: int = Field(2000, ge=1, description="most records processed per poll")
    checkpoint_every_events: int = Field(
        10_000, ge=1, description="checkpoint after this many consumed records (or checkpoint_every_s)"
    )
    checkpoint_every_s: float = Field(5.0, gt=0, description="checkpoint at least this often while records arrive")
    shutdown_timeout_s: float = Field(
        20.0, gt=0, description="on SIGTERM/SIGINT, finish, checkpoint and leave the group within this bound"
    )
    db_retry_max_s: float = Field(5.0, gt=0, description="longest pause between retries while the database is down")
    webhook_timeout_s: float = Field(5.0, gt=0, description="timeout of one webhook POST")
    webhook_max_attempts: int = Field(10, ge=1, description="delivery attempts before an alert's webhook is failed")
    webhook_backoff_s: float = Field(1.0, gt=0, description="delay before the first webhook retry (then doubling)")
    webhook_backoff_max_s: float = Field(600.0, gt=0, description="longest delay between webhook retries")
    webhook_poll_s: float = Field(1.0, gt=0, description="how often the dispatcher looks for due deliveries")
    webhook_in_worker: bool = Field(
        True, description="run the webhook dispatcher inside `run` (else run `inversion-detector webhook`)"
    )
    input_format: Literal["native", "kserve", "oip", "auto"] = Field(
        "native", description="what the records are: native events, KServe logger CloudEvents, OIP pairs, or auto (per record)"
    )
    client_id_header: str | None = Field(
        None, description="kserve/oip: the logged request header holding the client id (e.g. X-Api-Key)"
    )
    client_id_hash_key: SecretStr | None = Field(
        None, description="kserve/oip: store a keyed HMAC-SHA256 of the client-id header instead of its value"
    )
    scores_tensor: str | None = Field(
        None, description="kserve/oip: output tensor holding the class scores (else the only float tensor per class)"
    )
    join_max_pending: int = Field(
        10_000, ge=1, description="kserve: request/response halves held while waiting for their partner"
    )
    join_timeout_s: float = Field(
        30.0, gt=0, description="kserve: a half whose partner has not come within this long is dead-lettered"
    )
    webhook_format: Literal["native", "ocsf", "splunk-hec", "slack"] = Field(
        "native", description="webhook body: the alert contract, an OCSF Detection Finding, a Splunk HEC event, or a Slack message"
    )
    webhook_hec_token: SecretStr | None = Field(
        None, description="splunk-hec: the HEC token, sent as Authorization: Splunk <token>"
    )
    console_url: str | None = Field(
        None, description="the analyst console's address, linked from Slack messages (e.g. https://console.example.com)"
    )
    log_format: Literal["json", "text"] = Field("json", description="log lines of `run` and `webhook`")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="least severe level logged")

    @field_validator("rules", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("fingerprint_topic")
    @classmethod
    def _own_fingerprint_topics(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The exchange's two topics may not be the events' or the dead letters'."""
        if value is None:
            return None
        taken = {info.data.get("kafka_topic"): "kafka_topic", info.data.get("kafka_dlq_topic"): "kafka_dlq_topic"}
        for topic in (value, f"{value}.matches"):
            if topic in taken:
                raise ValueError(f"{topic} is already the {taken[topic]}; give the exchange topics of its own")
        return value

    @property
    def fingerprint_matches_topic(self) -> str | None:
        """Where the owners of fingerprint buckets broadcast the matches they find."""
        return None if self.fingerprint_topic is None else f"{self.fingerprint_topic}.matches"

    @field_validator("webhook_url", "console_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags over environment over the TOML file over defaults."""
        return init_settings, env_settings, InitSettingsSource(settings_cls, dict(_FILE_VALUES.get()))

    @classmethod
    def load(cls, config_file: str | os.PathLike | None = None, **overrides: Any) -> Settings:
        """Settings from the TOML file (``config_file``, else ``$INVDET_CONFIG``, else none),
        the environment and ``overrides``; raises :class:`ConfigError` listing every problem."""
        warn_unknown_variables(os.environ, cls.model_fields)
        path = config_file or os.environ.get(CONFIG_ENV) or None
        config = ConfigFile.read(Path(path)) if path else ConfigFile(None, {}, [])
        errors = config.unknown_keys(cls.model_fields)
        known = {key: value for key, value in config.values.items() if key in cls.model_fields}
        token = _FILE_VALUES.set(known)
        try:
            settings = cls(**overrides)
        except ValidationError as exc:
            errors += [_locate(error, overrides, config) for error in exc.errors(include_url=False)]
        finally:
            _FILE_VALUES.reset(token)
        if errors:
            raise ConfigError(errors)
        return settings

    def masked(self) -> dict[str, object]:
        """The effective settings with secrets replaced by ``***`` (and hidden in URLs)."""
        shown = self.model_dump()
        for name, value in shown.items():
            if isinstance(value, SecretStr):
                shown[name] = "***"
        shown["database_url"] = mask_url(self.database_url)
        shown["webhook_url"] = None if self.webhook_url is None else mask_url(self.webhook_url, keep_path=False)
        return shown


def warn_unknown_variables(environ: Mapping[str, str], known: Mapping[str, object]) -> list[str]:
    """Warn (log) of each ``INVDET_*`` variable that names no setting, with the nearest one: a misspelled
    variable would otherwise be ignored without a word. Returns the warnings.

    >>> warn_unknown_variables({"INVDET_WINDOWW": "8", "INVDET_WINDOW": "8", "HOME": "/"}, {"window": None})
    ['environment variable INVDET_WINDOWW names no setting (did you mean INVDET_WINDOW?)']
    """
    names = [f"{ENV_PREFIX}{name}".upper() for name in known] + [CONFIG_ENV]
    warnings = []
    for variable in sorted(environ):
        if not variable.upper().startswith(ENV_PREFIX) or variable.upper() in names:
            continue
        close = difflib.get_close_matches(variable.upper(), names, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"environment variable {variable} names no setting{hint}")
    for warning in warnings:
        log.warning(warning)
    return warnings


def mask_url(url: str, *, keep_path: bool = True) -> str:
    """A URL fit for logs: the password hidden and, unless ``keep_path``, the path and query too
    (webhook URLs often carry their token there).

    >>> mask_url("postgresql://u:pw@db:5432/alerts")
    'postgresql://u:***@db:5432/alerts'
    >>> mask_url("https://hooks.example.com/T0/B1/xyz?k=1", keep_path=False)
    'https://hooks.example.com/***'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.username is not None:
        host = f"{parts.username}{':***' if parts.password is not None else ''}@{host}"
    if not parts.scheme or not host:
        return "***"
    if keep_path:
        return f"{parts.scheme}://{host}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    hidden = parts.path not in ("", "/") or parts.query
    return f"{parts.scheme}://{host}" + ("/***" if hidden else "")


class ConfigFile:
    """A TOML settings file: its top-level values and the line each key is set on."""

    def __init__(self, path: Path | None, values: dict[str, Any], lines: list[str]) -> None:
        self.path = path
        self.values = values
        self.lines = lines

    @classmethod
    def read(cls, path: Path) -> ConfigFile:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{path}: cannot read the settings file ({exc.__class__.__name__}: {exc})"]) from None
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            located = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", str(exc))
            at_end = re.fullmatch(r"(.*) \(at end of document\)", str(exc))
            if at_end is not None:  # the file stops mid-statement: name its last line
                last = max(len(text.splitlines()), 1)
                raise ConfigError([f"{path}:{last}: not valid TOML: {at_end[1]} (at end of file)"]) from None
            if located is None:
                raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
            reason, line, column = located.groups()
            raise ConfigError([f"{path}:{line}: not valid TOML: {reason} (column {column})"]) from None
        return cls(path, values, text.splitlines())

    def line_of(self, key: str) -> int | None:
        """The 1-based line setting ``key`` at the top level (``key =``, ``"key" =`` or ``[key]``)."""
        pattern = re.compile(rf"""^\s*(\[\s*)?(["']?){re.escape(key)}\2\s*(=|\])""")
        return next((number for number, line in enumerate(self.lines, 1) if pattern.match(line)), None)

    def where(self, key: str) -> str:
        line = self.line_of(key)
        return f"{self.path}:{line}" if line is not None else f"{self.path}"

    def unknown_keys(self, known: Mapping[str, object]) -> list[str]:
        errors = []
        for key in self.values:
            if key in known:
                continue
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"{self.where(key)}: {key}: unknown setting{hint}")
        return errors


def _locate(error: Mapping[str, Any], overrides: Mapping[str, Any], config: ConfigFile) -> str:
    """One line naming where a wrong value came from: a flag, the environment or the file."""
    key = str(error["loc"][0]) if error["loc"] else "settings"
    message = error["msg"]
    if key in overrides:
        return f"setting {key}: {message}"
    env_name = f"{ENV_PREFIX}{key}".upper()
    if env_name in {name.upper() for name in os.environ}:
        return f"setting {key} (environment {env_name}): {message}"
    if key in config.values:
        return f"{config.where(key)}: {key}: {message}"
    return f"setting {key}: {message}"
