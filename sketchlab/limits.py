"""Size limits on one drawing, in one place: the canvas parser, every stroke reader and the CLI use them.

Why: a drawing's cost grows with its points, faster than linearly (normalization resamples
every pixel of arc length; cairo's stroker slows down on dense zigzags), so one crafted
100,000-point stroke used to tie up a core for minutes. Real Quick Draw drawings stay far
below the defaults (the files in ../shared/quickdraw peak at 829 points in a stroke,
366 strokes and 950 points in a drawing; benchmarks/limits.py prints these).

What happens to a drawing over a limit, decided before its points become arrays:
- more strokes than `max_strokes`: refused (`DrawingLimitError`, a SketchLabError);
- a stroke with more than `max_points_per_stroke` points: thinned to that many evenly
  spaced points, both ends kept (dense input loses nothing a 28x28 bitmap can show);
- more than `max_points` points in all: every stroke thinned in proportion;
- a coordinate beyond ±`max_coordinate`: refused (no canvas or data file comes near it,
  and ±1e308 would overflow the normalization);
- a line of a data file longer than `max_line_bytes`: skipped as a bad line without being
  parsed (parsing the JSON is the one cost thinning cannot bound; it grows with the line).

The defaults can be changed by environment variables (README, "Limits"):
SKETCHLAB_MAX_STROKES, SKETCHLAB_MAX_POINTS_PER_STROKE, SKETCHLAB_MAX_POINTS,
SKETCHLAB_MAX_COORDINATE, SKETCHLAB_MAX_LINE_BYTES. Disk: SKETCHLAB_MIN_FREE_MB, the free
space `train` wants before it starts (see `check_can_write`).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .errors import SketchLabError

ENV_PREFIX = "SKETCHLAB_"


class DrawingLimitError(SketchLabError, ValueError):
    """A drawing over a limit that thinning cannot fix (too many strokes, absurd coordinates)."""


@dataclass(frozen=True)
class DrawingLimits:
    """Caps on one drawing; see the module docstring for what happens above each."""

    max_strokes: int = 1000
    max_points_per_stroke: int = 2000
    max_points: int = 5000
    max_coordinate: float = 1e6
    max_line_bytes: int = 2_000_000
    min_free_mb: int = 50

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                    or not np.isfinite(value):
                raise SketchLabError(f"limit {f.name} must be a positive number, got {value!r}")
        if self.max_points < 2 * self.max_strokes:
            # every kept stroke keeps its two ends, so the total cap must leave room for them
            raise SketchLabError(f"limit max_points ({self.max_points}) must be at least twice "
                                 f"max_strokes ({self.max_strokes})")

    @classmethod
    def from_env(cls, environ=None) -> DrawingLimits:
        """The defaults, each overridden by SKETCHLAB_<NAME> (e.g. SKETCHLAB_MAX_POINTS=20000)."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            text = environ.get(ENV_PREFIX + f.name.upper())
            if text is None or not text.strip():
                continue
            kind = float if f.type in ("float", float) else int
            try:
                values[f.name] = kind(text)
            except ValueError:
                raise SketchLabError(f"{ENV_PREFIX}{f.name.upper()} must be a number, got {text!r}") from None
        return cls(**values)


@functools.lru_cache(maxsize=1)
def drawing_limits() -> DrawingLimits:
    """The limits in force (read from the environment once per process; tests call cache_clear)."""
    return DrawingLimits.from_env()


def _limits(limits: DrawingLimits | None) -> DrawingLimits:
    return drawing_limits() if limits is None else limits


def point_budget(lengths, limits: DrawingLimits | None = None) -> list[int] | None:
    """How many points to keep of each stroke, given their lengths; None when all fit.

    Raises DrawingLimitError when there are more strokes than allowed. Counting only
    lengths, it runs before any point is parsed.
    """
    lim = _limits(limits)
    lengths = [int(n) for n in lengths]
    if len(lengths) > lim.max_strokes:
        raise DrawingLimitError(f"the drawing has {len(lengths):,} strokes, more than the limit of "
                                f"{lim.max_strokes:,} (SKETCHLAB_MAX_STROKES)")
    capped = [min(n, lim.max_points_per_stroke) for n in lengths]
    total = sum(capped)
    if total > lim.max_points:
        # Each stroke keeps its ends (up to 2 points); the rest of the budget is shared in
        # proportion to what each stroke has beyond them, so the total never exceeds max_points.
        ends = [min(n, 2) for n in capped]
        room = lim.max_points - sum(ends)
        beyond = total - sum(ends)
        capped = [e + int((n - e) * room // beyond) for n, e in zip(capped, ends)]
    return None if capped == lengths else capped


def thin_indices(n: int, keep: int) -> np.ndarray:
    """`keep` evenly spaced indices of range(n), first and last included (all of them if keep >= n)."""
    if keep >= n:
        return np.arange(n)
    if keep <= 1:
        return np.zeros(min(keep, n), dtype=np.int64)
    return np.round(np.linspace(0, n - 1, keep)).astype(np.int64)


def thin_list(values: list, keep: int) -> list:
    """A list cut to `keep` evenly spaced items (the same items for every axis of a stroke)."""
    if keep >= len(values):
        return values
    return [values[i] for i in thin_indices(len(values), keep).tolist()]


def check_coordinates(xy: np.ndarray, limits: DrawingLimits | None = None) -> None:
    """Refuse x, y values beyond ±max_coordinate (they would overflow the normalization)."""
    lim = _limits(limits)
    if not xy.size:
        return
    furthest = float(np.abs(xy).max())
    if not furthest <= lim.max_coordinate:  # NaN fails this test too
        raise DrawingLimitError(f"a coordinate is {furthest:.3g} away from 0, beyond the limit of "
                                f"{lim.max_coordinate:g} (SKETCHLAB_MAX_COORDINATE)")


def fit_strokes(strokes: list[np.ndarray], limits: DrawingLimits | None = None) -> list[np.ndarray]:
    """Strokes (arrays of x, y[, t]) within the limits: thinned when too long, refused when beyond repair."""
    budget = point_budget([len(s) for s in strokes], limits)
    if budget is not None:
        strokes = [s[thin_indices(len(s), k)] for s, k in zip(strokes, budget)]
    for s in strokes:
        check_coordinates(np.asarray(s)[:, :2], limits)
    return strokes


def check_can_write(folder, limits: DrawingLimits | None = None) -> Path:
    """Make sure `folder` can be created and written and has min_free_mb free; else SketchLabError.

    Called before long work whose result is saved there (training), so a read-only or full
    disk is reported at once, not after the last epoch.
    """
    lim = _limits(limits)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise SketchLabError(f"cannot write to {folder} ({exc.strerror or exc}); choose another folder "
                             "(--out, --home or SKETCHLAB_HOME) or free some space") from None
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < lim.min_free_mb:
        raise SketchLabError(f"only {free_mb:.0f} MB free in {folder}, less than the {lim.min_free_mb} MB "
                             "needed to save a model (SKETCHLAB_MIN_FREE_MB); free some space first")
    return folder
