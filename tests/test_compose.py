"""docker-compose.yml cannot run here; check that it says what the README and the settings promise."""

from __future__ import annotations

from pathlib import Path

import yaml

from detector.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def environment(service: dict) -> dict[str, object]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def test_every_invdet_variable_is_a_real_setting() -> None:
    names = {f"INVDET_{field.upper()}" for field in Settings.model_fields}
    used = {key for service in compose()["services"].values() for key in environment(service) if key.startswith("INVDET_")}
    assert used, "the worker is configured through INVDET_* variables"
    assert used <= names, f"not settings: {sorted(used - names)}"


def test_services_the_readme_names_are_there_with_healthchecks() -> None:
    services = compose()["services"]
    assert {"kafka", "postgres", "worker"} <= set(services)
    assert "apache/kafka" in services["kafka"]["image"] and "postgres:16" in services["postgres"]["image"]
    for name in ("kafka", "postgres"):
        assert "healthcheck" in services[name], name
        assert services["worker"]["depends_on"][name]["condition"] == "service_healthy"
    assert services["worker"]["build"] in (".", {"context": "."})
    env = environment(services["worker"])
    assert str(env["INVDET_DATABASE_URL"]).startswith("postgresql")
    assert env["INVDET_KAFKA_TOPIC"] == "inference-logs"
    readme = (ROOT / "README.md").read_text()
    assert "docker-compose.yml" in readme and "Kafka" in readme and "PostgreSQL" in readme
