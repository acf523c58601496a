"""Bad input, one case per test: every repro of issue 11 (except the sweep and Draw-model items)
ends in a clear message and loses nothing. The fixtures write the bad files themselves.

Areas: drawing limits (canvas, readers, CLI), one bad file never takes a page down, honest
counts, one error type (SketchLabError) with a bug id for the rest, disk faults in `train`.
The Hypothesis fuzz tests of the parsers are in tests/test_fuzz_parsers.py.
"""

from __future__ import annotations

import json
import logging
import os
import re

import numpy as np
import pytest
from conftest import synthetic_records, write_ndjson
from test_app import app_env, assert_clean, new_app, texts, tiny_models  # noqa: F401 - fixtures

from sketchlab import explore, limits
from sketchlab.canvas import strokes_from_canvas
from sketchlab.cli import main
from sketchlab.data.drawing import normalize_strokes, strokes_from_lists
from sketchlab.errors import SketchLabError, bug_report, user_message
from sketchlab.data.formats import DataFormatError, ReadReport, count_drawings, load_bitmaps, read_drawings
from sketchlab.limits import DrawingLimitError, DrawingLimits

DEFAULT = DrawingLimits()


@pytest.fixture(autouse=True)
def fresh_limits():
    """Limits come from the environment once per process: re-read them around each test."""
    limits.drawing_limits.cache_clear()
    yield
    limits.drawing_limits.cache_clear()


def path_object(points):
    return {"type": "path", "path": [["M", *points[0]]] + [["L", x, y] for x, y in points[1:]]}


def total_points(strokes) -> int:
    return sum(len(s) for s in strokes)


# ---------------------------------------------------------------- limits


def test_a_million_point_canvas_stroke_is_thinned_before_parsing():
    t = np.linspace(0, 20 * np.pi, 1_000_000)
    points = np.column_stack([300 + 200 * np.cos(t), 300 + 200 * np.sin(t)]).tolist()
    strokes = strokes_from_canvas({"objects": [path_object(points)]})
    assert len(strokes) == 1 and len(strokes[0]) == DEFAULT.max_points_per_stroke
    np.testing.assert_allclose(strokes[0][[0, -1]], np.array(points)[[0, -1]])  # both ends kept
    assert normalize_strokes(strokes)  # and the thinned drawing goes on to the models


