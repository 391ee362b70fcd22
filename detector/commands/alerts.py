"""``inversion-detector alerts ...``: what analysts do with alerts from a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

import orjson

from detector.alert import Status
from detector.db.alert_store import AlertFilter, AlertStore, alert_from_row, format_time
from detector.commands.terminal import printable, table


def list_alerts(store: AlertStore, where: AlertFilter, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    rows = store.list(where)
    if not rows:
        out.write("no alerts match\n")
        return 0
    out.write(
        table(
            ["alert_id", "created_at", "severity", "status", "detector", "client", "model", "score", "hits", "webhook"],
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
    """One spec-shaped alert object per line, oldest first."""
    out = out or sys.stdout
    for alert in store.export():
        out.write(orjson.dumps(alert.model_dump()).decode() + "\n")
    return 0


def change_status(store: AlertStore, alert_id: str, status: Status, note: str | None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    full_id = store.set_status(alert_id, status, note)
    out.write(f"{full_id}: {status}\n")
    return 0
