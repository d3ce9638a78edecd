"""Bar charts drawn on the server as SVG: no script, no charting library to ship.

Each chart is an image with a title and a description for screen readers; the page shows
the same numbers in a table next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 640
HEIGHT = 220
MARGIN_LEFT = 48
MARGIN_BOTTOM = 36
MARGIN_TOP = 12
BAR_COLOUR = "#0b4f8a"
TEXT_COLOUR = "#1a1a1a"


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value``, divisible by the 4 grid steps."""
    if value <= 4:
        return 4
    step = 10 ** (len(str(value)) - 1)
    top = ((value + step - 1) // step) * step
    return top + (-top % 4)


def bar_chart(
    bars: Sequence[tuple[str, int]], *, title: str, label_every: int = 1, chart_id: str
) -> Markup:
    """An SVG bar chart of ``(label, value)`` pairs."""
    top = _nice_max(max((v for _, v in bars), default=0))
    plot_w = WIDTH - MARGIN_LEFT - 8
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_w / max(len(bars), 1)
    bar_w = max(slot * 0.7, 1.0)
    summary = ", ".join(f"{label}: {value}" for label, value in bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(summary)}</desc>',
    ]
    for tick in range(0, 5):
        value = top * tick // 4
        y = MARGIN_TOP + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#c8c8c8" stroke-width="1"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{TEXT_COLOUR}">{value}</text>'
        )
    for n, (label, value) in enumerate(bars):
        h = plot_h * value / top if top else 0
        x = MARGIN_LEFT + n * slot + (slot - bar_w) / 2
        y = MARGIN_TOP + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="{BAR_COLOUR}"><title>{escape(label)}: {value}</title></rect>'
        )
        if n % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" '
                f'text-anchor="middle" font-size="11" fill="{TEXT_COLOUR}">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
