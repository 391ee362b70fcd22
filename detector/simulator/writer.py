"""One timeline of events from a scenario, and its JSONL files.

Every actor's events are merged by serving time (``heapq.merge`` over the
actors' streams, so memory stays bounded by one chunk per actor), then
numbered with event ids drawn from the seed: same scenario and seed, same
bytes.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

from detector.simulator.actors import Actor, ClientTruth, events
from detector.simulator.plan import cast
from detector.simulator.scenarios import SCENARIOS, Scenario


def resolve(scenario: str | Scenario) -> Scenario:
    """A scenario given by name or as itself."""
    if isinstance(scenario, Scenario):
        return scenario
    try:
        return SCENARIOS[scenario]
    except KeyError:
        raise KeyError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}") from None


def timeline(actors: list[Actor], seed: int) -> Iterator[dict[str, object]]:
    """The actors' events merged by serving time, each given an event id drawn from ``seed``."""
    ids = random.Random(seed)
    for _, _, event in heapq.merge(*(events(actor, number) for number, actor in enumerate(actors))):
        event["event_id"] = str(uuid.UUID(int=ids.getrandbits(128), version=4))
        yield event


def generate(scenario: str | Scenario, seed: int = 0) -> tuple[Iterator[dict[str, object]], list[ClientTruth]]:
    """The scenario's events (inference-event dicts, in serving order, lazily) and its ground truth.

    >>> events, truth = generate("tiny", seed=1)
    >>> first = next(events)
    >>> sorted(first), sum(t.n_events for t in truth) < 3000
    (['client_id', 'event_id', 'input', 'meta', 'model_id', 'output', 'ts', 'v'], True)
    """
    actors = cast(resolve(scenario), seed)
    truth = [row for actor in actors for row in actor.truth()]
    return timeline(actors, seed), truth


def json_line(obj: object) -> str:
    """One compact JSON line, as the scenario files hold them (orjson: a tenth of the standard library's time).

    >>> json_line({"a": [1, 2]})
    '{"a":[1,2]}\\n'
    """
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE).decode()


def write_scenario(scenario: str | Scenario, directory: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """Write ``<name>.jsonl`` (events) and ``<name>.truth.jsonl`` (one object per client) into ``directory``."""
    resolved = resolve(scenario)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    events_path, truth_path = folder / f"{resolved.name}.jsonl", folder / f"{resolved.name}.truth.jsonl"
    stream, truth = generate(resolved, seed)
    with open(events_path, "w", encoding="utf-8") as out:
        out.writelines(json_line(event) for event in stream)
    with open(truth_path, "w", encoding="utf-8") as out:
        out.writelines(json_line(dataclasses.asdict(row)) for row in truth)
    return events_path, truth_path
