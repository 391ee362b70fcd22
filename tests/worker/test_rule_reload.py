"""A SIGHUP rule reload in the worker: the rules put in force decide what the next rule window computes."""

from __future__ import annotations

from pathlib import Path

from detector.db.alert_store import AlertFilter, AlertStore
from tests.worker.harness import PROBE_RULE, benign
from tests.worker.scripted import TP, run_batches, scripted_settings, worker

EXTRACTION_RULE = """\
  - id: test-coverage
    description: any input coverage at all (read by no built-in rule)
    condition: input_coverage >= 0
    severity: low
    tags: [test]
    min_events: 1
"""


def test_a_reloaded_rule_over_a_featurizer_no_rule_read_fires_on_the_next_window_the_model_skips(tmp_path: Path) -> None:
    settings = scripted_settings(tmp_path)
    made, consumer = worker(settings)
    made.assigned([TP])
    person = benign("person", 0)
    consumer.feed(person.events(4, probe=False))  # a rule window at 4 events
    run_batches(made, consumer)
    (tmp_path / "probe.yaml").write_text(PROBE_RULE + EXTRACTION_RULE)
    made.reload_rules()
    consumer.feed(person.events(4, probe=False))  # the next rule window, at 8 events (the model's is at 16)
    run_batches(made, consumer)
    made.checkpoint()
    rows = AlertStore(made.engine).list(AlertFilter(detector="rule:test-coverage"))
    assert [(row.client_id, row.hit_count) for row in rows] == [("person", 1)]
