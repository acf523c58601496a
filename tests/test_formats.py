"""Readers for every format, on fixture files written here, their broken variants, and the real files."""

from __future__ import annotations

import csv
import json
import pickle

import numpy as np
import pytest

from conftest import synthetic_records, write_ndjson
from sketchlab.data.drawing import strokes_from_lists, strokes_to_lists
from sketchlab.data.formats import (
    DataFormatError,
    ReadReport,
    count_bitmaps,
    iter_drawings,
    load_bitmaps,
    load_npz,
    read_drawings,
)


# ---------------------------------------------------------------- each format


def test_simplified_ndjson(tmp_path):
    records = synthetic_records("apple", 0, 12)
    path = write_ndjson(tmp_path / "apple.ndjson", records)
    drawings, report = read_drawings(path)
    assert (report.n_ok, report.n_bad) == (12, 0)
    first = drawings[0]
    assert (first.word, first.key_id, first.countrycode) == ("apple", records[0]["key_id"], "US")
    assert first.recognized is False and drawings[1].recognized is True  # synthetic: i % 7 == 0 is unrecognized
    assert first.timestamp == records[0]["timestamp"]
    assert all(s.shape[1] == 2 for d in drawings for s in d.strokes) and not first.has_times
    assert strokes_to_lists(first.strokes) == records[0]["drawing"]


def test_raw_ndjson_keeps_times(tmp_path):
    records = synthetic_records("anvil", 1, 5, raw=True)
    drawings, report = read_drawings(write_ndjson(tmp_path / "anvil.ndjson", records))
    assert report.n_ok == 5 and all(d.has_times for d in drawings)
    stroke = drawings[0].strokes[0]
    assert stroke.shape[1] == 3 and np.all(np.diff(stroke[:, 2]) > 0)
    assert strokes_to_lists(drawings[0].strokes) == records[0]["drawing"]


def _write_kaggle_csv(path, records, extra_rows=()):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["countrycode", "drawing", "key_id", "recognized", "timestamp", "word"])
        for r in records:
            writer.writerow([r["countrycode"], json.dumps(r["drawing"]), r["key_id"], str(r["recognized"]),
                             r["timestamp"], r["word"]])
        for row in extra_rows:
            writer.writerow(row)
    return path


def test_kaggle_train_simplified_csv(tmp_path):
    records = synthetic_records("banana", 3, 9)
    path = _write_kaggle_csv(tmp_path / "banana.csv", records)
    drawings, report = read_drawings(path)
    assert (report.n_ok, report.n_bad) == (9, 0)
    assert [d.key_id for d in drawings] == [r["key_id"] for r in records]
    assert [d.recognized for d in drawings] == [r["recognized"] for r in records]  # "True"/"False" strings
    assert drawings[2].word == "banana" and strokes_to_lists(drawings[2].strokes) == records[2]["drawing"]


def test_numpy_bitmap_and_its_variants(tmp_path):
    rows = np.random.default_rng(1).integers(0, 256, (7, 784), dtype=np.uint8)
    np.save(tmp_path / "a.npy", rows)
    np.save(tmp_path / "b.npy", rows.reshape(7, 1, 784))  # seen in the wild
    np.save(tmp_path / "c.npy", rows.reshape(7, 28, 28))
    for name in ("a", "b", "c"):
        got = load_bitmaps(tmp_path / f"{name}.npy")
        assert got.shape == (7, 784) and got.dtype == np.uint8 and np.array_equal(got, rows)
        assert count_bitmaps(tmp_path / f"{name}.npy") == 7
    assert np.array_equal(load_bitmaps(tmp_path / "a.npy", limit=3), rows[:3])


def test_quickdraw10_npz(tmp_path):
    images = np.random.default_rng(2).integers(0, 256, (20, 784), dtype=np.uint8)
    labels = np.arange(20) % 10
    np.savez(tmp_path / "q.npz", images, labels)  # positional: arr_0, arr_1 as the seed saved it
    got_images, got_labels = load_npz(tmp_path / "q.npz")
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)
    assert got_labels.dtype == np.int64
    np.savez(tmp_path / "f.npz", images.astype(np.float32) / 255.0, labels)  # float images in [0, 1]
    assert np.array_equal(load_npz(tmp_path / "f.npz")[0], images)


# ---------------------------------------------------------------- broken stroke files


def _lines(records):
    return [json.dumps(r) for r in records]


