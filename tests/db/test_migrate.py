"""The schema's revision against the code's: created when absent, refused in one line when behind or ahead."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from detector.cli import main
from detector.db.engine import make_engine
from detector.db.migrate import SchemaOutOfDate, current_revision, ensure_schema, head_revision, upgrade


def test_a_schema_ahead_of_the_code_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    for action in (ensure_schema, upgrade):
        with pytest.raises(SchemaOutOfDate, match="revision f00dfeedbeef, newer than this detector knows"):
            action(engine)
    assert main(["alerts", "list", "--database-url", url]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "newer than this detector knows" in line
