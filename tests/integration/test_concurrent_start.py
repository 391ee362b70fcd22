"""Replicas started together on an empty PostgreSQL database all come up: the schema is created once,
under an advisory lock, and every other process finds it current."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import create_engine, text

from detector.db.migrate import head_revision
from tests.services import poll_until
from tests.worker.harness import (  # noqa: F401 - fixtures
    ROOT,
    library,
    store,
    topic,
    worker_env,
    workers,
    write_rules,
)

PARTITIONS = 4
CREATE_SCHEMA = "from detector.db.engine import make_engine; from detector.db.migrate import ensure_schema; " \
                "ensure_schema(make_engine({url!r}))"  # fmt: skip


def test_many_processes_creating_the_schema_at_once_all_succeed(postgres_url: str) -> None:
    processes = [
        subprocess.Popen([sys.executable, "-c", CREATE_SCHEMA.format(url=postgres_url)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        for _ in range(6)
    ]
    outcomes = [(process.wait(120), process.stdout.read()) for process in processes]
    assert [status for status, _ in outcomes] == [0] * 6, [output for _, output in outcomes]
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
    engine.dispose()


def test_three_workers_started_at_once_on_an_empty_database_all_come_up(library, topic, store, workers, tmp_path) -> None:
    env = worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name, library=library,
                     rules=write_rules(tmp_path))  # fmt: skip
    started = [workers(name, env) for name in ("one", "two", "three")]

    def all_up() -> bool:
        for worker in started:
            if not worker.alive:
                raise AssertionError(f"worker {worker.name} exited:\n{worker.log()[-4000:]}")
        assigned = [worker.metric("invdet_assigned_partitions") for worker in started]
        return None not in assigned and sum(assigned) == PARTITIONS

    poll_until(all_up, timeout=90, what="three workers up, sharing the partitions", interval=0.1)
    assert all("Traceback" not in worker.log() for worker in started)
