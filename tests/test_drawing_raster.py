"""Google's "simplified" normalization and the official-bitmap rasterizer, on synthetic and real drawings."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import synthetic_records
from sketchlab.data.drawing import normalize_strokes, strokes_from_lists
from sketchlab.data.formats import load_bitmaps, read_drawings
from sketchlab.data.raster import rasterize_drawing, rasterize_strokes


def _raw_drawings(n=40, seed=0):
    records = [r for kind in range(4) for r in synthetic_records("x", kind, n // 4, seed, raw=True)]
    return [strokes_from_lists(r["drawing"]) for r in records]


# ---------------------------------------------------------------- normalization


def test_normalize_matches_the_simplified_format():
    for strokes in _raw_drawings():
        out = normalize_strokes(strokes)
        points = np.concatenate(out)
        assert all(s.shape[1] == 2 for s in out)  # times dropped
        assert np.all(points == np.round(points)) and points.min() == 0 and points.max() == 255
        # Aligned to the top-left corner (RDP may drop the extreme point of the other axis, by < epsilon 2).
        assert points.min(axis=0).max() <= 2
        # RDP with epsilon 2 keeps far fewer points than 1-pixel resampling would.
        length = sum(np.hypot(*np.diff(s[:, :2], axis=0).T).sum() for s in strokes)
        assert len(points) < length / 4


def test_normalize_keeps_the_aspect_ratio():
    wide = [np.array([[100.0, 50.0], [500.0, 150.0]])]  # 400 wide, 100 high
    (stroke,) = normalize_strokes(wide)
    assert stroke.tolist() == [[0, 0], [255, 64]]  # 100 / 400 * 255 = 63.75 -> 64


def test_normalize_edge_cases():
    assert normalize_strokes([]) == []
    assert normalize_strokes([np.zeros((0, 2))]) == []
    (dot,) = normalize_strokes([np.array([[7.0, 9.0]])])
    assert dot.tolist() == [[0, 0]]
    out = normalize_strokes([np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([[3.0, 1.0, 0.0]])])
    assert [s.shape[1] for s in out] == [2, 2]


# ---------------------------------------------------------------- rasterizer


def test_raster_shape_and_empty_drawings():
    drawings = [normalize_strokes(s) for s in _raw_drawings(8)]
    out = rasterize_strokes([[], *drawings, [np.zeros((0, 2))]])
    assert out.shape == (10, 28, 28) and out.dtype == np.uint8
    assert out[0].max() == 0 and out[-1].max() == 0 and all(img.max() == 255 for img in out[1:-1])
    assert rasterize_strokes([]).shape == (0, 28, 28)
    assert rasterize_strokes(drawings[:2], size=64).shape == (2, 64, 64)
    with pytest.raises(ValueError):
        rasterize_strokes(drawings, size=0)


def test_official_framing_centred_with_margin():
    # A horizontal line across the whole 0..255 range, at the top of the simplified space.
    img = rasterize_drawing([np.array([[0.0, 0.0], [255.0, 0.0]])])
    # Padding 16 of 304 units: the ink (line radius 8 units ~0.74 px) keeps clear of the border.
    assert img[:, 0].max() == 0 and img[:, -1].max() == 0 and img[:, 1].max() > 0
    rows = np.flatnonzero(img.max(axis=1))
    assert abs((rows.min() + rows.max()) / 2 - 13.5) <= 0.5  # centred vertically although y = 0
    assert np.array_equal(img, img[:, ::-1])  # symmetric: centred horizontally
    dot = rasterize_drawing([np.array([[40.0, 40.0]])])  # a lone point is a round dot, not nothing
    assert 0 < (dot > 0).sum() <= 9


def test_batching_threads_and_inputs_do_not_change_pixels():
    drawings = [normalize_strokes(s) for s in _raw_drawings(600)]
    batched = rasterize_strokes(drawings, workers=1)
    one_by_one = np.stack([rasterize_drawing(d) for d in drawings[:40]])
    assert np.array_equal(batched[:40], one_by_one)  # a drawing's pixels do not depend on its neighbours
    assert np.array_equal(rasterize_strokes(drawings, workers=2), batched)
    assert np.array_equal(rasterize_strokes(d for d in drawings), batched)  # a generator, drawn while read
    as_lists = [[s.astype(int).tolist() for s in d] for d in drawings[:20]]
    with_times = [[np.column_stack([s, np.arange(len(s))]) for s in d] for d in drawings[:20]]
    assert np.array_equal(rasterize_strokes([[np.asarray(s) for s in d] for d in as_lists]), batched[:20])
    assert np.array_equal(rasterize_strokes(with_times), batched[:20])
    big = rasterize_strokes(drawings[:30], size=64, workers=1)
    assert np.array_equal(big[7], rasterize_drawing(drawings[7], size=64))


def test_strokes_overlap_like_separate_official_strokes():
    # Two crossing strokes: the crossing is drawn twice (coverage adds), a single path would not.
    cross = [np.array([[0.0, 0.0], [255.0, 255.0]]), np.array([[0.0, 255.0], [255.0, 0.0]])]
    two = rasterize_drawing(cross)
    one = rasterize_drawing([np.concatenate(cross)])
    assert not np.array_equal(two, one)


# ---------------------------------------------------------------- real data: fidelity


def test_raster_reproduces_the_official_bitmaps(real_data):
    drawings, _ = read_drawings(real_data / "simplified_ndjson" / "apple.ndjson")
    official = load_bitmaps(real_data / "numpy_bitmap" / "apple.npy", limit=len(drawings))
    ours = rasterize_strokes([d.strokes for d in drawings]).reshape(len(drawings), 784)
    mae = np.abs(ours.astype(np.int16) - official.astype(np.int16)).mean()
    assert len(drawings) == 75 and mae < 0.5, f"mean absolute pixel difference {mae:.3f}"


def test_normalized_raw_matches_the_official_simplified(real_data):
    """normalize_strokes(raw) against Google's simplified version of the same drawing (same key_id)."""
    maes = []
    for raw_path in sorted((real_data / "raw_ndjson").glob("*.ndjson")):
        simplified = {d.key_id: d for d in read_drawings(real_data / "simplified_ndjson" / raw_path.name)[0]}
        pairs = [(d, simplified[d.key_id]) for d in read_drawings(raw_path)[0] if d.key_id in simplified]
        ours = rasterize_strokes([normalize_strokes(raw.strokes) for raw, _ in pairs]).astype(np.int16)
        google = rasterize_strokes([simp.strokes for _, simp in pairs]).astype(np.int16)
        maes.extend(np.abs(ours - google).reshape(len(pairs), -1).mean(axis=1))
    assert len(maes) >= 100
    assert np.mean(maes) < 3.0, f"raster MAE {np.mean(maes):.2f} over {len(maes)} drawings"


def test_bitmap_to_input_is_the_models_input_for_any_bitmap_shape():
    from sketchlab.data.raster import bitmap_to_input

    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    x = bitmap_to_input(images)
    assert x.dtype == np.float32 and x.shape == (5, 784)
    assert x.min() >= 0 and x.max() <= 1
    assert np.array_equal(np.round(x * 255).astype(np.uint8), images.reshape(5, 784))
    assert np.array_equal(bitmap_to_input(images.reshape(5, 784)), x)
    assert np.array_equal(bitmap_to_input(images[2]), x[2])  # one bitmap -> one row
    assert bitmap_to_input(np.zeros((0, 28, 28), np.uint8)).shape == (0, 784)
