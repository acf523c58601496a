"""Stroke augmentation: reproducible, normalized, never empty, and actually different."""

import numpy as np

from sketchlab.data.augment import augment_strokes
from sketchlab.data.drawing import normalize_strokes

# A house in raw canvas pixels, with times: a square body and a two-stroke roof.
HOUSE = [
    np.array([[100, 300, 0], [300, 300, 40], [300, 500, 80], [100, 500, 120], [100, 300, 160]], float),
    np.array([[100, 300, 300], [200, 180, 350]], float),
    np.array([[200, 180, 500], [300, 300, 550]], float),
]


def test_same_seed_same_output_and_other_seed_differs():
    a = augment_strokes(HOUSE, np.random.default_rng(7))
    b = augment_strokes(HOUSE, np.random.default_rng(7))
    c = augment_strokes(HOUSE, np.random.default_rng(8))
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len(a) != len(c) or not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_output_is_normalized_like_the_simplified_data():
    rng = np.random.default_rng(0)
    for _ in range(50):
        out = augment_strokes(HOUSE, rng)
        points = np.concatenate(out)
        assert all(s.ndim == 2 and s.shape[1] == 2 for s in out)
        assert points.min() >= 0 and points.max() <= 255
        assert np.array_equal(points, np.round(points))
        # Aligned to the corner, larger side spanning 0..255 (RDP may trim up to 2 units).
        assert points.min(axis=0).max() <= 2
        assert points.max() >= 253


def test_keeps_at_least_one_stroke_even_when_always_dropping():
    rng = np.random.default_rng(1)
    lone = [np.array([[0, 0], [10, 30], [40, 5]], float)]
    for _ in range(20):
        assert len(augment_strokes(lone, rng, drop_prob=1.0)) == 1
        assert len(augment_strokes(HOUSE, rng, drop_prob=1.0)) == len(HOUSE) - 1


def test_changes_the_drawing():
    base = normalize_strokes(HOUSE)
    rng = np.random.default_rng(2)
    changed = 0
    for _ in range(20):
        out = augment_strokes(base, rng, drop_prob=0.0)
        same = len(out) == len(base) and all(
            x.shape == y.shape and np.array_equal(x, y) for x, y in zip(out, base)
        )
        changed += not same
    assert changed == 20


def test_empty_input_gives_empty_output():
    rng = np.random.default_rng(0)
    assert augment_strokes([], rng) == []
    assert augment_strokes([np.zeros((0, 2))], rng) == []


def test_bitmap_augmentation_keeps_official_bitmaps_looking_official():
    from sketchlab.data.augment import augment_bitmaps
    from sketchlab.data.raster import rasterize_strokes

    square = [np.array([[40, 40], [215, 40], [215, 215], [40, 215], [40, 40]], dtype=float)]
    images = np.repeat(rasterize_strokes([square]).reshape(1, 784), 16, axis=0)
    out = augment_bitmaps(images, np.random.default_rng(0))
    assert out.shape == images.shape and out.dtype == np.uint8
    again = augment_bitmaps(images, np.random.default_rng(0))
    assert np.array_equal(out, again)  # seeded
    assert len({row.tobytes() for row in out}) == len(out)  # every copy is distorted its own way
    grid = out.reshape(-1, 28, 28).astype(float)
    # still centred with its margin: even a square filling the box keeps almost all its ink
    # off the outer pixel ring (only a corner may touch it at the largest rotation and scale)
    ring = grid.sum(axis=(1, 2)) - grid[:, 1:-1, 1:-1].sum(axis=(1, 2))
    assert (ring / grid.sum(axis=(1, 2))).max() < 0.05
    # ink amount stays in the range of a line-width change, not a blur or a wipe
    ratio = grid.sum(axis=(1, 2)) / images[0].astype(float).sum()
    assert 0.5 < ratio.min() and ratio.max() < 1.8
    floats = augment_bitmaps(images / 255.0, np.random.default_rng(0))
    assert floats.dtype == np.float64 and 0.0 <= floats.min() and floats.max() <= 1.0
    unchanged = augment_bitmaps(images, np.random.default_rng(0), shift_px=0, scale=0, rotation_deg=0,
                                thickness=0)
    assert np.array_equal(unchanged, images)
