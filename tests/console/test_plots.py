"""Evidence plots: SVG structure, scales, escaping and bounds."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from detector.console.plots import MAX_GROUP_ROWS, MAX_POINTS_DRAWN, alert_plots, group_plot, series_plot

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    """The plot as XML: also proves it is well-formed."""
    return ET.fromstring(str(svg))


def points(svg: str) -> list[tuple[float, float]]:
    return [(float(c.get("cx")), float(c.get("cy"))) for c in parse(svg).iter(SVG + "circle")]


def tick_labels(svg: str, anchor: str) -> list[str]:
    return [t.text for t in parse(svg).iter(SVG + "text")
            if t.get("class") == "tick-label" and t.get("text-anchor") == anchor]


def test_a_series_plot_has_title_axes_ticks_and_one_point_per_finite_value() -> None:
    svg = series_plot("target_confidence", [0.0, 1.0, 2.0, 3.0], [0.1, float("nan"), 0.5, 0.9])
    root = parse(svg)
    assert root.get("class") == "plot" and root.get("data-series") == "target_confidence"
    assert root.find(SVG + "title").text == "Target-class confidence per query"
    assert len(points(svg)) == 3
    assert tick_labels(svg, "end") == ["0", "0.2", "0.4", "0.6", "0.8", "1"]  # confidence keeps its 0..1 range
    assert tick_labels(svg, "middle")[0] == "0"
    xs, ys = zip(*points(svg))
    assert list(xs) == sorted(xs) and ys[0] > ys[1] > ys[2]  # later is right, higher confidence is up (smaller y)


def test_distances_use_a_log_scale_with_decades_and_zeros_on_the_floor() -> None:
    svg = series_plot("dist_prev", [0.0, 1.0, 2.0, 3.0], [0.0, 0.5, 0.05, 0.005])
    assert tick_labels(svg, "end") == ["0.001", "0.01", "0.1", "1"]
    ys = [y for _, y in points(svg)]
    # equal ratios are equal steps on a log scale
    assert math.isclose(ys[2] - ys[1], ys[3] - ys[2], rel_tol=1e-3)
    assert ys[0] == max(ys)  # the zero sits on the floor
    assert "(1 at zero, drawn on the axis)" in parse(svg).find(SVG + "title").text


def test_an_unknown_series_is_plotted_generically_and_an_empty_one_says_so() -> None:
    svg = series_plot("margin_top2", [5.0, 6.0], [2.0, 4.0])
    assert parse(svg).find(SVG + "title").text == "Margin top2"
    empty = series_plot("margin_top2", [], [])
    assert points(empty) == [] and "no values" in str(empty)


def test_long_series_are_drawn_as_a_line_only() -> None:
    n = MAX_POINTS_DRAWN + 1
    svg = series_plot("query_rate", list(range(n)), [1.0] * n)
    assert points(svg) == [] and parse(svg).find(f".//{SVG}path[@class='series-line']") is not None


def test_plots_of_one_alert_share_the_time_axis() -> None:
    plots = alert_plots({"query_rate": ([10.0, 20.0], [1.0, 2.0]), "target_confidence": ([15.0, 30.0], [0.1, 0.2])},
                        {}, "key_1")
    assert [parse(p).get("data-series") for p in plots] == ["target_confidence", "query_rate"]
    confidence, rate = (points(p) for p in plots)
    assert confidence[0][0] > rate[0][0]  # t=15 is right of t=10 on both
    assert tick_labels(plots[0], "middle") == tick_labels(plots[1], "middle")


def test_group_plot_has_a_row_per_client_alerted_first_and_bounded() -> None:
    rows = {f"key_{i:02d}": [float(i), float(i) + 1] for i in range(MAX_GROUP_ROWS + 5)}
    svg = group_plot(rows, "key_07")
    labels = [t.text for t in parse(svg).iter(SVG + "text") if t.get("class") == "row-label"]
    assert len(labels) == MAX_GROUP_ROWS and labels[0] == "key_07"
    assert f"first {MAX_GROUP_ROWS} shown" in parse(svg).find(SVG + "title").text
    marks = [g.find(SVG + "path").get("d") for g in parse(svg).iter(SVG + "g") if "group-row" in g.get("class", "")]
    assert all(len(re.findall("M", d)) == 2 for d in marks)


def test_hostile_names_are_escaped_in_the_svg() -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
    svg = group_plot({hostile: [1.0]}, "key_1")
    root = parse(svg)  # still well-formed XML: nothing was injected
    assert root.find(f".//{SVG}script") is None and root.find(f".//{SVG}img") is None
    labels = [g.find(SVG + "title").text for g in root.iter(SVG + "g") if "group-row" in g.get("class", "")]
    assert labels == ["key_1", hostile]
    assert parse(series_plot(hostile, [1.0], [1.0])).get("data-series") == hostile
