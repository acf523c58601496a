"""The Explore page's statistics (sketchlab.explore) and the app's figures (sketchlab.plots)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import SYNTHETIC_CLASSES, synthetic_records, write_ndjson
from sketchlab import explore, plots, svg
from sketchlab.dataset import NoDataError


def test_class_overview_counts_every_class(tiny_data_dir):
    overview = explore.class_overview(tiny_data_dir)
    assert sorted(overview) == sorted(SYNTHETIC_CLASSES)
    assert {c.total for c in overview.values()} == {30}
    assert all(c.strokes == 30 and c.bitmaps == 0 for c in overview.values())


def test_overview_counts_bitmaps_and_empty_folder(tmp_path):
    (tmp_path / "numpy_bitmap").mkdir()
    np.save(tmp_path / "numpy_bitmap" / "apple.npy", np.zeros((7, 784), dtype=np.uint8))
    overview = explore.class_overview(tmp_path)
    assert (overview["apple"].bitmaps, overview["apple"].strokes, overview["apple"].total) == (7, 0, 7)
    assert explore.class_overview(tmp_path / "missing") == {}


def test_data_signature_changes_when_a_file_changes(tiny_data_dir):
    before = explore.data_signature(tiny_data_dir)
    assert before == explore.data_signature(tiny_data_dir)
    write_ndjson(tiny_data_dir / "simplified_ndjson" / "ant.ndjson", [])
    assert explore.data_signature(tiny_data_dir) != before


def test_class_sample_reads_at_most_limit_and_rasterizes(tiny_data_dir):
    sample = explore.load_class_sample(tiny_data_dir, "airplane", limit=12)
    assert len(sample.drawings) == 12 and sample.images.shape == (12, 28, 28)
    assert sample.images.dtype == np.uint8 and sample.images.max() > 0
    with pytest.raises(NoDataError, match="ant"):
        explore.load_class_sample(tiny_data_dir, "ant")


def test_class_sample_of_bitmap_only_class(tmp_path):
    (tmp_path / "numpy_bitmap").mkdir()
    np.save(tmp_path / "numpy_bitmap" / "apple.npy", np.full((5, 784), 9, dtype=np.uint8))
    sample = explore.load_class_sample(tmp_path, "apple", limit=3)
    assert not sample.has_strokes and sample.images.shape == (3, 28, 28)


def test_drawing_stats(tiny_data_dir):
    # conftest: class 2 (airplane) is a cross of 2 strokes; every 7th drawing is unrecognized;
    # countries cycle US, GB, DE, BR.
    drawings = explore.load_class_sample(tiny_data_dir, "airplane").drawings
    stats = explore.drawing_stats(drawings)
    assert stats.n_drawings == 30
    assert set(stats.n_strokes) == {2}
    assert (stats.n_points >= 4).all()
    assert stats.recognized_ratio == pytest.approx(25 / 30)
    assert stats.countries == {"US": 8, "GB": 8, "DE": 7, "BR": 7}
    empty = explore.drawing_stats([])
    assert empty.n_drawings == 0 and np.isnan(empty.recognized_ratio) and empty.countries == {}


def test_top_countries_sums_the_rest():
    assert explore.top_countries({"US": 5, "GB": 3, "DE": 2, "BR": 1}, 2) == {"US": 5, "GB": 3, "other": 3}
    assert explore.top_countries({"US": 1}, 5) == {"US": 1}


def test_sample_indices_reproducible_distinct_bounded():
    a = explore.sample_indices(100, 10, seed=3)
    assert list(a) == list(explore.sample_indices(100, 10, seed=3))
    assert len(set(a)) == 10 and a.min() >= 0 and a.max() < 100 and list(a) == sorted(a)
    assert len(explore.sample_indices(4, 10)) == 4


def test_mean_image_and_tiles():
    images = np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 200, np.uint8)])
    assert np.allclose(explore.mean_image(images), 100.0)
    assert np.allclose(explore.mean_image(images.reshape(2, 784)), 100.0)
    grid = explore.tile_images(np.stack([np.full((2, 2), v, np.uint8) for v in (1, 2, 3)]), cols=2, gap=1)
    assert grid.shape == (5, 5)
    assert grid[0, 0] == 1 and grid[0, 3] == 2 and grid[3, 0] == 3 and grid[2, 2] == 96 and grid[4, 4] == 96


class FixedModel:
    """Stands in for a Keras model: returns the same probabilities whatever it is shown."""

    def __init__(self, probs):
        self.probs = np.asarray(probs, dtype=np.float32)
        self.output_shape = (None, self.probs.shape[1])

    def predict_on_batch(self, X):
        return self.probs[: len(X)]


def test_heldout_split_is_seed_000s_20_percent(tiny_data_dir):
    held = explore.heldout_split(tiny_data_dir, SYNTHETIC_CLASSES)
    assert held.classes == list(SYNTHETIC_CLASSES)
    assert len(held.labels) == 24 and held.n_train == 96  # 20% of 4 x 30, stratified
    assert np.bincount(held.labels).tolist() == [6, 6, 6, 6]
    assert held.images.shape == (24, 28, 28) and held.images.dtype == np.uint8
    assert held.X.shape == (24, 784) and 0 <= held.X.min() and held.X.max() <= 1
    capped = explore.heldout_split(tiny_data_dir, SYNTHETIC_CLASSES[::-1], per_class=10)
    assert capped.classes == list(SYNTHETIC_CLASSES[::-1])
    assert np.bincount(capped.labels).tolist() == [2, 2, 2, 2]
    extra = tiny_data_dir / "simplified_ndjson" / "ant.ndjson"
    write_ndjson(extra, synthetic_records("ant", 0, 50))
    classes = (*SYNTHETIC_CLASSES, "ant")
    assert np.bincount(explore.heldout_split(tiny_data_dir, classes).labels).tolist() == [6] * 5
    unbalanced = explore.heldout_split(tiny_data_dir, classes, balanced=False)
    assert np.bincount(unbalanced.labels).tolist() == [6, 6, 6, 6, 10]


def test_evaluate_confusion_and_most_wrong():
    labels = np.array([0, 0, 1, 1, 2])
    probs = [[0.9, 0.1, 0.0],  # right
             [0.2, 0.7, 0.1],  # wrong, 0.7 sure
             [0.1, 0.8, 0.1],  # right
             [0.05, 0.05, 0.9],  # wrong, 0.9 sure
             [0.3, 0.3, 0.4]]  # right
    held = explore.HeldOut(np.zeros((5, 28, 28), np.uint8), labels, ["a", "b", "c"], 20, "test")
    result = explore.evaluate(FixedModel(probs), held)
    assert result.confusion.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert result.accuracy == pytest.approx(3 / 5)
    wrong = result.most_wrong(5)
    assert [(row, pred) for row, pred, _, _ in wrong] == [(3, 2), (1, 1)]
    assert wrong[0][2] == pytest.approx(0.9) and wrong[0][3] == pytest.approx(0.05)


# ---------------------------------------------------------------- plots


def test_drawing_svg_one_polyline_per_stroke_coloured_in_order():
    import re

    strokes = [np.array([[0, 0], [10, 10]]), np.array([[5, 0], [5, 20], [6, 30]]), np.array([[1, 1], [2, 2]])]
    out = svg.drawing_svg(strokes, uid="t")
    colors = re.findall(r'<polyline points="[^"]*" stroke="([^"]*)"', out)
    assert colors == plots.stroke_colors(3) and len(set(colors)) == 3
    assert "5.0,0.0 5.0,20.0 6.0,30.0" in out  # drawing coordinates kept: y grows downwards, as drawn
    assert "@keyframes" not in out and svg.drawing_svg([], uid="e").startswith("<svg")


def test_drawing_svg_replay_draws_each_stroke_after_the_one_before():
    import re

    strokes = [np.array([[0, 0], [30, 0]]), np.array([[0, 5], [10, 5]])]
    out = svg.drawing_svg(strokes, uid="r", replay=True)
    spans = [(float(a), float(b)) for a, b in re.findall(r"0%,([\d.]+)%\{stroke-dashoffset:1\}([\d.]+)%", out)]
    assert len(spans) == 2 and spans[0][0] == 0.0
    assert spans[0][1] == pytest.approx(spans[1][0]) and spans[1][1] == pytest.approx(75.0)  # in order, then a hold
    assert spans[0][1] - spans[0][0] > spans[1][1] - spans[1][0]  # the longer stroke takes longer
    assert out.count("infinite") == 2


def test_drawings_html_escapes_captions():
    out = svg.drawings_html([([np.array([[0, 0], [1, 1]])], "<b>x</b>")], uid="h")
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<b>" not in out


def test_topk_figure_puts_the_best_guess_on_top():
    fig = plots.topk_figure([("apple", 0.7), ("banana", 0.2), ("ant", 0.1)], title="mlp")
    bar = fig.data[0]
    assert list(bar.y) == ["ant", "banana", "apple"] and bar.x[-1] == 0.7
    assert list(bar.text) == ["10%", "20%", "70%"]


def test_confusion_figure_colours_by_row_share_and_writes_counts():
    fig = plots.confusion_figure(np.array([[3, 1], [0, 0]]), ["a", "b"])
    z = np.asarray(fig.data[0].z)
    assert np.allclose(z, [[0.75, 0.25], [0, 0]])
    assert np.asarray(fig.data[0].text).tolist() == [[3, 1], [0, 0]]


def test_bar_figure_single_and_grouped():
    single = plots.bar_figure({"a": 1, "b": 2})
    assert len(single.data) == 1 and list(single.data[0].x) == ["a", "b"]
    grouped = plots.bar_figure({"strokes": {"a": 1}, "bitmaps": {"a": 5}}, log=True)
    assert [t.name for t in grouped.data] == ["strokes", "bitmaps"] and grouped.layout.yaxis.type == "log"
    assert single.layout.yaxis.type is None


def _run(number, params, history, group=None, state="done"):
    return SimpleNamespace(number=number, params=params, group=group, state=state,
                           history=[{"epoch": e, "val_accuracy": v} for e, v in history])


def test_learning_curves_highlight_the_best_run():
    curves = {"#0": [(1, 0.2), (2, 0.3)], "#1": [(1, 0.5), (2, 0.6)], "#2": []}
    fig = plots.learning_curves_figure(curves, best="#1")
    assert [t.name for t in fig.data] == ["#0", "#1"]
    assert fig.data[1].line.width > fig.data[0].line.width and fig.data[1].line.color == plots.BEST_COLOR


def test_comparison_groups_one_at_a_time_and_grid():
    base = {"optimizer": "SGD", "learning_rate": 0.01, "batch_size": 32}
    one = [
        _run(0, {**base, "optimizer": "Adam"}, [(1, 0.5)], group="optimizer"),
        _run(1, base, [(1, 0.3)], group="optimizer"),
        _run(2, {**base, "learning_rate": 0.5}, [(1, 0.1)], group="learning_rate"),
        _run(3, base, [], group="learning_rate", state="queued"),
    ]
    groups = plots.comparison_groups(one)
    assert groups == {"optimizer": {"Adam": [(1, 0.5)], "SGD": [(1, 0.3)]},
                      "learning_rate": {"0.5": [(1, 0.1)]}}
    grid = [
        _run(0, {"optimizer": "SGD", "batch_size": 8}, [(1, 0.2), (2, 0.4)]),
        _run(1, {"optimizer": "SGD", "batch_size": 32}, [(1, 0.4), (2, 0.6)]),
        _run(2, {"optimizer": "Adam", "batch_size": 8}, [(1, 0.6)]),
    ]
    groups = plots.comparison_groups(grid)
    assert groups["optimizer"]["SGD"] == [(1, pytest.approx(0.3)), (2, pytest.approx(0.5))]
    assert groups["batch_size"]["8"] == [(1, pytest.approx(0.4)), (2, pytest.approx(0.4))]
    fig = plots.param_comparison_figure(groups)
    assert {t.legendgroup for t in fig.data} == {"optimizer", "batch_size"}
    assert [t.name for t in fig.data if t.legendgroup == "optimizer"] == ["SGD", "Adam"]
    assert plots.run_label(grid[1], plots.varied_keys(grid)) == "#1 optimizer=SGD, batch_size=32"
    assert plots.run_label(one[2], ["optimizer"]) == "#2 learning_rate=0.5"


def test_format_value():
    values = (0.0001, 1.0, 32, None, "SGD")
    assert [plots.format_value(v) for v in values] == ["0.0001", "1", "32", "all", "SGD"]


def test_image_figure_shows_the_bitmap_as_is():
    image = np.arange(784, dtype=np.uint8).reshape(28, 28)
    fig = plots.image_figure(image)
    assert np.array_equal(np.asarray(fig.data[0].z), image) and fig.data[0].zmax == 255

