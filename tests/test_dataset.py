"""Scanning a data folder and building datasets: caps, filters, the seed's split, the cache, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sketchlab.data.dataset as dataset_module
from conftest import make_data_dir, synthetic_records, write_ndjson
from sketchlab.categories import QUICKDRAW_10
from sketchlab.data.dataset import (
    DatasetSpec,
    NoDataError,
    build_dataset,
    load_class_drawings,
    load_stroke_data,
    scan_data_dir,
    split_indices,
)

CLASSES = ("apple", "anvil", "airplane", "banana")


def _spec(**kw):
    return DatasetSpec(classes=CLASSES, **kw)


def _uneven_dir(root):
    """apple 30, anvil 20, airplane 25, banana 30 simplified drawings."""
    for kind, (word, n) in enumerate(zip(CLASSES, (30, 20, 25, 30))):
        write_ndjson(root / "simplified_ndjson" / f"{word}.ndjson", synthetic_records(word, kind, n))
    return root


# ---------------------------------------------------------------- scanning


def test_scan_finds_every_layout(tmp_path):
    root = tmp_path / "quickdraw"  # a folder whose own name contains "raw" must not make files raw
    write_ndjson(root / "apple.ndjson", synthetic_records("apple", 0, 3))
    write_ndjson(root / "raw_ndjson" / "apple.ndjson", synthetic_records("apple", 0, 3, raw=True))
    tower = synthetic_records("The Eiffel Tower", 1, 3)
    write_ndjson(root / "simplified_ndjson" / "the eiffel tower.ndjson", tower)
    (root / "train_simplified").mkdir()
    (root / "train_simplified" / "banana.csv").write_text("countrycode,drawing,key_id,recognized,timestamp,word\n")
    (root / "numpy_bitmap").mkdir()
    np.save(root / "numpy_bitmap" / "apple.npy", np.zeros((4, 784), np.uint8))
    (root / "simplified_ndjson" / "cat.ndjson.part").write_text("half a downl")  # a download in progress
    (root / "simplified_ndjson" / ".hidden.ndjson").write_text("")
    found = scan_data_dir(root)
    assert sorted(found) == ["The Eiffel Tower", "apple", "banana"]  # official spelling
    apple = found["apple"]
    assert [p.name for p in apple.simplified] == ["apple.ndjson"] and apple.simplified[0].parent == root
    assert [p.parent.name for p in apple.raw] == ["raw_ndjson"] and len(apple.bitmap) == 1
    assert found["banana"].simplified[0].suffix == ".csv"
    assert scan_data_dir(tmp_path / "nowhere") == {}


def test_raw_and_simplified_merge_by_key_id(tmp_path):
    simplified = synthetic_records("apple", 0, 10)
    raw = synthetic_records("apple", 0, 15, raw=True)  # same key_ids 0..9, plus 5 new ones
    write_ndjson(tmp_path / "simplified_ndjson" / "apple.ndjson", simplified)
    write_ndjson(tmp_path / "raw_ndjson" / "apple.ndjson", raw)
    drawings = load_class_drawings(scan_data_dir(tmp_path)["apple"])
    assert [d.key_id for d in drawings] == [r["key_id"] for r in raw]  # each drawing once
    from_raw = drawings[10:]
    assert all("raw_strokes" in d.extra and d.extra["raw_strokes"][0].shape[1] == 3 for d in from_raw)
    points = np.concatenate([s for d in from_raw for s in d.strokes])
    assert points.shape[1] == 2 and points.max() == 255 and np.all(points == np.round(points))
    assert len(load_class_drawings(scan_data_dir(tmp_path)["apple"], limit=12)) == 12
    recognized = load_class_drawings(scan_data_dir(tmp_path)["apple"], recognized_only=True)
    assert len(recognized) == 15 - 3 and all(d.recognized for d in recognized)  # i % 7 == 0 unrecognized


def test_raw_strokes_in_a_simplified_folder_are_normalized(tmp_path):
    write_ndjson(tmp_path / "simplified_ndjson" / "apple.ndjson", synthetic_records("apple", 0, 4, raw=True))
    drawings = load_class_drawings(scan_data_dir(tmp_path)["apple"])
    points = np.concatenate([s for d in drawings for s in d.strokes])
    assert points.shape[1] == 2 and points.max() <= 255


# ---------------------------------------------------------------- building


def test_build_balanced_split_and_range(tmp_path):
    ds = build_dataset(_uneven_dir(tmp_path), _spec())
    assert ds.classes == list(CLASSES)
    assert ds.counts() == {c: 20 for c in CLASSES}  # cut to the smallest class (seed 004)
    assert ds.X_train.dtype == np.float32 and ds.X_train.shape == (64, 784) and ds.X_test.shape == (16, 784)
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0 and ds.X_train.max() == 1.0
    assert np.bincount(ds.y_test).tolist() == [4, 4, 4, 4]  # stratified
    again = build_dataset(tmp_path, _spec())
    assert np.array_equal(ds.X_test, again.X_test) and np.array_equal(ds.y_train, again.y_train)


def test_build_caps_and_filters(tmp_path):
    _uneven_dir(tmp_path)
    assert build_dataset(tmp_path, _spec(per_class=10)).counts() == {c: 10 for c in CLASSES}
    assert build_dataset(tmp_path, _spec(balanced=False)).counts() == dict(zip(CLASSES, (30, 20, 25, 30)))
    recognized = build_dataset(tmp_path, _spec(balanced=False, recognized_only=True)).counts()
    assert recognized == {c: n - len(range(0, n, 7)) for c, n in zip(CLASSES, (30, 20, 25, 30))}


def test_split_is_seed_000s():
    from sklearn.model_selection import train_test_split

    labels = np.repeat(np.arange(5), 13)
    train, test = split_indices(labels, 0.2, 42)
    ref_train, ref_test = train_test_split(np.arange(65), test_size=0.2, random_state=42, stratify=labels)
    assert np.array_equal(train, ref_train) and np.array_equal(test, ref_test)
    with pytest.raises(NoDataError, match="smallest class: 1 drawings"):
        split_indices(np.array([0, 0, 0, 1]), 0.2, 42)


def test_cache_makes_the_second_build_read_the_file(tmp_path, monkeypatch):
    data, cache = make_data_dir(tmp_path / "data", per_class=10), tmp_path / "cache"
    first = build_dataset(data, _spec(), cache)
    files = list(cache.glob("dataset-*.npz"))
    assert len(files) == 1

    def no_rasterizing(*args, **kwargs):
        raise AssertionError("rasterized again instead of reading the cache")

    monkeypatch.setattr(dataset_module, "rasterize_strokes", no_rasterizing)
    second = build_dataset(data, _spec(), cache)
    assert np.array_equal(first.X_train, second.X_train) and np.array_equal(first.y_test, second.y_test)
    assert second.source == first.source
    # Another spec or a changed file is another cache entry.
    with pytest.raises(AssertionError, match="rasterized again"):
        build_dataset(data, _spec(per_class=5), cache)
    with open(data / "simplified_ndjson" / "apple.ndjson", "a") as fh:
        fh.write(json.dumps(synthetic_records("apple", 0, 11)[-1]) + "\n")
    with pytest.raises(AssertionError, match="rasterized again"):
        build_dataset(data, _spec(), cache)


def test_a_broken_cache_file_is_rebuilt(tmp_path):
    data, cache = make_data_dir(tmp_path / "data", per_class=10), tmp_path / "cache"
    first = build_dataset(data, _spec(), cache)
    (cached,) = cache.glob("dataset-*.npz")
    cached.write_bytes(b"half a file")
    second = build_dataset(data, _spec(), cache)
    assert np.array_equal(first.X_train, second.X_train)
    assert np.load(cached)["images"].shape == (40, 784)  # rewritten whole


def test_progress_is_reported_per_class(tmp_path):
    calls = []
    build_dataset(make_data_dir(tmp_path, per_class=10), _spec(), progress=lambda *a: calls.append(a))
    assert [(done, total) for done, total, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert calls[0][2] == "apple: 10 strokes"
    calls.clear()
    load_stroke_data(tmp_path, _spec(), progress=lambda *a: calls.append(a))
    assert len(calls) == 4


def test_missing_classes_say_how_to_get_data(tmp_path):
    make_data_dir(tmp_path, per_class=5)
    with pytest.raises(NoDataError, match="no Quick Draw files for The Mona Lisa, ant in .*sketchlab data download"):
        build_dataset(tmp_path, DatasetSpec(classes=("apple", "The Mona Lisa", "ant")))
    with pytest.raises(NoDataError, match="SKETCHLAB_DATA"):
        load_stroke_data(tmp_path / "empty", _spec())
    write_ndjson(tmp_path / "simplified_ndjson" / "apple.ndjson", [{"word": "apple", "drawing": "oops"}] * 3)
    from sketchlab.data.formats import DataFormatError

    with pytest.raises(DataFormatError, match="apple.ndjson:1"):
        build_dataset(tmp_path, _spec())


def test_bitmap_only_class_and_quickdraw10_npz(tmp_path):
    make_data_dir(tmp_path / "mixed", per_class=12, classes=("apple", "anvil"))
    rows = np.random.default_rng(0).integers(0, 256, (30, 784), dtype=np.uint8)
    (tmp_path / "mixed" / "numpy_bitmap").mkdir()
    np.save(tmp_path / "mixed" / "numpy_bitmap" / "banana.npy", rows)
    ds = build_dataset(tmp_path / "mixed", DatasetSpec(classes=("apple", "anvil", "banana")))
    assert ds.counts() == {"apple": 12, "anvil": 12, "banana": 12} and "bitmaps" in ds.source
    X = np.concatenate([ds.X_train, ds.X_test])[np.concatenate([ds.y_train, ds.y_test]) == 2]
    assert {tuple(r) for r in np.round(X * 255).astype(np.uint8)} == {tuple(r) for r in rows[:12]}

    images = np.repeat(np.arange(10, dtype=np.uint8), 10)[:, None] * np.ones((1, 784), np.uint8)
    (tmp_path / "npz").mkdir()
    np.savez(tmp_path / "npz" / "quickdraw10.npz", images, np.repeat(np.arange(10), 10))
    ds = build_dataset(tmp_path / "npz", DatasetSpec(classes=("banana", "apple"), per_class=5))
    assert ds.classes == ["banana", "apple"] and ds.counts() == {"banana": 5, "apple": 5}
    X = np.concatenate([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    # banana is label 3 of QuickDraw-10: its rows hold the value 3
    assert np.allclose(X[y == 0] * 255, QUICKDRAW_10.index("banana")) and np.allclose(X[y == 1], 0)


def test_stroke_data_reports_bad_lines(tmp_path):
    make_data_dir(tmp_path, per_class=10)
    with open(tmp_path / "simplified_ndjson" / "apple.ndjson", "a") as fh:
        fh.write('{"word": "apple", "drawing": [[[1, 2]]]}\n{broken\n')
    data = load_stroke_data(tmp_path, _spec(balanced=False))
    assert data.counts()["apple"] == 10 and len(data.problems) == 2
    assert "apple.ndjson:11:" in data.problems[0]


# ---------------------------------------------------------------- real data


def test_real_data_builds(real_data, tmp_path):
    ds = build_dataset(real_data, DatasetSpec(), tmp_path / "cache")
    assert ds.classes == list(QUICKDRAW_10)
    smallest = min(build_dataset(real_data, DatasetSpec(balanced=False)).counts().values())
    assert set(ds.counts().values()) == {smallest} and len(ds.y_test) == round(0.2 * smallest * 10)
    data = load_stroke_data(real_data, DatasetSpec(balanced=False))
    for name, n in data.counts().items():  # distinct drawings = simplified + raw with a new key_id
        keys = set()
        for folder in ("simplified_ndjson", "raw_ndjson"):
            path = real_data / folder / f"{name}.ndjson"
            keys |= {json.loads(line)["key_id"] for line in path.read_text().splitlines() if line.strip()}
        assert n == len(keys), name
    assert data.problems == []


def test_every_source_counts_each_real_drawing_once(real_data):
    """apple.npy rows 0-74 are the 75 simplified apples: left out as bitmaps, kept as strokes."""
    import json

    from sketchlab.data.dataset import load_all_data, new_bitmap_rows
    from sketchlab.data.raster import rasterize_strokes

    folder = next(real_data.rglob("numpy_bitmap"), None)
    if folder is None or not (folder / "apple.npy").is_file():
        pytest.skip("no numpy_bitmap/apple.npy in the real data")
    data = load_all_data(real_data, ("apple", "anvil"))
    counts = data.source_counts()
    rows = np.load(folder / "apple.npy")
    kept = new_bitmap_rows(folder / "apple.npy", len(rows), counts["apple"]["strokes"])
    assert counts["apple"]["bitmaps"] == len(kept) < len(rows)
    assert counts["anvil"]["bitmaps"] == 0 and counts["anvil"]["strokes"] > 0
    official = json.loads((folder / "ROWS.json").read_text())["apple"]
    dropped = [i for i in range(len(rows)) if i not in set(kept.tolist())]
    assert all(official[i] < counts["apple"]["strokes"] for i in dropped)
    # the dropped rows really are the stroke drawings: their official bitmaps, pixel for pixel
    strokes = [s for s, b in zip(data.strokes, data.from_bitmap) if s is not None][:5]
    assert np.abs(rasterize_strokes(strokes).reshape(-1, 784).astype(int) - rows[:5].astype(int)).mean() < 2.0
