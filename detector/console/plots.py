"""Evidence plots as inline SVG strings, drawn on the server.

No script, no external file, no inline style (the console's Content-Security-Policy
forbids them): shapes carry classes that ``static/console.css`` styles. Every text
that reaches the SVG (titles, labels, client ids) goes through :class:`markupsafe.Markup`
formatting, which escapes it, so an attacker's client id renders as text.

Each plot is ``<svg class="plot" data-series="NAME">``: the page and its tests find
plots by that attribute. Times are shown in seconds from a common origin so that the
plots of one alert line up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from markupsafe import Markup

WIDTH = 640
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 42
GROUP_LEFT = 150
"""Left margin of the group timeline, where the client ids go."""
ROW_HEIGHT = 18
MAX_GROUP_ROWS = 24
MAX_POINTS_DRAWN = 1000
"""Above this many points a series is drawn as a line only (the points would merge anyway)."""


@dataclass(frozen=True)
class SeriesLook:
    """How one evidence series is titled and scaled."""

    title: str
    y_label: str
    log_y: bool = False
    y_range: tuple[float, float] | None = None


KNOWN_SERIES: dict[str, SeriesLook] = {
    "target_confidence": SeriesLook("Target-class confidence per query", "confidence", y_range=(0.0, 1.0)),
    "top2_margin": SeriesLook("Margin between the top two classes per query", "margin", y_range=(0.0, 1.0)),
    "dist_prev": SeriesLook("Distance to the previous query", "distance (log)", log_y=True),
    "knn_dist": SeriesLook("Distance to the nearest earlier query (k-NN)", "distance (log)", log_y=True),
    "nn_distance": SeriesLook("Distance to the nearest earlier query (k-NN)", "distance (log)", log_y=True),
    "query_rate": SeriesLook("Query rate", "queries / s"),
    "xclient_match": SeriesLook("Queries nearly copying another client's", "copy (1) or not (0)", y_range=(0.0, 1.0)),
}
SERIES_ORDER = tuple(KNOWN_SERIES)
"""Known series first, in this order (the attack story: confidence, walk, rate); others after, by name."""


def look_of(name: str) -> SeriesLook:
    """The look of a series: a known one's, or a plain title made from its name.

    >>> look_of("dist_prev").log_y
    True
    >>> look_of("margin_top2").title
    'Margin top2'
    """
    return KNOWN_SERIES.get(name) or SeriesLook(name.replace("_", " ").capitalize(), name)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[lo, hi]`` (the first and last enclose it).

    >>> nice_ticks(0.13, 0.87)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    >>> nice_ticks(3.0, 3.0)
    [2.4, 2.6, 2.8, 3.0, 3.2, 3.4, 3.6]
    """
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten covering ``[lo, hi]`` (both positive), at most about eight of them.

    >>> log_ticks(0.003, 0.4)
    [0.001, 0.01, 0.1, 1.0]
    """
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    last = max(last, first + 1)
    every = math.ceil((last - first + 1) / 8)
    return [10.0**k for k in range(first, last + 1, every)]


def tick_label(value: float) -> str:
    """Short text of a tick value.

    >>> [tick_label(v) for v in (0.0, 0.25, 1500.0, 1e-05)]
    ['0', '0.25', '1500', '1e-05']
    """
    return f"{value:.4g}"


def common_span(times: Sequence[Sequence[float]]) -> tuple[float, float] | None:
    """The earliest and latest finite time over several time lists (None when there is none).

    >>> common_span([[3.0, 5.0], [], [1.0, float("nan")]])
    (1.0, 5.0)
    """
    values = np.concatenate([np.asarray(t, dtype=float) for t in times] + [np.empty(0)])
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if values.size else None


class _Frame:
    """A plot area: maps data to pixels and draws the axes."""

    def __init__(self, x_span: tuple[float, float], height: int, left: int = LEFT) -> None:
        self.x_ticks = nice_ticks(0.0, x_span[1] - x_span[0])
        self.origin = x_span[0]
        self.height = height
        self.left = left
        self.bottom_px = height - BOTTOM

    def x(self, t: np.ndarray) -> np.ndarray:
        lo, hi = self.x_ticks[0], self.x_ticks[-1]
        return self.left + (t - self.origin - lo) / (hi - lo) * (WIDTH - RIGHT - self.left)

    def x_axis(self) -> Markup:
        parts = [
            Markup('<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>').format(
                self.left, self.bottom_px, WIDTH - RIGHT, self.bottom_px
            )
        ]
        for tick, px in zip(self.x_ticks, self.x(np.asarray(self.x_ticks) + self.origin)):
            parts.append(
                Markup('<line class="tick" x1="{0:.1f}" y1="{1}" x2="{0:.1f}" y2="{2}"/>'
                       '<text class="tick-label" x="{0:.1f}" y="{3}" text-anchor="middle">{4}</text>').format(
                    px, self.bottom_px, self.bottom_px + 4, self.bottom_px + 16, tick_label(tick)
                )
            )
        start = datetime.fromtimestamp(self.origin, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        parts.append(
            Markup('<text class="axis-label" x="{}" y="{}" text-anchor="middle">seconds since {}</text>').format(
                (self.left + WIDTH - RIGHT) / 2, self.height - 6, start
            )
        )
        return Markup("").join(parts)


def _svg(name: str, title: str, height: int, body: Markup) -> Markup:
    return Markup(
        '<svg class="plot" data-series="{0}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {1} {2}" '
        'width="{1}" height="{2}" role="img"><title>{3}</title>'
        '<text class="plot-title" x="{4}" y="18">{3}</text>{5}</svg>'
    ).format(name, WIDTH, height, title, LEFT, body)


def series_plot(name: str, t: Sequence[float], y: Sequence[float], x_span: tuple[float, float] | None = None,
                height: int = 220) -> Markup:
    """One per-query series as points joined by a line, with axes, ticks and labels.

    ``x_span`` is the time range shared by the alert's plots (default: this series').
    Non-finite values are left out; on a log scale, values at or below zero (exact
    repeats, for distances) are drawn on the axis floor and counted in the title.

    >>> svg = series_plot("dist_prev", [10.0, 11.0, 12.0], [0.5, 0.05, 0.0])
    >>> svg.startswith('<svg class="plot" data-series="dist_prev"'), svg.count("<circle")
    (True, 3)
    >>> "1 at zero" in svg
    True
    """
    look = look_of(name)
    times, values = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(times) & np.isfinite(values)
    times, values = times[keep], values[keep]
    span = x_span or common_span([times]) or (0.0, 1.0)
    frame = _Frame(span, height)
    title = look.title
    positive = values[values > 0]
    log_y = look.log_y and positive.size > 0
    if log_y:
        y_ticks = log_ticks(float(positive.min()), float(positive.max()))
        at_zero = int((values <= 0).sum())
        values = np.log10(np.maximum(values, y_ticks[0]))
        y_lo, y_hi = math.log10(y_ticks[0]), math.log10(y_ticks[-1])
        if at_zero:
            title += f" ({at_zero} at zero, drawn on the axis)"
    else:
        lo, hi = look.y_range or ((float(values.min()), float(values.max())) if values.size else (0.0, 1.0))
        y_ticks = nice_ticks(min(lo, float(values.min(initial=lo))), max(hi, float(values.max(initial=hi))))
        y_lo, y_hi = y_ticks[0], y_ticks[-1]
    top, bottom = TOP, frame.bottom_px

    def y_px(v: np.ndarray) -> np.ndarray:
        return bottom - (v - y_lo) / (y_hi - y_lo) * (bottom - top)

    parts = [frame.x_axis(), Markup('<line class="axis" x1="{0}" y1="{1}" x2="{0}" y2="{2}"/>').format(LEFT, top, bottom)]
    for tick in y_ticks:
        px = float(y_px(np.asarray(math.log10(tick) if log_y else tick)))
        parts.append(
            Markup('<line class="grid" x1="{0}" y1="{1:.1f}" x2="{2}" y2="{1:.1f}"/>'
                   '<text class="tick-label" x="{3}" y="{4:.1f}" text-anchor="end">{5}</text>').format(
                LEFT, px, WIDTH - RIGHT, LEFT - 6, px + 4, tick_label(tick)
            )
        )
    parts.append(
        Markup('<text class="axis-label" transform="rotate(-90)" x="{}" y="14" text-anchor="middle">{}</text>').format(
            -(top + bottom) / 2, look.y_label
        )
    )
    xs, ys = frame.x(times), y_px(values)
    if times.size:
        path = " ".join(f"{'L' if i else 'M'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(zip(xs, ys)))
        parts.append(Markup('<path class="series-line" d="{}"/>').format(path))
    else:
        parts.append(Markup('<text class="no-data" x="{}" y="{}" text-anchor="middle">no values</text>').format(
            (LEFT + WIDTH - RIGHT) / 2, (top + bottom) / 2))
    if 0 < times.size <= MAX_POINTS_DRAWN:
        parts.append(Markup('<g class="series-points">{}</g>').format(
            Markup("").join(Markup('<circle cx="{:.1f}" cy="{:.1f}" r="2.2"/>').format(x, y) for x, y in zip(xs, ys))
        ))
    return _svg(name, title, height, Markup("").join(parts))


def group_plot(rows: Mapping[str, Sequence[float]], alerted: str, x_span: tuple[float, float] | None = None) -> Markup:
    """The query times of a group's clients on one time axis, a row per client (the alerted one first).

    >>> svg = group_plot({"key_1": [1.0, 2.0], "<b>x</b>": [1.5]}, "key_1")
    >>> 'data-series="group"' in svg, "&lt;b&gt;x&lt;/b&gt;" in svg, "<b>" in svg
    (True, True, False)
    """
    names = [alerted] + sorted(name for name in rows if name != alerted)
    shown, hidden = names[:MAX_GROUP_ROWS], len(names) - MAX_GROUP_ROWS
    height = TOP + ROW_HEIGHT * len(shown) + BOTTOM
    span = x_span or common_span(list(rows.values())) or (0.0, 1.0)
    frame = _Frame(span, height, left=GROUP_LEFT)
    parts = [frame.x_axis()]
    for index, name in enumerate(shown):
        middle = TOP + ROW_HEIGHT * index + ROW_HEIGHT / 2
        times = np.asarray(rows.get(name, []), dtype=float)
        marks = "".join(f"M{x:.1f},{middle - 6:.1f}v12" for x in frame.x(times[np.isfinite(times)]))
        label = name if len(name) <= 20 else name[:19] + "…"
        parts.append(
            Markup('<g class="group-row{}"><title>{}</title>'
                   '<text class="row-label" x="{}" y="{:.1f}" text-anchor="end">{}</text>'
                   '<path class="row-marks" d="{}"/></g>').format(
                " alerted" if name == alerted else "", name, GROUP_LEFT - 6, middle + 4, label, marks
            )
        )
    title = f"Queries of the {len(names)} clients in the group"
    if hidden > 0:
        title += f" (first {len(shown)} shown)"
    return _svg("group", title, height, Markup("").join(parts))


def alert_plots(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], group: Mapping[str, Sequence[float]],
                alerted: str) -> list[Markup]:
    """Every plot of one alert's evidence on a common time axis: known series first, then others
    by name, then (for a group alert) the group's query times with the alerted client's own.

    ``series`` maps a name to (times, values); ``group`` maps each other client to its query times.

    >>> plots = alert_plots({"query_rate": ([1.0, 2.0], [1.0, 1.0]), "dist_prev": ([1.0, 2.0], [0.1, 0.2])},
    ...                     {"key_2": [1.5]}, "key_1")
    >>> [str(p).split('data-series="')[1].split('"')[0] for p in plots]
    ['dist_prev', 'query_rate', 'group']
    """
    span = common_span([t for t, _ in series.values()] + list(group.values()))
    names = sorted(series, key=lambda n: (SERIES_ORDER.index(n) if n in KNOWN_SERIES else len(SERIES_ORDER), n))
    plots = [series_plot(name, *series[name], x_span=span) for name in names]
    if group:
        own = max((t for t, _ in series.values()), key=len, default=[])
        plots.append(group_plot({**group, alerted: own}, alerted, x_span=span))
    return plots