def test_truncated_last_line_is_counted_not_fatal(tmp_path):
    lines = _lines(synthetic_records("apple", 0, 6))
    path = tmp_path / "apple.ndjson"
    path.write_text("\n".join(lines[:5]) + "\n" + lines[5][: len(lines[5]) // 2])
    drawings, report = read_drawings(path)
    assert (report.n_ok, report.n_bad) == (5, 1)
    assert report.problems[0].startswith(f"{path}:6: invalid JSON")
    assert "1 bad lines skipped" in report.summary()


def test_wrong_json_and_bad_drawing_shapes(tmp_path):
    good = _lines(synthetic_records("apple", 0, 3))
    bad = [
        "{not json",
        json.dumps({"word": "apple", "drawing": [[[1, 2, 3], [4, 5]]]}),  # axes of unequal length
        json.dumps({"word": "apple", "drawing": [[[1, 2]]]}),  # one axis only
        json.dumps({"word": "apple", "drawing": [[["a", "b"], [1, 2]]]}),  # not numbers
        json.dumps({"word": "apple", "drawing": []}),  # no strokes
        json.dumps({"word": "apple"}),  # no drawing at all
        json.dumps([1, 2, 3]),  # JSON, but not an object
    ]
    path = tmp_path / "apple.ndjson"
    path.write_text("\n".join([good[0], *bad, good[1], "", good[2]]) + "\n")
    drawings, report = read_drawings(path)
    assert (report.n_ok, report.n_bad) == (3, len(bad))
    reasons = "\n".join(report.problems)
    for expected in ("invalid JSON", "unequal or zero length", "must be [xs, ys]", "non-numbers",
                     "non-empty list", "no 'drawing' field"):
        assert expected in reasons
    assert f"{path}:2:" in reasons  # file and line named


def test_not_the_format_at_all(tmp_path):
    prose = tmp_path / "notes.ndjson"
    prose.write_text("".join(f"line {i} of some notes\n" for i in range(30)))
    with pytest.raises(DataFormatError, match=r"notes\.ndjson:10: not a Quick Draw drawing file"):
        read_drawings(prose)
    short = tmp_path / "short.ndjson"  # fewer bad lines than the early cut-off, still none good
    short.write_text('{"a": 1}\n{"b": 2}\n')
    with pytest.raises(DataFormatError, match=r"short\.ndjson:1: no 'drawing' field.*not a Quick Draw"):
        read_drawings(short)
    binary = tmp_path / "binary.ndjson"
    np.save(tmp_path / "x.npy", np.arange(1000, dtype=np.int64))
    binary.write_bytes((tmp_path / "x.npy").read_bytes())
    with pytest.raises(DataFormatError, match="binary.ndjson:1"):
        read_drawings(binary)
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(DataFormatError, match="unknown stroke format '.txt'"):
        read_drawings(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError):
        read_drawings(tmp_path / "missing.ndjson")


def test_bad_csv(tmp_path):
    records = synthetic_records("banana", 3, 4)
    path = _write_kaggle_csv(tmp_path / "banana.csv", records,
                             extra_rows=[["US", "[[[1,2", "k1", "True", "t", "banana"], ["US"]])
    drawings, report = read_drawings(path)
    assert (report.n_ok, report.n_bad) == (4, 2)
    assert "drawing column is not JSON" in report.problems[0]
    no_drawing = tmp_path / "other.csv"
    no_drawing.write_text("a,b\n1,2\n")
    with pytest.raises(DataFormatError, match=r"other\.csv:1: CSV header has no 'drawing' column"):
        read_drawings(no_drawing)


def test_limit_stops_early(tmp_path):
    path = write_ndjson(tmp_path / "apple.ndjson", synthetic_records("apple", 0, 10))
    report = ReadReport()
    assert len(list(iter_drawings(path, report, limit=4))) == 4 and report.n_ok == 4


def test_strokes_from_lists_rejects_with_the_stroke_index():
    with pytest.raises(ValueError, match="stroke 1 holds non-finite"):
        strokes_from_lists([[[1, 2], [3, 4]], [[1, float("nan")], [3, 4]]])
    with pytest.raises(ValueError, match="stroke 0 holds non-numbers"):
        strokes_from_lists([[[1, None], [3, 4]]])
    with pytest.raises(ValueError, match="stroke 2 has axes"):
        strokes_from_lists([[[1], [2]], [[1], [2]], [[1, 2], [3]]])
    strokes = strokes_from_lists([[[1, 2, 3], [4, 5, 6]], [[7], [8], [9]]])
    assert [s.shape for s in strokes] == [(3, 2), (1, 3)]
    assert strokes[0].tolist() == [[1, 4], [2, 5], [3, 6]]


# ---------------------------------------------------------------- broken arrays


def test_npy_wrong_dtype_shape_and_pickles(tmp_path):
    np.save(tmp_path / "float.npy", np.zeros((3, 784), dtype=np.float32))
    np.save(tmp_path / "shape.npy", np.zeros((3, 100), dtype=np.uint8))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with open(tmp_path / "pickle.npy", "wb") as fh:
        pickle.dump({"x": 1}, fh)
    np.savez(tmp_path / "archive.npz", np.zeros((3, 784), dtype=np.uint8))
    np.save(tmp_path / "ok.npy", np.zeros((50, 784), dtype=np.uint8))
    (tmp_path / "truncated.npy").write_bytes((tmp_path / "ok.npy").read_bytes()[:5000])
    (tmp_path / "empty.npy").write_bytes(b"")
    cases = {
        "float.npy": "got shape \\(3, 784\\) dtype float32",
        "shape.npy": "got shape \\(3, 100\\)",
        "objects.npy": "pickled Python objects",
        "pickle.npy": "pickled Python objects",
        "archive.npz": "it is an .npz archive",
        "truncated.npy": "not a numpy_bitmap",
        "empty.npy": "not a numpy_bitmap",
    }
    for name, message in cases.items():
        with pytest.raises(DataFormatError, match=f"{name}:1: .*{message}"):
            load_bitmaps(tmp_path / name)
    with pytest.raises(DataFormatError, match="pickled"):
        count_bitmaps(tmp_path / "objects.npy")


def test_npz_pickled_missing_and_foreign(tmp_path):
    np.savez(tmp_path / "pickled.npz", arr_0=np.array([{"x": 1}], dtype=object), arr_1=np.array([0]))
    np.savez(tmp_path / "missing.npz", images=np.zeros((2, 784), np.uint8), labels=np.zeros(2, int))
    np.save(tmp_path / "plain.npy", np.zeros((2, 784), np.uint8))
    np.savez(tmp_path / "mismatch.npz", np.zeros((3, 784), np.uint8), np.zeros(2, int))
    np.savez(tmp_path / "strlabels.npz", np.zeros((2, 784), np.uint8), np.array(["a", "b"]))
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    cases = {
        "pickled.npz": "pickled Python objects",
        "missing.npz": "expected arrays arr_0 and arr_1, found \\['images', 'labels'\\]",
        "plain.npy": "it is a single .npy array",
        "mismatch.npz": "arr_0 must be N x 784 and arr_1 N labels",
        "strlabels.npz": "arr_1 must hold integer labels",
        "garbage.npz": "not a quickdraw10 .npz",
    }
    for name, message in cases.items():
        with pytest.raises(DataFormatError, match=f"{name}:1: .*{message}"):
            load_npz(tmp_path / name)


# ---------------------------------------------------------------- the real files

# From ../shared/quickdraw/SOURCES.md, "Trimmed for evaluation" and "Other classes":
# simplified 75 for apple and banana, 20 for the other eight; apple.npy 2,975 rows;
# 334 other classes with 25 simplified drawings each.
EXPECTED_SIMPLIFIED = {"apple": 75, "banana": 75}
EXPECTED_OTHER_SIMPLIFIED = 20
EXPECTED_APPLE_BITMAPS = 2975
EXPECTED_OTHER_CLASSES = (334, 25)


def test_real_files_parse_with_no_bad_line(real_data):
    from sketchlab.categories import ALL_CATEGORIES, QUICKDRAW_10

    counts = {}
    for folder in ("simplified_ndjson", "raw_ndjson", "other_classes/simplified_ndjson"):
        for path in sorted((real_data / folder).glob("*.ndjson")):
            drawings, report = read_drawings(path)
            assert report.n_bad == 0, report.summary()
            assert {d.word for d in drawings} == {path.stem}
            assert len({d.key_id for d in drawings}) == len(drawings)  # key_ids unique
            if folder.startswith("raw"):
                assert all(d.has_times for d in drawings)
            else:
                points = np.concatenate([s for d in drawings for s in d.strokes])
                assert points.min() >= 0 and points.max() <= 255 and np.all(points == np.round(points))
            counts[(folder, path.stem)] = len(drawings)
    for name in QUICKDRAW_10:
        assert counts[("simplified_ndjson", name)] == EXPECTED_SIMPLIFIED.get(name, EXPECTED_OTHER_SIMPLIFIED)
        assert counts[("raw_ndjson", name)] > 0
    others = {k[1]: n for k, n in counts.items() if k[0].startswith("other")}
    assert (len(others), set(others.values())) == (EXPECTED_OTHER_CLASSES[0], {EXPECTED_OTHER_CLASSES[1]})
    assert set(others) <= set(ALL_CATEGORIES) and not set(others) & set(QUICKDRAW_10)
    bitmaps = load_bitmaps(real_data / "numpy_bitmap" / "apple.npy")
    assert bitmaps.shape == (EXPECTED_APPLE_BITMAPS, 784)
    assert count_bitmaps(real_data / "numpy_bitmap" / "apple.npy") == EXPECTED_APPLE_BITMAPS
