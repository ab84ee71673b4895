"""Charts drawn on the server as inline SVG: bars for scores side by side, a line for a trend.

SVG rather than a JavaScript chart library: the page is complete as the server sends it (a
screenshot, a print-out or a browser without scripts sees the same chart), nothing has to be
vendored and kept up to date, and the numbers stay in the table beside each chart."""
from __future__ import annotations

from markupsafe import Markup, escape

from web.dashboard.display import score_text

# Scores run 0-100 (projections.scorecards); the axis is fixed so charts compare at a glance.
SCALE = 100


def bars(rows: list[tuple[str, float | None]], *, width: int = 560, label_width: int = 220,
         row_height: int = 26, none: str = "no duty due") -> Markup:
    """One horizontal bar per (label, score); a score of None says `none` (no duty fell due)."""
    plot = width - label_width - 50
    height = row_height * len(rows) + 4
    parts = [f'<svg class="chart bars" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, score) in enumerate(rows):
        y = i * row_height + 2
        middle = y + row_height / 2 + 5
        parts.append(f'<text x="{label_width - 8}" y="{middle}" text-anchor="end">{escape(label)}</text>')
        if score is None:
            parts.append(f'<text x="{label_width}" y="{middle}" class="none">{escape(none)}</text>')
            continue
        length = plot * max(0.0, min(score, SCALE)) / SCALE
        parts.append(f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{row_height - 8}" '
                     f'class="bar"><title>{escape(label)}: {score_text(score)}</title></rect>')
        parts.append(f'<text x="{label_width + length + 6:.1f}" y="{middle}">{score_text(score)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def trend(points: list[tuple[str, float | None]], *, width: int = 560, height: int = 180,
          axis: bool = True) -> Markup:
    """A line through (period, score), oldest first; periods with no score break the line."""
    pad_x, pad_y = (44, 24) if axis else (3, 3)
    plot_w, plot_h = width - 2 * pad_x, height - 2 * pad_y
    step = plot_w / max(len(points) - 1, 1)
    at = [(pad_x + i * step, None if s is None else pad_y + plot_h * (1 - min(s, SCALE) / SCALE))
          for i, (_, s) in enumerate(points)]
    parts = [f'<svg class="chart trend" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    if axis:
        for level in (0, 50, 100):
            y = pad_y + plot_h * (1 - level / SCALE)
            parts.append(f'<line x1="{pad_x}" x2="{width - pad_x}" y1="{y}" y2="{y}" class="grid"/>'
                         f'<text x="{pad_x - 6}" y="{y + 4}" text-anchor="end">{level}</text>')
    for run in _runs(at):
        parts.append('<polyline points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in run) + '"/>')
    for (x, y), (label, score) in zip(at, points):
        if y is not None:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{3 if axis else 1.5}">'
                         f'<title>{escape(label)}: {score_text(score)}</title></circle>')
        if axis:
            parts.append(f'<text x="{x:.1f}" y="{height - 4}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _runs(at: list[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in at:
        if y is None:
            runs.append([])
        else:
            runs[-1].append((x, y))
    return [r for r in runs if r]

