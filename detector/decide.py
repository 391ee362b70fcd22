"""Decide: detector hits -> alert changes, deduplicated per (client, model, detector).

While an alert for the same (client, model, detector) is open and within its
suppression window, new hits update it (count, last seen, max score, severity
may rise) instead of creating another. The store is the source of truth: on a
cache miss the decider asks it for an open alert, so a restart does not
duplicate alerts, and the sink reports alerts an analyst closed meanwhile
(:meth:`Decider.rebind`), so a closed alert is never silently reopened.

A hit that names other clients (a split attack) gives its new alert those
clients as ``related_clients`` and the group's id (:mod:`detector.group_ids`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from detector.alert import MAX_EVIDENCE_EVENTS, MAX_RELATED_CLIENTS, Alert, severity_rank
from detector.evidence import Evidence
from detector.group_ids import GroupIds
from detector.hit import Hit
from featurizers.state import ClientState


@dataclass(slots=True)
class AlertChange:
    """The current state of an alert after a hit: to insert (``new``) or to update."""

    alert: Alert
    hit_count: int
    last_seen_ts: float
    suppress_until_ts: float
    new: bool = True
    evidence: Evidence | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.alert.client_id, self.alert.model_id, self.alert.detector)


Lookup = Callable[[str, str, str, float], "AlertChange | None"]
"""(client_id, model_id, detector, at_ts) -> the open, unexpired alert for that key, if any."""


def summarise(client: ClientState, hit: Hit) -> str:
    """One line an analyst reads first.

    >>> from detector.alert import Reason
    >>> c = ClientState.new("m", "key_1", 8)
    >>> for t in (0.0, 40.0):
    ...     c.append("e", t, None)
    >>> h = Hit("rule:x", "high", 0.8, [Reason(feature="rate_60s", value=312.0, op=">", threshold=120.0)],
    ...         "automated high-rate querying", 600.0)
    >>> summarise(c, h)
    'key_1: automated high-rate querying (rate_60s=312 > 120) over 2 queries in 40 s'
    """
    shown = ", ".join(f"{r.feature}={r.value:.3g} {r.op} {r.threshold:.3g}" for r in hit.reasons[:3])
    start, end = client.window_span()
    text = f"{client.client_id}: {hit.description}"
    if shown:
        text += f" ({shown})"
    text += f" over {client.n_events} queries in {end - start:.0f} s"
    if hit.related_clients:
        text += f"; same probes from {len(hit.related_clients)} other clients: " + ", ".join(hit.related_clients)
    return text


@dataclass
class Decider:
    """Turns hits into :class:`AlertChange` objects, keeping the active alert per key (bounded LRU).

    ``groups`` names the group of a new group alert; share one between the deciders of a process."""

    lookup: Lookup | None = None
    max_active: int = 100_000
    groups: GroupIds = field(default_factory=GroupIds)
    active: OrderedDict[tuple[str, str, str], AlertChange] = field(default_factory=OrderedDict)

    def decide(
        self,
        hits: list[Hit],
        client: ClientState,
        features: Mapping[str, float],
        trigger_event_id: str,
        evidence: Callable[[Hit], Evidence] | None = None,
    ) -> list[AlertChange]:
        """Alert changes for the hits on one client's window; ``evidence`` is asked only for new alerts."""
        changes = []
        now = client.last_ts
        for hit in hits:
            key = (client.client_id, client.model_id, hit.detector)
            current = self.active.get(key)
            if current is None or now > current.suppress_until_ts:
                current = self.lookup(*key, now) if self.lookup is not None else None
            if current is not None and now <= current.suppress_until_ts:
                changes.append(self._update(current, hit, client, features))
            else:
                change = self._create(hit, client, features, trigger_event_id)
                if evidence is not None:
                    change.evidence = evidence(hit)
                changes.append(change)
            self.active[key] = changes[-1]
            self.active.move_to_end(key)
        while len(self.active) > self.max_active:
            self.active.popitem(last=False)
        return changes

    def _create(self, hit: Hit, client: ClientState, features: Mapping[str, float], trigger: str) -> AlertChange:
        start, end = client.window_span()
        suppress_until = end + hit.suppress_for_s
        related = sorted(set(hit.related_clients) - {client.client_id})[:MAX_RELATED_CLIENTS]
        group_id = None
        if related:
            group_id = self.groups.assign(
                client.model_id, hit.detector, client.client_id, related, at_ts=end, until_ts=suppress_until
            )
        alert = Alert(
            severity=hit.severity,
            detector=hit.detector,
            client_id=client.client_id,
            model_id=client.model_id,
            score=hit.score,
            summary=summarise(client, hit),
            trigger_event_id=trigger,
            window_start_ts=start,
            window_end_ts=end,
            reasons=hit.reasons,
            features=dict(features),
            evidence_event_ids=client.recent_event_ids(MAX_EVIDENCE_EVENTS),
            related_clients=related,
            group_id=group_id,
        )
        return AlertChange(alert, 1, end, suppress_until, new=True)

    @staticmethod
    def _update(current: AlertChange, hit: Hit, client: ClientState, features: Mapping[str, float]) -> AlertChange:
        alert = current.alert
        updates: dict[str, object] = {"score": max(alert.score, hit.score), "window_end_ts": client.last_ts}
        if severity_rank(hit.severity) > severity_rank(alert.severity):
            updates["severity"] = hit.severity
        return AlertChange(
            alert.model_copy(update=updates),
            current.hit_count + 1,
            client.last_ts,
            current.suppress_until_ts,
            new=False,
        )

    def rebind(self, replaced: Mapping[str, AlertChange]) -> None:
        """Adopt alerts the sink re-created because the one they updated was closed meanwhile."""
        for change in replaced.values():
            self.active[change.key] = change
