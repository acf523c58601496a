"""Stroke-level augmentation: new, plausible versions of a drawing for every training epoch.

With a few hundred real drawings a model memorizes pixels; distorting the strokes themselves
(not the 28x28 image) gives it drawings that still look hand-made. Each call draws one random
affine map for the whole drawing (an aspect change, a rotation and a shear), nudges each
stroke a little relative to the others, jitters every point, sometimes drops one stroke, and
then runs `normalize_strokes`, so the result lives in the same 0..255 simplified space as
the training data and the canvas.

Translating or uniformly scaling the whole drawing would be undone by that normalization
(it aligns to the corner and rescales, as it does for the canvas), so position changes are
made per stroke instead, where they survive.
"""

from __future__ import annotations

import numpy as np

from .drawing import normalize_strokes


def augment_strokes(
    strokes: list[np.ndarray],
    rng: np.random.Generator,
    stretch: float = 0.15,
    rotation_deg: float = 12.0,
    shear: float = 0.15,
    stroke_shift: float = 0.03,
    jitter: float = 0.008,
    drop_prob: float = 0.1,
) -> list[np.ndarray]:
    """A randomly distorted copy of `strokes`, normalized like the simplified data.

    `strokes`: (n, 2|3) arrays (x, y[, t]) in any coordinate space. Sizes are relative to
    the drawing's extent: `stretch` is the largest log-change of each axis' scale,
    `rotation_deg` and `shear` the largest rotation and shear, `stroke_shift` the largest
    per-stroke offset and `jitter` the per-point noise (standard deviation). With probability
    `drop_prob` one stroke of a drawing with several is dropped (never the last one).
    The same `rng` state gives the same output.
    Empty input (or only empty strokes) → [].
    """
    strokes = [np.asarray(s, dtype=np.float64)[:, :2] for s in strokes if len(s)]
    if not strokes:
        return []
    # One stroke at most: losing several often leaves a different object.
    if len(strokes) > 1 and rng.random() < drop_prob:
        del strokes[rng.integers(len(strokes))]

    lengths = [len(s) for s in strokes]
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    extent = float((high - low).max()) or 1.0
    centred = (points - (low + high) / 2) / extent

    sx, sy = np.exp(rng.uniform(-stretch, stretch, 2))
    angle = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg))
    cos, sin = np.cos(angle), np.sin(angle)
    affine = (
        np.array([[cos, -sin], [sin, cos]])
        @ np.array([[1.0, rng.uniform(-shear, shear)], [0.0, 1.0]])
        @ np.diag([sx, sy])
    )
    shifts = rng.uniform(-stroke_shift, stroke_shift, (len(strokes), 2))
    moved = centred @ affine.T + np.repeat(shifts, lengths, axis=0)
    moved += rng.normal(0.0, jitter, moved.shape)

    return normalize_strokes(np.split(moved, np.cumsum(lengths)[:-1]))
