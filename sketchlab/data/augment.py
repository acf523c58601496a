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


def augment_bitmaps(
    images: np.ndarray,
    rng: np.random.Generator,
    shift_px: float = 1.5,
    scale: float = 0.1,
    rotation_deg: float = 10.0,
    thickness: float = 0.35,
) -> np.ndarray:
    """Randomly moved, scaled, rotated and thickened/thinned copies of official 28x28 bitmaps.

    For rows that exist only as bitmaps (no strokes to distort). `images`: (N, 784) or
    (N, 28, 28), uint8 0..255 or float 0..1; the result has the same shape and dtype.
    Each image gets its own affine map about the centre (shift up to `shift_px` pixels,
    scale up to ±`scale`, rotation up to `rotation_deg`), small enough to keep the official
    centring and margin, sampled bilinearly; then its line width changes: towards a 3x3
    dilation (thicker) or a higher gamma on the anti-aliased edges (thinner), by up to
    `thickness`. The same `rng` state gives the same output.
    """
    images = np.asarray(images)
    shape, dtype = images.shape, images.dtype
    n = shape[0]
    if n == 0:
        return images.copy()
    side = 28
    img = images.reshape(n, side, side).astype(np.float32)
    if dtype == np.uint8:
        img /= 255.0
    # Inverse map: for each output pixel, where to sample in the input.
    angle = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg, n))
    s = np.exp(rng.uniform(-scale, scale, n))
    shift = rng.uniform(-shift_px, shift_px, (n, 2))
    cos, sin = np.cos(angle) / s, np.sin(angle) / s
    c = (side - 1) / 2.0
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    xo = xx.ravel()[None, :] - c - shift[:, :1]
    yo = yy.ravel()[None, :] - c - shift[:, 1:]
    xs = cos[:, None] * xo + sin[:, None] * yo + c
    ys = -sin[:, None] * xo + cos[:, None] * yo + c
    out = _bilinear(img, xs, ys).reshape(n, side, side)

    t = rng.uniform(-thickness, thickness, n)[:, None, None]
    padded = np.pad(out, ((0, 0), (1, 1), (1, 1)))
    dilated = np.max([padded[:, dy:dy + side, dx:dx + side] for dy in range(3) for dx in range(3)], axis=0)
    thicker = out + np.clip(t, 0, None) * (dilated - out)
    out = np.where(t > 0, thicker, out ** (1.0 + 3.0 * np.clip(-t, 0, None)))
    out = np.clip(out, 0.0, 1.0)
    if dtype == np.uint8:
        return np.rint(out * 255.0).astype(np.uint8).reshape(shape)
    return out.astype(dtype).reshape(shape)


def _bilinear(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Sample each image of `img` (n, h, w) at its points (n, p); outside the image is 0."""
    n, h, w = img.shape
    x0, y0 = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    fx, fy = xs - x0, ys - y0
    flat = img.reshape(n, -1)
    rows = np.arange(n)[:, None]
    out = np.zeros(xs.shape, dtype=np.float32)
    for dy, dx, wgt in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        idx = np.clip(yi, 0, h - 1) * w + np.clip(xi, 0, w - 1)
        out += np.where(inside, flat[rows, idx], 0.0) * wgt
    return out
