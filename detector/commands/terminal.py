"""Terminal output: tables, progress, and neutralising attacker-controlled text."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

_CONTROL = {i: f"\\x{i:02x}" for i in list(range(0x20)) + [0x7F]}


def printable(text: object, width: int | None = None) -> str:
    """Text safe to print: control characters (terminal escape sequences in a
    client id, say) are shown escaped, and long text is cut to ``width``.

    >>> printable("key\\x1b[31mred")
    'key\\\\x1b[31mred'
    >>> printable("a-very-long-client-id", 10)
    'a-very-lo…'
    """
    shown = str(text).translate(_CONTROL)
    if width is not None and len(shown) > width:
        shown = shown[: width - 1] + "…"
    return shown


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain left-aligned text table.

    >>> print(table(["a", "bb"], [[1, "x"], [22, "yyy"]]))
    a   bb
    --  ---
    1   x
    22  yyy
    """
    cells = [[printable(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)
    return "\n".join(lines)


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, total: float, enabled: bool | None = None) -> None:
        self.total = max(total, 1.0)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.last_draw = 0.0

    def update(self, done: float, events: int, events_per_s: float) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last_draw < 0.2:
            return
        self.last_draw = now
        fraction = min(done / self.total, 1.0)
        bar = "#" * int(30 * fraction)
        sys.stderr.write(f"\r[{bar:<30}] {fraction:4.0%}  {events:,} events  {events_per_s:,.0f} events/s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
