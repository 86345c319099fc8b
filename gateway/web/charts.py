"""Charts drawn on the server as SVG: no chart library, no script, nothing the CSP must allow.

Each chart is a dictionary of numbers turned into bars with presentation attributes (``fill``,
``x``, ``y``) — not ``style`` — so the strict CSP holds. Every page that shows a chart shows the same
numbers in a table beside it: the chart is for the eye, the table for the screen reader and the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

__all__ = ["bar_chart", "grouped_bar_chart", "line_chart"]

_COLOURS = ("#1f6feb", "#d9480f", "#2f9e44", "#7048e8")
_W, _H, _PAD_L, _PAD_B, _PAD_T = 560, 220, 40, 36, 16


def _frame(title: str, body: str, height: int = _H) -> Markup:
    # Every text in ``body`` and here went through escape(); the rest are numbers and constants.
    return Markup(  # noqa: S704
        f'<svg class="chart" viewBox="0 0 {_W} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )


def grouped_bar_chart(title: str, categories: Sequence[str], series: Mapping[str, Sequence[int]]) -> Markup:
    """Bars per category, one colour per series (e.g. before/after a crosswalk change), with a legend."""
    top = max([1, *(v for values in series.values() for v in values)])
    plot_w, plot_h = _W - _PAD_L - 10, _H - _PAD_B - _PAD_T - 18
    n, k = max(1, len(categories)), max(1, len(series))
    slot = plot_w / n
    bar = max(2.0, slot * 0.8 / k)
    parts = [
        f'<line x1="{_PAD_L}" y1="{_PAD_T + 18 + plot_h}" x2="{_W - 10}" y2="{_PAD_T + 18 + plot_h}" stroke="#666"/>'
    ]
    for s, (name, values) in enumerate(series.items()):
        colour = _COLOURS[s % len(_COLOURS)]
        parts.append(f'<rect x="{_PAD_L + s * 110}" y="2" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{_PAD_L + s * 110 + 16}" y="12" font-size="12">{escape(name)}</text>')
        for i, value in enumerate(values):
            h = plot_h * value / top
            x = _PAD_L + i * slot + slot * 0.1 + s * bar
            y = _PAD_T + 18 + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(categories[i])} {escape(name)}: {value}</title></rect>"
            )
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 2:.1f}" font-size="10" text-anchor="middle">{value}</text>'
            )
    for i, category in enumerate(categories):
        x = _PAD_L + i * slot + slot / 2
        parts.append(f'<text x="{x:.1f}" y="{_H - 12}" font-size="11" text-anchor="middle">{escape(category)}</text>')
    return _frame(title, "".join(parts))


def bar_chart(title: str, data: Mapping[str, int]) -> Markup:
    return grouped_bar_chart(title, list(data), {title: list(data.values())})


def line_chart(title: str, points: Sequence[tuple[str, int]], *, low: int = 0, high: int = 1000) -> Markup:
    """A score over time (the resident's history), labelled at the first and last point."""
    plot_w, plot_h = _W - _PAD_L - 20, _H - _PAD_B - _PAD_T
    if not points:
        return _frame(title, "")
    step = plot_w / max(1, len(points) - 1)
    span = max(1, high - low)
    coords = [
        (_PAD_L + i * step, _PAD_T + plot_h - plot_h * (min(max(v, low), high) - low) / span)
        for i, (_, v) in enumerate(points)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    parts = [
        f'<line x1="{_PAD_L}" y1="{_PAD_T + plot_h}" x2="{_W - 20}" y2="{_PAD_T + plot_h}" stroke="#666"/>',
        f'<text x="4" y="{_PAD_T + 4}" font-size="10">{high}</text>',
        f'<text x="4" y="{_PAD_T + plot_h}" font-size="10">{low}</text>',
        f'<polyline points="{path}" fill="none" stroke="{_COLOURS[0]}" stroke-width="2"/>',
    ]
    for (x, y), (label, value) in zip(coords, points, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{_COLOURS[0]}">'
            f"<title>{escape(label)}: {value}</title></circle>"
        )
    parts.append(f'<text x="{_PAD_L}" y="{_H - 12}" font-size="11">{escape(points[0][0])}</text>')
    parts.append(f'<text x="{_W - 20}" y="{_H - 12}" font-size="11" text-anchor="end">{escape(points[-1][0])}</text>')
    return _frame(title, "".join(parts))