def test_many_long_canvas_strokes_share_the_point_budget():
    stroke = path_object([(i % 500, i // 500) for i in range(3000)])
    strokes = strokes_from_canvas({"objects": [stroke] * 40})
    assert len(strokes) == 40
    assert total_points(strokes) <= DEFAULT.max_points
    assert all(len(s) >= 2 for s in strokes)


def test_too_many_strokes_are_refused_with_a_message():
    dot = path_object([(1, 1), (2, 2)])
    with pytest.raises(DrawingLimitError, match="1,001 strokes, more than the limit of 1,000"):
        strokes_from_canvas({"objects": [dot] * 1001})
    record = [[[1, 2], [3, 4]]] * 1001
    with pytest.raises(DrawingLimitError, match="strokes, more than the limit"):
        strokes_from_lists(record)


def test_a_long_stroke_in_a_data_file_is_thinned_and_its_neighbours_read(tmp_path):
    good = synthetic_records("apple", 0, 3)
    huge = dict(good[0], key_id="huge", drawing=[[list(range(100_000)), [i % 255 for i in range(100_000)]]])
    path = write_ndjson(tmp_path / "apple.ndjson", [good[0], huge, good[1], good[2]])
    drawings, report = read_drawings(path)
    assert [d.key_id for d in drawings] == [good[0]["key_id"], "huge", good[1]["key_id"], good[2]["key_id"]]
    assert report.n_bad == 0
    assert drawings[1].n_points == DEFAULT.max_points_per_stroke


def test_a_line_over_the_size_limit_is_skipped_unread(tmp_path, monkeypatch):
    monkeypatch.setenv("SKETCHLAB_MAX_LINE_BYTES", "5000")
    limits.drawing_limits.cache_clear()
    good = synthetic_records("apple", 0, 2)
    huge = dict(good[0], key_id="huge", drawing=[[list(range(5000)), list(range(5000))]])
    for suffix in (".ndjson", ".csv"):
        path = tmp_path / f"apple{suffix}"
        if suffix == ".ndjson":
            write_ndjson(path, [good[0], huge, good[1]])
        else:
            rows = [f'US,"{json.dumps(r["drawing"])}",{r["key_id"]}' for r in (good[0], huge, good[1])]
            path.write_text("countrycode,drawing,key_id\n" + "\n".join(rows) + "\n")
        drawings, report = read_drawings(path)
        assert [d.key_id for d in drawings] == [good[0]["key_id"], good[1]["key_id"]], suffix
        assert report.n_bad == 1 and "over the limit of 5,000 (SKETCHLAB_MAX_LINE_BYTES)" in report.problems[0]
        report = ReadReport()
        assert count_drawings(path, report) == 2 and report.n_bad == 1


@pytest.mark.parametrize("value", [1e308, -1e308, 10.0**7])
def test_huge_coordinates_give_a_clear_message(tmp_path, value):
    with pytest.raises(DrawingLimitError, match="beyond the limit"):
        strokes_from_lists([[[0, value], [0, 5]]])
    with pytest.raises(DrawingLimitError, match="beyond the limit"):
        strokes_from_canvas({"objects": [path_object([(0, 0), (value, 5)])]})
    with pytest.raises(DrawingLimitError, match="beyond the limit"):
        normalize_strokes([np.array([[0.0, 0.0], [value, 5.0]])])
    good = synthetic_records("apple", 0, 2)
    path = write_ndjson(tmp_path / "apple.ndjson", [good[0], dict(good[1], drawing=[[[0, value], [0, 5]]])])
    drawings, report = read_drawings(path)
    assert len(drawings) == 1 and report.n_bad == 1 and "beyond the limit" in report.problems[0]


def test_huge_times_in_raw_strokes_are_not_coordinates():
    strokes = strokes_from_lists([[[0, 10], [0, 5], [0, 10.0**9]]])
    assert strokes[0].shape == (2, 3)


def test_limits_are_settings(monkeypatch):
    monkeypatch.setenv("SKETCHLAB_MAX_POINTS_PER_STROKE", "100")
    monkeypatch.setenv("SKETCHLAB_MAX_COORDINATE", "1e4")
    limits.drawing_limits.cache_clear()
    assert limits.drawing_limits() == DrawingLimits(max_points_per_stroke=100, max_coordinate=1e4)
    assert len(strokes_from_lists([[list(range(500)), list(range(500))]])[0]) == 100
    monkeypatch.setenv("SKETCHLAB_MAX_POINTS", "lots")
    with pytest.raises(SketchLabError, match="SKETCHLAB_MAX_POINTS must be a number, got 'lots'"):
        DrawingLimits.from_env()
    with pytest.raises(SketchLabError, match="must be at least twice"):
        DrawingLimits(max_strokes=100, max_points=150)


def test_the_cli_applies_the_limits(sketchlab_env):
    from sketchlab.cli.train import _inputs

    with pytest.raises(DrawingLimitError, match="beyond the limit"):
        _inputs(json.dumps({"drawing": [[[0, 1e308], [0, 5]]]}), limit=10)
    (_label, (kind, strokes)), = _inputs(json.dumps([[list(range(10**5)), list(range(10**5))]]), limit=10)
    assert kind == "strokes" and len(strokes[0]) == DEFAULT.max_points_per_stroke


def test_streamlit_caps_message_size():
    import tomllib

    from conftest import REPO

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    # a message this size holds ~100x the points the limits keep; Streamlit's default is 200 MB
    assert 1 <= config["server"]["maxMessageSize"] <= 16


# ---------------------------------------------------------------- JSON and CSV that used to break the readers


def test_json_nested_100000_levels_is_a_bad_line_not_a_recursion_error(tmp_path):
    good = synthetic_records("apple", 0, 2)
    deep = '{"drawing": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = tmp_path / "apple.ndjson"
    path.write_text(json.dumps(good[0]) + "\n" + deep + "\n" + json.dumps(good[1]) + "\n")
    drawings, report = read_drawings(path)
    assert len(drawings) == 2 and report.n_bad == 1 and "nested too deeply" in report.problems[0]


def test_deep_json_on_the_command_line_is_a_user_error(sketchlab_env):
    from sketchlab.cli import UserError
    from sketchlab.cli.train import _inputs

    with pytest.raises(UserError, match="argument: not a Quick Draw drawing .*nested too deeply"):
        _inputs("[" * 100_000 + "]" * 100_000, limit=10)


def test_deep_json_on_the_canvas_is_ignored():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert strokes_from_canvas({"objects": [{"type": deep, "path": deep}]}) == []


def test_an_unclosed_csv_quote_spoils_only_its_own_row(tmp_path):
    import csv
    import io

    rows = synthetic_records("apple", 0, 3)
    fields = ["countrycode", "drawing", "key_id", "recognized", "timestamp", "word"]

    def line(r) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow([json.dumps(r[f]) if f == "drawing" else r[f] for f in fields])
        return out.getvalue()

    broken = f'US,"[[[1, 2], [3, 4]]],{rows[1]["key_id"]},True,x,apple\n'  # its quote is never closed
    path = tmp_path / "apple.csv"
    path.write_text(",".join(fields) + "\n" + line(rows[0]) + broken + line(rows[2]))
    drawings, report = read_drawings(path)
    assert [d.key_id for d in drawings] == [rows[0]["key_id"], rows[2]["key_id"]]
    assert report.n_bad == 1 and "apple.csv:3: malformed CSV row" in report.problems[0]


# ---------------------------------------------------------------- .npy that are not what they claim


def test_a_text_file_named_npy_is_not_called_pickled(tmp_path):
    path = tmp_path / "zebra.npy"
    path.write_text("x\n")
    with pytest.raises(DataFormatError, match=r"zebra.npy:1: not a numpy_bitmap .npy file \(it has no NumPy header"):
        load_bitmaps(path)
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(DataFormatError, match="the file is empty"):
        load_bitmaps(tmp_path / "empty.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match="pickled Python objects"):
        load_bitmaps(tmp_path / "objects.npy")


# ---------------------------------------------------------------- one bad file never takes a page down


@pytest.fixture
def bad_data_dir(sketchlab_env):
    """The fixture data plus the issue's repro (`echo x > numpy_bitmap/zebra.npy`), a file name that
    is not UTF-8, a class folder file of junk, and 30 bad lines among good ones."""
    root = sketchlab_env.data_dir
    (root / "numpy_bitmap").mkdir()
    (root / "numpy_bitmap" / "zebra.npy").write_text("x\n")
    name = os.fsencode(root / "simplified_ndjson") + b"/caf\xe9.ndjson"
    with open(name, "wb") as fh:
        fh.write(json.dumps(synthetic_records("cafe", 0, 1)[0]).encode() + b"\n")
    (root / "simplified_ndjson" / "snail.ndjson").write_bytes(bytes(range(256)) * 40)
    good = synthetic_records("banana", 3, 30, seed=1)
    lines = [json.dumps(r) for r in good] + ["{not json"] * 30
    (root / "simplified_ndjson" / "banana.ndjson").write_text("\n".join(lines) + "\n")
    return root


def test_overview_skips_each_bad_file_with_a_note_naming_it(bad_data_dir):
    problems: list[str] = []
    overview = explore.class_overview(bad_data_dir, problems)
    assert sorted(overview) == ["airplane", "anvil", "apple", "banana"]
    assert overview["banana"].simplified == 30
    notes = "\n".join(problems)
    assert "zebra.npy:1: not a numpy_bitmap .npy file (it has no NumPy header" in notes
    assert "caf\\xe9.ndjson: file name is not UTF-8" in notes
    assert "snail.ndjson" in notes and "banana.ndjson: 30 unreadable lines skipped" in notes


def test_explore_sample_gives_the_true_skipped_count(bad_data_dir):
    sample = explore.load_class_sample(bad_data_dir, "banana", limit=1000)
    assert len(sample.drawings) == 30
    assert sample.n_skipped == 30 and len(sample.problems) == 20  # the notes are capped, the count is not


def test_data_info_counts_only_readable_drawings_and_names_what_it_skipped(bad_data_dir, capsys):
    for extra in ([], ["--check"]):
        assert main(["data", "info", *extra]) == 0
        out = capsys.readouterr().out
        rows = {w[0]: w[1:] for w in map(str.split, out.splitlines()) if w and w[0] in ("banana", "snail", "zebra")}
        assert rows == {"banana": ["30", "0", "0", "30", "0", "30"]}  # + from strokes, bitmap-only, distinct
        skipped = [line for line in out.splitlines() if line.startswith("skipped: ")]
        assert any("zebra.npy" in s for s in skipped) and any("snail.ndjson" in s for s in skipped)
        assert any("banana.ndjson: 30 unreadable lines" in s for s in skipped)
        assert any("caf\\xe9.ndjson" in s for s in skipped)


def test_count_drawings_check_mode_parses_every_line(tmp_path):
    good = synthetic_records("apple", 0, 3)
    lines = [json.dumps(r) for r in good] + ['{"drawing": "not strokes"}']
    path = tmp_path / "apple.ndjson"
    path.write_text("\n".join(lines) + "\n")
    assert count_drawings(path) == 4  # shaped like a drawing
    report = ReadReport()
    assert count_drawings(path, report, exact=True) == 3 and report.n_bad == 1


def test_data_info_lists_quickdraw10_npz(tmp_path, capsys):
    images = np.zeros((20, 784), dtype=np.uint8)
    np.savez(tmp_path / "quickdraw10.npz", images, np.repeat(np.arange(10), 2))
    assert main(["--data-dir", str(tmp_path), "data", "info"]) == 0
    out = capsys.readouterr().out
    assert "quickdraw10.npz: 20 bitmaps of 10 classes (used by `data build`" in out
    assert "no Quick Draw files" not in out


@pytest.mark.parametrize("page", ["app_pages/explore.py", "app_pages/train.py"])
def test_pages_work_with_bad_files_and_name_them(app_env, bad_data_dir, page):  # noqa: F811
    at = new_app(page)
    assert_clean(at)
    assert not at.error, texts(at.error)
    assert "4 classes" in texts(at.success) and "No data yet" not in texts(at.warning)
    notes = [e for e in at.sidebar.expander if "skipped" in e.label]
    assert notes and "zebra.npy" in texts(notes[0].text)


def test_a_folder_of_bad_files_only_says_no_data_and_names_them(app_env, monkeypatch, tmp_path):  # noqa: F811
    (tmp_path / "bad" / "numpy_bitmap").mkdir(parents=True)
    (tmp_path / "bad" / "numpy_bitmap" / "zebra.npy").write_text("x\n")
    monkeypatch.setenv("SKETCHLAB_DATA", str(tmp_path / "bad"))
    at = new_app("app_pages/train.py")
    assert_clean(at)
    assert "No data yet" in texts(at.warning)
    notes = [e for e in at.sidebar.expander if "skipped" in e.label]
    assert notes and "zebra.npy" in texts(notes[0].text)


def test_an_empty_ndjson_is_not_called_bitmaps_only(app_env):  # noqa: F811
    root = app_env.data_dir
    (root / "simplified_ndjson" / "apple.ndjson").write_text("")
    (root / "numpy_bitmap").mkdir()
    np.save(root / "numpy_bitmap" / "apple.npy", np.zeros((5, 784), dtype=np.uint8))
    sample = explore.load_class_sample(root, "apple")
    assert sample.stroke_files and not sample.has_strokes and len(sample.images) == 5
    at = new_app("app_pages/explore.py")
    at.multiselect(key="explore_classes").set_value(["apple"]).run()
    assert_clean(at)
    info = texts(at.info)
    assert "apple: no readable strokes in its files, only 28×28 bitmaps." in info
    assert "only 28×28 bitmaps in the data folder" not in info


def test_a_card_name_is_shown_as_text_not_markdown(app_env):  # noqa: F811
    from app_pages.common import literal
    from test_registry import make_model_dir

    evil = "![x](http://example.invalid/a.png) :red[big] <b>**bold**</b>\n# title"
    assert literal(evil) == r"\!\[x\](http\://example.invalid/a.png) \:red\[big\] \<b\>\*\*bold\*\*\</b\> \# title"
    make_model_dir(app_env.promoted_dir / "mlp", "mlp", name=evil)
    at = new_app("app_pages/train.py")
    assert_clean(at)
    side = texts(at.sidebar.markdown)
    assert literal(evil) in side and "![x]" not in side


# ---------------------------------------------------------------- one error type, and bug ids


def test_user_facing_errors_share_one_type():
    from sketchlab.cli import UserError
    from sketchlab.data.dataset import NoDataError
    from sketchlab.data.download import DownloadError
    from sketchlab.predict import EmptyDrawingError
    from sketchlab.registry import PromoteError
    from sketchlab.sweeps import SweepError
    from sketchlab.cards import ModelLoadError

    for kind in (UserError, NoDataError, DownloadError, EmptyDrawingError, PromoteError, SweepError,
                 ModelLoadError, DataFormatError, DrawingLimitError):
        assert issubclass(kind, SketchLabError), kind
    assert user_message(NoDataError("no data here")) == "no data here"


def test_a_bug_gets_an_id_and_its_traceback_is_logged(caplog):
    try:
        raise RuntimeError("boom")
    except RuntimeError as caught:
        exc = caught
        with caplog.at_level(logging.ERROR, logger="sketchlab"):
            message = bug_report(exc)
    bug_id = re.search(r"id ([0-9a-f]{8})", message).group(1)
    assert "bug in SketchLab" in message and "boom" not in message
    record = next(r for r in caplog.records if bug_id in r.getMessage())
    assert record.exc_info and record.exc_info[1] is exc


def test_the_cli_reports_a_bug_with_an_id_and_logs_it(sketchlab_env, monkeypatch, capsys):
    from sketchlab.cli import data as cli_data

    def broken(args, settings):
        raise RuntimeError("an internal slip")

    monkeypatch.setattr(cli_data, "cmd_data_info", broken)
    assert main(["data", "info"]) == 1
    err = capsys.readouterr().err
    bug_id = re.search(r"id ([0-9a-f]{8})", err).group(1)
    assert "Traceback" not in err and err.count("\n") == 1
    log = (sketchlab_env.home_dir / "logs" / "errors.log").read_text()
    assert bug_id in log and "RuntimeError: an internal slip" in log and "Traceback" in log


def test_a_sketchlab_error_is_one_line_and_exit_2(sketchlab_env, capsys):
    assert main(["data", "build", "--classes", "apple,not-a-class"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_a_bug_on_a_page_is_shown_with_an_id(app_env, monkeypatch, caplog):  # noqa: F811
    def broken(*args, **kwargs):
        raise RuntimeError("an internal slip")

    monkeypatch.setattr(explore, "load_class_sample", broken)
    with caplog.at_level(logging.ERROR, logger="sketchlab"):
        at = new_app("app_pages/explore.py")
    assert_clean(at)
    shown = texts(at.error)
    bug_id = re.search(r"Unexpected error \(id ([0-9a-f]{8})\)", shown).group(1)
    assert "an internal slip" not in shown
    assert any(bug_id in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- disk faults in `train`


def test_train_on_an_unwritable_home_stops_before_training(sketchlab_env, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SKETCHLAB_HOME", str(blocker / "home"))  # cannot be created, even by root
    assert main(["train", "--epochs", "1", "--classes", "apple,anvil"]) == 2
    captured = capsys.readouterr()
    assert "cannot write to" in captured.err and captured.err.count("\n") == 1
    assert "train mlp" not in captured.err  # no epoch bar: it stopped before any training


def test_train_on_a_full_disk_stops_before_training(sketchlab_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKETCHLAB_MIN_FREE_MB", str(10**12))  # more than any disk has: "full"
    limits.drawing_limits.cache_clear()
    assert main(["train", "--epochs", "1", "--classes", "apple,anvil", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "MB free" in err and "SKETCHLAB_MIN_FREE_MB" in err
    assert not (tmp_path / "run").exists()
