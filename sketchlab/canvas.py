"""streamlit-drawable-canvas drawings → strokes (pure data handling, no Streamlit import).

The canvas (0.13, freedraw mode) returns `json_data["objects"]`: one fabric.js object per
stroke, in drawing order, e.g.
    {"type": "path", "path": [["M", x, y], ["Q", cx, cy, x, y], ..., ["L", x, y]]}
with coordinates in canvas pixels. Each segment's end point (its last two numbers) is a
point of the stroke; the quadratic control points only smooth the on-screen line, and
`normalize_strokes` resamples the polyline anyway. There are no timestamps.
"""

from __future__ import annotations

import math

import numpy as np

from .limits import DrawingLimits, check_coordinates, point_budget, thin_list


def _end_point(segment) -> tuple[float, float] | None:
    """(x, y) of one path segment such as ["Q", cx, cy, x, y], or None if malformed."""
    if not isinstance(segment, (list, tuple)) or len(segment) < 3 or not isinstance(segment[0], str):
        return None
    x, y = segment[-2], segment[-1]
    if isinstance(x, bool) or isinstance(y, bool) or not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
        return None
    try:
        x, y = float(x), float(y)  # a huge int (10**400) cannot be a float: malformed
    except OverflowError:
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return x, y


def strokes_from_canvas(json_data, limits: DrawingLimits | None = None) -> list[np.ndarray]:
    """The canvas's path objects as strokes: a list of (n, 2) float arrays in canvas pixels.

    Non-path objects (rectangles, text, ...), malformed objects and segments without
    coordinates (e.g. "Z") are skipped; None or a drawing without strokes gives [].
    The drawing limits (sketchlab.limits) apply before any point is read: too many strokes
    or a coordinate beyond the limit raise DrawingLimitError (a SketchLabError); a path
    with too many segments is thinned to evenly spaced ones first.
    """
    if not isinstance(json_data, dict):
        return []
    objects = json_data.get("objects")
    if not isinstance(objects, list):
        return []
    paths = [obj["path"] for obj in objects
             if isinstance(obj, dict) and isinstance(obj.get("type"), str) and obj["type"].lower() == "path"
             and isinstance(obj.get("path"), list) and obj["path"]]
    budget = point_budget([len(p) for p in paths], limits)
    if budget is not None:
        paths = [thin_list(p, k) for p, k in zip(paths, budget)]
    strokes = []
    for path in paths:
        points = [p for p in map(_end_point, path) if p is not None]
        if points:
            stroke = np.asarray(points, dtype=np.float64)
            check_coordinates(stroke, limits)
            strokes.append(stroke)
    return strokes
