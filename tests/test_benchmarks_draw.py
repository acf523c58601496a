"""The pure parts of benchmarks/draw_latency.py: drawings scaled into the canvas, and
py-spy's collapsed stacks grouped by kind of work. No browser, no server."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("draw_latency", REPO / "benchmarks" / "draw_latency.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["draw_latency"] = bench  # its dataclasses look their module up there
_spec.loader.exec_module(bench)


def test_to_canvas_keeps_the_drawing_inside_the_margin_centred_and_in_proportion():
    # a wide drawing: 0..255 across, 0..100 down (simplified data is aligned to 0, max 255)
    strokes = [[[0, 255], [0, 0]], [[0, 128, 255], [100, 50, 100]]]
    out = bench.to_canvas(strokes, side=400, margin=40)
    xs = [x for s in out for x, _ in s]
    ys = [y for s in out for _, y in s]
    assert min(xs) == pytest.approx(40) and max(xs) == pytest.approx(360)
    scale = 320 / 255
    assert max(ys) - min(ys) == pytest.approx(100 * scale, abs=0.1)  # same scale on both axes
    assert (min(ys) + max(ys)) / 2 == pytest.approx(200, abs=0.1)  # centred vertically
    assert [len(s) for s in out] == [2, 3]


def test_long_strokes_are_subsampled_keeping_both_ends():
    stroke = [list(range(0, 200)), list(range(0, 200))]
    (points,) = bench.to_canvas([stroke], max_moves=25)
    assert len(points) == 26  # the first point and at most 25 moves
    first, last = points[0], points[-1]
    assert last[0] - first[0] == pytest.approx(199 * 320 / 255, abs=0.1)  # both ends kept
    assert (first[0] + last[0]) / 2 == pytest.approx(200, abs=0.1)  # centred: it spans 0..199 only
    assert bench.subsample([1, 2, 3], 10) == [1, 2, 3]


def test_a_dot_stays_one_point():
    (dot,) = bench.to_canvas([[[7], [9]]])
    assert len(dot) == 1


def test_load_drawings_takes_turns_over_the_classes_and_skips_long_ones(tmp_path):
    def row(word, n_strokes):
        return json.dumps({"word": word, "drawing": [[[0, 255], [0, 255]]] * n_strokes})

    (tmp_path / "a.ndjson").write_text("\n".join([row("a", 2), row("a", 3), row("a", 40)]) + "\n")
    (tmp_path / "b.ndjson").write_text(row("b", 1) + "\n\n")
    got = bench.load_drawings(tmp_path, n=10, max_strokes=12, max_moves=25)
    assert [d.word for d in got] == ["a", "b", "a"]  # turns over the classes; the 40-stroke one left out
    with_dot = {"word": "c", "drawing": [[[0, 255], [0, 255]], [[9, 10], [9, 9]]]}  # an eye: 1 unit long
    (tmp_path / "c.ndjson").write_text(json.dumps(with_dot))
    dotted = bench.load_drawings(tmp_path, n=2, max_strokes=12, max_moves=25, dots_first=True)
    assert [d.word for d in dotted] == ["c", "a"]
    assert bench.has_dot(dotted[0]) and not bench.has_dot(dotted[1])
    clicked = bench.dots_as_clicks(dotted[0])
    assert [len(st) for st in clicked.strokes] == [2, 1]  # the line stays, the eye is one click
    with pytest.raises(SystemExit, match="no drawings"):
        bench.load_drawings(tmp_path / "nothing", n=1, max_strokes=12, max_moves=25)


SP = "/x/site-packages/"
RUNNER = f"{SP}streamlit/runtime/scriptrunner/script_runner.py"
SCRIPT = "thread (1): ScriptRunner.scriptThread"
LOOP = "thread (2): MainThread;run_forever (/usr/lib/python3.11/asyncio/base_events.py:1)"
STACKS = [  # (frames, samples) as py-spy --threads --full-filenames writes them
    ([SCRIPT, "Thread._bootstrap (/usr/lib/python3.11/threading.py:1002)",
      f"ScriptRunner._run_script ({RUNNER}:700)", f"_clean_problem_modules ({RUNNER}:1068)",
      f"clear_session ({SP}keras/src/backend/common/global_state.py:60)"],
     50),
    ([SCRIPT, f"ScriptRunner._run_script ({RUNNER}:700)",
      f"ScriptRunner._on_script_finished ({RUNNER}:1055)"], 20),
    ([SCRIPT, "<module> (/tmp/tree/app_pages/draw.py:90)",
      "predict_strokes (/tmp/tree/sketchlab/predict.py:50)",
      f"__call__ ({SP}keras/src/layers/layer.py:1)"], 10),
    ([SCRIPT, "<module> (/tmp/tree/app_pages/draw.py:110)",
      f"plotly_chart ({SP}streamlit/elements/plotly_chart.py:5)",
      f"to_json ({SP}plotly/io/_json.py:3)"], 8),
    ([SCRIPT, "<module> (/tmp/tree/app_pages/draw.py:20)", "sidebar (/tmp/tree/app_pages/common.py:100)",
      f"markdown ({SP}streamlit/elements/markdown.py:1)"], 4),
    ([SCRIPT, "<module> (/tmp/tree/app_pages/draw.py:30)",
      f"markdown ({SP}streamlit/elements/markdown.py:1)",
      f"_enqueue ({SP}streamlit/delta_generator.py:1)"], 3),
    ([LOOP, "EpollSelector.select (/usr/lib/python3.11/selectors.py:468)"], 40),
    ([LOOP, f"send_bytes ({SP}starlette/websockets.py:1)"], 5),
]
RAW = "".join(";".join(frames) + f" {n}\n" for frames, n in STACKS) + "garbage line without a count\n"


def test_collapsed_stacks_are_parsed_and_grouped_by_kind_of_work():
    samples = bench.parse_collapsed(RAW)
    assert len(samples) == 8 and samples[0][1] == 50
    kinds = [bench.category([f for f in frames if not f.startswith("thread (")]) for frames, _ in samples]
    assert kinds == [
        "after every run: keras clear_session() (Streamlit's _clean_problem_modules)",
        "after every run: gc.collect(2) (Streamlit's runner.postScriptGC)",
        "prediction (sketchlab.predict, Keras, TensorFlow)",
        "plotly figures (build, validate, to JSON)",
        "sidebar, registry, data-folder scans",
        "Streamlit elements and script runner",
        bench.WAITS,
        "Streamlit messages (protobuf, websocket)",
    ]


def test_breakdown_leaves_waits_out_and_shares_the_measured_cpu():
    b = bench.breakdown(bench.parse_collapsed(RAW), rate=100, strokes=2, cpu_s=1.0)
    assert b["samples"] == 140 and b["waits"] == 40
    shares = {name: share for name, share, _ in b["groups"]}
    assert sum(shares.values()) == pytest.approx(1.0)
    keras_cleanup = "after every run: keras clear_session() (Streamlit's _clean_problem_modules)"
    assert shares[keras_cleanup] == pytest.approx(0.5)
    assert sum(sec for _, _, sec in b["groups"]) == pytest.approx(0.5)  # 1.0 s of CPU over 2 strokes
    assert b["self"][0][0] == "clear_session (keras/src/backend/common/global_state.py)"
    cumulative = [fn for fn, _, _ in b["cumulative"]]
    assert not any("threading.py" in fn for fn in cumulative)  # thread start-up frames left out
    assert cumulative[0].startswith("ScriptRunner._run_script (streamlit/")
