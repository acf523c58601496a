"""Hypothesis fuzz tests of the canvas parser and the stroke readers.

Whatever arrives (random JSON, huge or non-finite numbers, deep nesting, any Unicode), each
parser ends in a result or a clear message, never a traceback:
- the canvas parser returns strokes within the drawing limits, or raises a SketchLabError;
- the ndjson and CSV readers return the good drawings and count the rest as bad lines;
  a file with no good line at all is a DataFormatError (a SketchLabError);
- whatever they accept can be normalized and rasterized.
The time bound is Hypothesis' `deadline`, set generously (this machine is shared) so that it
catches a runaway case (minutes), not a slow CPU.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sketchlab.canvas import strokes_from_canvas
from sketchlab.data.drawing import normalize_strokes, strokes_from_lists
from sketchlab.errors import SketchLabError
from sketchlab.data.formats import read_drawings
from sketchlab.limits import drawing_limits
from sketchlab.data.raster import rasterize_strokes

# SKETCHLAB_FUZZ_EXAMPLES=2000 searches harder (the default keeps the suite fast).
FUZZ = settings(max_examples=int(os.environ.get("SKETCHLAB_FUZZ_EXAMPLES", "60")), deadline=timedelta(seconds=10),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 255, 1e308, -1e308, 5e-324, 2**63]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
any_json = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6),
                            st.dictionaries(st.text(max_size=10), inner, max_size=6)),
    max_leaves=40,
)
# Shapes close to real ones reach deeper into the parsers than random JSON does.
segment = st.one_of(
    st.tuples(st.sampled_from(["M", "L", "Q", "Z", "", "m"]), numbers, numbers).map(list),
    st.tuples(st.just("Q"), numbers, numbers, numbers, numbers).map(list),
    any_json,
)
canvas_object = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["path", "Path", "PATH", "rect", "pathx"]),
                           "path": st.lists(segment, max_size=30)}),
    any_json,
)
canvas_json = st.one_of(st.fixed_dictionaries({"objects": st.lists(canvas_object, max_size=8)}), any_json)
axis = st.lists(numbers, min_size=0, max_size=12)
quickdraw_drawing = st.one_of(
    st.lists(st.lists(axis, min_size=1, max_size=4), max_size=5),  # near [[xs], [ys](, [ts])] per stroke
    any_json,
)
record = st.one_of(
    st.fixed_dictionaries({"word": st.one_of(st.text(max_size=20), any_json), "key_id": any_json,
                           "recognized": any_json, "drawing": quickdraw_drawing}),
    any_json,
)


def deep(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def within_limits(strokes) -> None:
    lim = drawing_limits()
    assert len(strokes) <= lim.max_strokes
    assert sum(len(s) for s in strokes) <= lim.max_points
    for s in strokes:
        assert s.ndim == 2 and s.shape[1] in (2, 3) and len(s) <= lim.max_points_per_stroke
        assert np.isfinite(s).all() and np.abs(s[:, :2]).max() <= lim.max_coordinate


def models_can_use(strokes) -> None:
    normalized = normalize_strokes(strokes)
    images = rasterize_strokes([normalized])
    assert images.shape == (1, 28, 28) and images.dtype == np.uint8


@FUZZ
@given(canvas_json)
def test_canvas_parser_gives_strokes_within_limits_or_a_clear_error(data):
    try:
        strokes = strokes_from_canvas(data)
    except SketchLabError as exc:
        assert str(exc)
        return
    within_limits(strokes)
    models_can_use(strokes)


@FUZZ
@given(quickdraw_drawing)
def test_strokes_from_lists_gives_strokes_within_limits_or_a_value_error(drawing):
    try:
        strokes = strokes_from_lists(drawing)
    except ValueError as exc:  # DrawingLimitError is a ValueError too: a reader counts a bad line
        assert str(exc)
        return
    within_limits(strokes)
    models_can_use(strokes)


def _check_read(path, n_written: int) -> None:
    try:
        drawings, report = read_drawings(path)
    except SketchLabError as exc:  # DataFormatError: no good line at all
        assert str(exc)
        return
    assert report.n_ok == len(drawings) and report.n_ok + report.n_bad <= n_written
    for d in drawings:
        within_limits(d.strokes)
        models_can_use(d.strokes)


@FUZZ
@given(st.lists(st.one_of(record.map(json.dumps), st.text(max_size=80),
                          st.integers(1, 3000).map(deep)), min_size=1, max_size=6))
def test_ndjson_reader_reads_good_lines_and_counts_the_rest(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("fuzz") / "apple.ndjson"
    path.write_text("\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines) + "\n",
                    encoding="utf-8", errors="surrogatepass")
    _check_read(path, len(lines))


@FUZZ
@given(st.lists(st.one_of(quickdraw_drawing.map(json.dumps), st.text(max_size=60)), min_size=1, max_size=6),
       st.text(max_size=30))
def test_csv_reader_reads_good_rows_and_counts_the_rest(tmp_path_factory, drawings, word):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["countrycode", "drawing", "key_id", "recognized", "timestamp", "word"])
    for i, drawing in enumerate(drawings):
        writer.writerow(["US", drawing.replace("\n", " "), i, "True", "t", word.replace("\n", " ").replace("\r", " ")])
    path = tmp_path_factory.mktemp("fuzz") / "apple.csv"
    path.write_text(out.getvalue(), encoding="utf-8", errors="surrogatepass")
    _check_read(path, len(drawings))


@settings(max_examples=20, deadline=timedelta(seconds=10))
@given(st.integers(1_000, 200_000), st.sampled_from(["[]", "{}"]))
def test_any_nesting_depth_is_a_bad_line(tmp_path_factory, depth, brackets):
    good = {"word": "apple", "drawing": [[[0, 10, 20], [0, 10, 0]]]}
    nested = '{"drawing": ' + deep(depth, *brackets) + "}"
    path = tmp_path_factory.mktemp("deep") / "apple.ndjson"
    path.write_text(json.dumps(good) + "\n" + nested + "\n")
    drawings, report = read_drawings(path)
    assert len(drawings) == 1 and report.n_bad == 1
