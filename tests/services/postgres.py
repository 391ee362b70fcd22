"""A throwaway PostgreSQL server on loopback, for integration tests and benchmarks.

It uses the server binaries of the machine (Debian's ``postgresql`` package),
inits a cluster in a fresh folder under the temporary directory, and runs it
with trust authentication on 127.0.0.1 and durability switched off
(``fsync=off``, ``synchronous_commit=off``): fast, and disposable by design.
PostgreSQL refuses to run as root, so as root every server command runs as
the ``postgres`` user through ``runuser``, on a folder that user owns.

The same cluster can be stopped and started again (``stop()``/``start()``),
on the same port and with its data, for tests of database outages.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2
from psycopg2 import sql

from tests.services.launch import LaunchedServer, ServiceError, free_loopback_port, spawn, wait_until_ready

INSTALL_HINT = "apt-get install -y postgresql"
SERVER_USER = "postgres"
SUPERUSER = "postgres"
SERVER_BINARIES = ("initdb", "postgres", "pg_ctl")
DEBIAN_VERSIONS = Path("/usr/lib/postgresql")


def _version_key(bindir: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` -> ``(15,)``, so the newest installed major version sorts last.

    >>> _version_key(Path("/usr/lib/postgresql/9.6/bin")) < _version_key(Path("/usr/lib/postgresql/16/bin"))
    True
    """
    return tuple(int(part) for part in bindir.parent.name.split(".") if part.isdigit())


def find_bindir() -> Path:
    """The folder of the PostgreSQL server binaries: ``pg_config --bindir``, else the newest ``/usr/lib/postgresql/*/bin``."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        reported = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if reported:
            candidates.append(Path(reported))
    candidates.extend(sorted(DEBIAN_VERSIONS.glob("*/bin"), key=_version_key, reverse=True))
    for bindir in candidates:
        if all((bindir / name).is_file() for name in SERVER_BINARIES):
            return bindir
    raise ServiceError(
        "PostgreSQL server binaries (initdb, postgres, pg_ctl) not found via `pg_config --bindir` "
        f"or in {DEBIAN_VERSIONS}/*/bin: {INSTALL_HINT}"
    )


def _server_account() -> str | None:
    """The account the server runs as: ``postgres`` when we are root (it refuses root), else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise ServiceError(
            f"running as root, the PostgreSQL server must run as the {SERVER_USER!r} user, which does not exist: "
            f"{INSTALL_HINT}"
        ) from None
    return SERVER_USER


class PostgresServer(LaunchedServer):
    """A PostgreSQL cluster of its own, listening on 127.0.0.1 with trust authentication.

    Use it as a context manager: entering inits the cluster and starts the
    server, leaving stops it and deletes its folder.
    """

    def __init__(self, *, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self.bindir = find_bindir()
        self.account = _server_account()
        self.port = port or free_loopback_port()
        self.startup_timeout = startup_timeout
        self.root: Path | None = None
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's ``postgres`` database."""
        return self.database_url(SUPERUSER)

    @property
    def data_dir(self) -> Path:
        return self._require_root() / "data"

    @property
    def log_path(self) -> Path:
        """The server's output, across restarts."""
        return self._require_root() / "server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        """Start the server (initialising the cluster the first time) and wait until it accepts connections."""
        if self.root is None:
            self._init_cluster()
        self._process = spawn(
            self._as_account(
                [
                    str(self.bindir / "postgres"),
                    "-D", str(self.data_dir),
                    "-h", "127.0.0.1",
                    "-p", str(self.port),
                    "-c", "unix_socket_directories=",
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                ]
            ),
            self.log_path,
        )  # fmt: skip
        wait_until_ready(
            self._process,
            self._accepts_sessions,
            what=f"PostgreSQL on 127.0.0.1:{self.port}",
            log_path=self.log_path,
            timeout=self.startup_timeout,
        )

    def stop(self) -> None:
        """Shut the server down (fast mode: sessions are disconnected); the cluster and its data stay."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._run(
                [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30"],
                what="pg_ctl stop",
            )
        self._process.wait(timeout=30)
        self._process = None

    def close(self) -> None:
        """Stop the server and delete the cluster's folder."""
        self.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` and return its SQLAlchemy URL."""
        self._execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting whoever is still connected to it."""
        self._execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _execute(self, statement: sql.Composable) -> None:
        connection = self._connect()
        try:
            connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def _connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", connect_timeout=5)

    def _accepts_sessions(self) -> bool:
        try:
            self._connect().close()
        except psycopg2.OperationalError:
            return False
        return True

    def _init_cluster(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="invdet-postgres-"))
        if self.account is not None:
            shutil.chown(self.root, user=self.account)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D", str(self.data_dir),
                "-U", SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            what="initdb",
        )  # fmt: skip

    def _run(self, argv: list[str], *, what: str) -> None:
        done = subprocess.run(self._as_account(argv), capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise ServiceError(f"{what} failed with status {done.returncode}:\n{done.stdout}{done.stderr}")

    def _as_account(self, argv: list[str]) -> list[str]:
        return argv if self.account is None else ["runuser", "-u", self.account, "--", *argv]

    def _require_root(self) -> Path:
        if self.root is None:
            raise ServiceError("the PostgreSQL cluster is not initialised: call start() or use the server as a context manager")
        return self.root
