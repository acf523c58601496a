"""A drawing as strokes, and Google's "simplified" normalization of strokes.

A stroke is a float64 array of shape (n, 2) holding x and y, or (n, 3) when the
source recorded times (raw Quick Draw data): columns x, y, t in milliseconds.
Every path into the models (data files, canvas, augmentation) goes through
`normalize_strokes`, so the canvas and the training data are preprocessed alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from simplification.cutil import simplify_coords

from ..limits import DrawingLimits, check_coordinates, fit_strokes, point_budget, thin_list
from ..limits import drawing_limits as _limits_in_force

# Google's simplified data: coordinates in 0..255, resampled at 1 px, RDP epsilon 2.0.
SIMPLIFIED_SIDE = 255.0
RDP_EPSILON = 2.0


@dataclass
class Drawing:
    """One doodle: its strokes plus the metadata the Quick Draw files carry."""

    strokes: list[np.ndarray]
    word: str = ""
    key_id: str = ""
    countrycode: str = ""
    recognized: bool = True
    timestamp: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n_strokes(self) -> int:
        return len(self.strokes)

    @property
    def n_points(self) -> int:
        return int(sum(len(s) for s in self.strokes))

    @property
    def has_times(self) -> bool:
        return bool(self.strokes) and all(s.shape[1] >= 3 for s in self.strokes)


def strokes_from_lists(drawing: list, limits: DrawingLimits | None = None) -> list[np.ndarray]:
    """Convert the Quick Draw JSON form `[[xs], [ys](, [ts])]` per stroke into arrays.

    Raises ValueError on anything that is not that shape, so readers can count a bad line;
    the drawing limits (sketchlab.limits) are applied from the list lengths alone, before
    any number is converted: a too-long stroke is thinned, too many strokes or a coordinate
    beyond the limit raise DrawingLimitError (a ValueError too).
    """
    if not isinstance(drawing, list) or not drawing:
        raise ValueError("drawing must be a non-empty list of strokes")
    shapes = []
    for i, stroke in enumerate(drawing):
        if not isinstance(stroke, list) or len(stroke) not in (2, 3):
            raise ValueError(f"stroke {i} must be [xs, ys] or [xs, ys, ts]")
        n = len(stroke[0]) if isinstance(stroke[0], list) else 0
        for axis in stroke:
            if not isinstance(axis, list) or len(axis) != n or n == 0:
                raise ValueError(f"stroke {i} has axes of unequal or zero length")
        shapes.append((len(stroke), n))
    budget = point_budget([n for _, n in shapes], limits)
    if budget is not None:  # thin the lists before any conversion: the cost stays bounded
        drawing = [[thin_list(axis, k) for axis in stroke] for stroke, k in zip(drawing, budget)]
        shapes = [(axes, k) for (axes, _), k in zip(shapes, budget)]
    # All numbers go into one flat list and one array (one numpy call per drawing,
    # not per stroke: this is on the hot path of reading millions of lines).
    values: list = []
    for stroke in drawing:
        for axis in stroke:
            values.extend(axis)
    try:
        flat = np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        flat = None
    if flat is None or flat.ndim != 1 or not np.isfinite(flat).all():
        raise ValueError(_first_bad_stroke(drawing))
    strokes, at = [], 0
    for axes, n in shapes:
        strokes.append(flat[at : at + axes * n].reshape(axes, n).T)
        at += axes * n
    if float(np.abs(flat).max()) > (limits or _limits_in_force()).max_coordinate:
        for s in strokes:  # rare: only x and y count (raw times may be large)
            check_coordinates(s[:, :2], limits)
    return strokes


def _first_bad_stroke(drawing: list) -> str:
    """Name the first stroke holding a non-number (error path only)."""
    for i, stroke in enumerate(drawing):
        values = [v for axis in stroke for v in axis]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return f"stroke {i} holds non-numbers"
        try:
            finite = np.isfinite(np.asarray(values, dtype=np.float64)).all()
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            return f"stroke {i} holds non-finite or out-of-range numbers"
    return "drawing holds non-numbers"


def strokes_to_lists(strokes: list[np.ndarray]) -> list:
    """The inverse of `strokes_from_lists` (integers when the values are whole)."""
    out = []
    for s in strokes:
        cols = []
        for col in s.T:
            if np.all(col == np.round(col)):
                cols.append([int(v) for v in col])
            else:
                cols.append([float(v) for v in col])
        out.append(cols)
    return out


def _resample(xy: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Points every `spacing` units of arc length along a polyline, ends kept."""
    if len(xy) < 2:
        return xy
    seg = np.hypot(*np.diff(xy, axis=0).T)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    total = dist[-1]
    if total <= spacing:
        return xy[[0, -1]]
    at = np.append(np.arange(0.0, total, spacing), total)
    return np.column_stack([np.interp(at, dist, xy[:, 0]), np.interp(at, dist, xy[:, 1])])


def normalize_strokes(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Google's "simplified" processing: the output matches the simplified ndjson files.

    1. align to the top-left corner, 2. scale uniformly so the larger side spans 0..255,
    3. resample at 1-pixel spacing, 4. Ramer-Douglas-Peucker with epsilon 2.0.
    Returns integer-valued (n, 2) float arrays; times are dropped. Empty input → [].
    The drawing limits apply (sketchlab.limits): strokes are thinned or refused first.
    """
    strokes = [np.asarray(s, dtype=np.float64)[:, :2] for s in strokes if len(s)]
    if not strokes:
        return []
    budget = point_budget([len(s) for s in strokes])
    if budget is not None:
        strokes = fit_strokes(strokes)
    points = np.concatenate(strokes)
    check_coordinates(points)
    low = points.min(axis=0)
    extent = float((points.max(axis=0) - low).max())
    scale = SIMPLIFIED_SIDE / extent if extent > 0 else 0.0
    out = []
    for s in strokes:
        xy = _resample((s - low) * scale)
        xy = np.asarray(simplify_coords(np.ascontiguousarray(xy), RDP_EPSILON), dtype=np.float64)
        out.append(np.clip(np.round(xy), 0, SIMPLIFIED_SIDE))
    return out
