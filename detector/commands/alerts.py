"""``inversion-detector alerts ...``: what analysts do with alerts from a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

import orjson
from sqlalchemy import Row

from detector.alert import Status
from detector.db.alert_store import AlertFilter, AlertStore, alert_from_row, format_time
from detector.commands.terminal import printable, table


def group_cell(row: Row) -> str:
    """A row's group for ``alerts list``: its size (the client and its related clients) and the start
    of its id, or ``-`` for a one-client alert (and for alerts from before contract version 2).

    >>> from types import SimpleNamespace
    >>> group_cell(SimpleNamespace(related_clients=["k2", "k3"], group_id="3f9a1c2be0d44b7d")), group_cell(
    ...     SimpleNamespace(related_clients=None, group_id=None))
    ('3 3f9a1c2b', '-')
    """
    if row.group_id is None:
        return "-"
    return f"{len(row.related_clients or []) + 1} {row.group_id[:8]}"


def list_alerts(store: AlertStore, where: AlertFilter, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    rows = store.list(where)
    if not rows:
        out.write("no alerts match\n")
        return 0
    out.write(
        table(
            ["alert_id", "created_at", "severity", "status", "detector", "client", "model", "score", "hits", "group",
             "webhook"],  # fmt: skip
            [
                [
                    r.alert_id,
                    format_time(r.created_at)[:19] + "Z",
                    r.severity,
                    r.status,
                    r.detector,
                    printable(r.client_id, 24),
                    printable(r.model_id, 24),
                    f"{r.score:.2f}",
                    r.hit_count,
                    group_cell(r),
                    r.delivery or "-",
                ]
                for r in rows
            ],
        )
        + "\n"
    )
    if len(rows) == where.limit:
        out.write(f"(showing the newest {where.limit}; use --limit to see more)\n")
    return 0


def show_alert(store: AlertStore, alert_id: str, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    row = store.get(alert_id)
    alert = alert_from_row(row)
    lines = [
        f"alert      {alert.alert_id}",
        f"created    {alert.created_at}",
        f"severity   {alert.severity}    score {alert.score:.2f}    status {alert.status}",
        f"detector   {alert.detector}",
        f"client     {printable(alert.client_id)}",
        f"group      {alert.group_id} ({len(alert.related_clients) + 1} clients)" if alert.group_id else "group      -",
        f"model      {printable(alert.model_id)}",
        f"window     {alert.window_start_ts:.3f} .. {alert.window_end_ts:.3f} event time "
        f"({alert.window_end_ts - alert.window_start_ts:.1f} s); {row.hit_count} hits, last at {row.last_seen_ts:.3f}",
        f"trigger    {printable(alert.trigger_event_id)}",
        f"summary    {printable(alert.summary)}",
        "",
        "reasons",
    ]
    lines += [f"  {r.feature} = {r.value:.6g}  {r.op}  {r.threshold:.6g}" for r in alert.reasons] or ["  (none)"]
    lines += ["", "features"]
    lines += [f"  {printable(name)} = {value:.6g}" for name, value in sorted(alert.features.items())] or ["  (none)"]
    if alert.related_clients:
        lines += ["", f"related clients ({len(alert.related_clients)})"]
        lines += [f"  {printable(other)}" for other in alert.related_clients]
    lines += ["", f"evidence ({len(alert.evidence_event_ids)} events, newest first)"]
    lines += [f"  {printable(e)}" for e in alert.evidence_event_ids]
    lines += ["", "status history"]
    lines += [
        f"  {format_time(h.changed_at)}  {h.from_status or '-'} -> {h.to_status}" + (f"  ({printable(h.note)})" if h.note else "")
        for h in store.history(alert.alert_id)
    ]
    deliveries = store.deliveries(alert.alert_id)
    if deliveries:
        lines += ["", "webhook"]
        lines += [
            f"  {d.state}, {d.attempts} attempts" + (f", last error: {printable(d.last_error)}" if d.last_error else "")
            for d in deliveries
        ]
    out.write("\n".join(lines) + "\n")
    return 0


def export_alerts(store: AlertStore, out: TextIO | None = None) -> int:
    """One contract-shaped alert object per line (version 2: the group included), oldest first."""
    out = out or sys.stdout
    for alert in store.export():
        out.write(orjson.dumps(alert.model_dump()).decode() + "\n")
    return 0


def change_status(store: AlertStore, alert_id: str, status: Status, note: str | None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    full_id = store.set_status(alert_id, status, note)
    out.write(f"{full_id}: {status}\n")
    return 0
