"""Drawings as SVG for the Explore page: stroke by stroke in colour, and replayed in drawing order.

Explore shows a dozen drawings per class for several classes at once. As plotly figures
that was dozens of charts to build on the server and draw in the browser on every
interaction; as SVG it is a few kilobytes of markup per class. The replay is a CSS
animation: each stroke draws itself in turn (its share of the time is its share of the
drawing's length), the finished drawing holds for a moment, and it starts again.
Stroke colours follow `plots.stroke_colors` (first stroke dark, last bright), as in the
plotly figures elsewhere.
"""

from __future__ import annotations

import html

import numpy as np

from .plots import stroke_colors

REPLAY_SECONDS = 4.0  # one cycle: drawing, then a hold of a quarter of it
STYLE = """<style>
.sl-drawings{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:0.75rem}
.sl-drawing{margin:0}
.sl-drawing svg{width:100%;height:auto;background:#fff;border:1px solid #e6e1d8;border-radius:6px}
.sl-drawing figcaption{color:#6b6b80;font-size:0.8rem;margin-top:0.2rem}
</style>"""


def _points(stroke: np.ndarray) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in np.asarray(stroke, dtype=float)[:, :2])


def drawing_svg(strokes, uid: str, replay: bool = False, line_width: float = 3.0) -> str:
    """One drawing (strokes as (n, 2+) arrays, y down) as an <svg>; `uid` names its animations."""
    strokes = [np.asarray(s, dtype=float) for s in strokes if len(s)]
    if not strokes:
        return '<svg viewBox="0 0 10 10"></svg>'
    pts = np.concatenate([s[:, :2] for s in strokes])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = max(4.0, float((hi - lo).max()) * 0.06)
    x0, y0 = lo - pad
    w, h = (hi - lo) + 2 * pad
    side = max(w, h)  # square, the drawing centred: every drawing shown at the same size
    x0, y0 = x0 - (side - w) / 2, y0 - (side - h) / 2
    width = line_width * side / 230  # about line_width screen pixels at the usual size
    colors = stroke_colors(len(strokes))
    lengths = [float(np.linalg.norm(np.diff(s[:, :2], axis=0), axis=1).sum()) + 1.0 for s in strokes]
    total = sum(lengths)
    style, lines, done = [], [], 0.0
    for k, (stroke, color, length) in enumerate(zip(strokes, colors, lengths)):
        attrs = ""
        if replay:  # drawn between `start` and `end` percent of the cycle, kept until its end
            start, end = 75 * done / total, 75 * (done + length) / total
            name = f"sl-{uid}-{k}"
            style.append(f"@keyframes {name}{{0%,{start:.2f}%{{stroke-dashoffset:1}}"
                         f"{end:.2f}%,100%{{stroke-dashoffset:0}}}}")
            attrs = (f' pathLength="1" stroke-dasharray="1" '
                     f'style="animation:{name} {REPLAY_SECONDS}s linear infinite"')
        done += length
        lines.append(f'<polyline points="{_points(stroke)}" stroke="{color}" stroke-width="{width:.2f}"{attrs}>'
                     f"<title>stroke {k + 1}</title></polyline>")
    css = f"<style>{''.join(style)}</style>" if style else ""
    return (f'<svg viewBox="{x0:.1f} {y0:.1f} {side:.1f} {side:.1f}" fill="none" stroke-linecap="round" '
            f'stroke-linejoin="round" role="img">{css}{"".join(lines)}</svg>')


def drawings_html(drawings: list[tuple[list, str]], uid: str, replay: bool = False) -> str:
    """Several drawings in a grid, each with its caption: [(strokes, caption), ...]."""
    figures = "".join(
        f'<figure class="sl-drawing">{drawing_svg(strokes, f"{uid}-{i}", replay)}'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for i, (strokes, caption) in enumerate(drawings)
    )
    return f'<div class="sl-drawings">{figures}</div>'
