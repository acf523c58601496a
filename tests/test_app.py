"""Every page of the app under Streamlit's AppTest: renders, explains problems in words, acts.

The Draw tests use the shipped models in models/ when they are there (else small untrained
ones made here); the other pages run on the synthetic fixture data. Injecting a drawing
follows how streamlit-drawable-canvas 0.13 keeps its state: the component's session state
under the canvas key holds {"drawing": {"raw": fabric_json, "data": png_or_None}}.
"""

from __future__ import annotations

import html
import json
import os
import time
from pathlib import Path

import pytest

from conftest import SYNTHETIC_CLASSES
from test_registry import make_model_dir

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
APP = str(Path(__file__).resolve().parent.parent / "app.py")
REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
TIMEOUT = 120


def circle_path(cx=200, cy=200, r=100, n=24):
    import math

    angles = [2 * math.pi * i / n for i in range(n + 1)]
    pts = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]
    return {"type": "path", "path": [["M", *pts[0]]] + [["Q", *pts[i - 1], *pts[i]] for i in range(1, n + 1)]}


def line_path(x0, y0, x1, y1):
    return {"type": "path", "path": [["M", x0, y0], ["L", x1, y1]]}


def canvas_state(*objects):
    return {"drawing": {"raw": {"objects": list(objects)}, "data": None}}


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def html_text(at) -> str:
    """The HTML blocks of a run (the Draw page's guesses are one)."""
    return "\n".join(e.proto.body for e in at.get("html"))


def guess_labels(at) -> list[list[str]]:
    """Each model's guessed labels, best first, read from the guesses' HTML."""
    import re

    blocks = html_text(at).split('<div class="sl-model">')[1:]
    return [re.findall(r'<span class="sl-label" title="([^"]*)"', block) for block in blocks]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    """Untrained MLP and CNN for the four synthetic classes."""
    root = tmp_path_factory.mktemp("models")
    make_model_dir(root / "mlp", "mlp", name="tiny mlp")
    make_model_dir(root / "cnn", "cnn", name="tiny cnn")
    return root


@pytest.fixture
def app_env(sketchlab_env, tiny_models, monkeypatch):
    """Fixture data + the tiny models; returns the Settings the app will see."""
    from sketchlab.settings import Settings

    monkeypatch.setenv("SKETCHLAB_MODELS", str(tiny_models))
    return Settings.from_env()


def new_app(page: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if page:
        at.switch_page(page)
    return at.run()


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]


# ---------------------------------------------------------------- Draw


def shipped_models_present() -> bool:
    return all((REPO_MODELS / k / "model.keras").is_file() for k in ("mlp", "cnn"))


@pytest.fixture(params=["shipped", "tiny"])
def draw_env(request, sketchlab_env, tiny_models, monkeypatch):
    if request.param == "shipped":
        if not shipped_models_present():
            pytest.skip("no shipped models in models/ yet")
        monkeypatch.delenv("SKETCHLAB_MODELS", raising=False)
    else:
        monkeypatch.setenv("SKETCHLAB_MODELS", str(tiny_models))
    from sketchlab import registry
    from sketchlab.settings import Settings

    return registry.active_models(Settings.from_env())


def test_draw_empty_canvas_shows_a_prompt(draw_env):
    at = new_app()
    assert_clean(at)
    assert "Draw something" in texts(at.info)
    assert not guess_labels(at)


def test_draw_shows_both_models_side_by_side(draw_env):
    at = new_app()
    at.session_state["draw_canvas_0"] = canvas_state(circle_path())
    at.run()
    assert_clean(at)
    guesses = html_text(at)
    for kind in ("mlp", "cnn"):
        assert f'<div class="sl-name">{html.escape(draw_env[kind].name)}</div>' in guesses
        assert html.escape(draw_env[kind].accuracy_text) in guesses
    assert "(1 stroke)" in guesses and 'src="data:image/png;base64,' in guesses  # the 28x28 they saw
    assert [len(labels) for labels in guess_labels(at)] == [3, 3]
    assert not at.get("plotly_chart")  # light HTML bars, no chart library per stroke
    assert "The models agree" in texts(at.success) or "The models disagree" in texts(at.warning)
    assert "Draw something" not in texts(at.info)


def test_draw_page_needs_no_data_folder_and_says_nothing_about_it(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("SKETCHLAB_DATA", str(tmp_path / "empty"))
    at = new_app()
    assert_clean(at)
    assert not at.sidebar.warning and not at.sidebar.button  # no "No data yet", no download
    assert "tiny mlp" in texts(at.sidebar.markdown)


def test_draw_top_k_follows_the_slider(app_env):
    at = new_app()
    at.session_state["draw_canvas_0"] = canvas_state(circle_path())
    at.slider(key="draw_k").set_value(4)
    at.run()
    assert_clean(at)
    for labels in guess_labels(at):
        assert sorted(labels) == sorted(SYNTHETIC_CLASSES)


def test_draw_undo_removes_the_last_stroke_and_clear_empties(app_env):
    at = new_app()
    at.session_state["draw_canvas_0"] = canvas_state(circle_path(), line_path(10, 10, 300, 300))
    at.run()
    assert "(2 strokes)" in html_text(at)

    at.button(key="draw_undo").click().run()
    assert_clean(at)
    assert at.session_state["draw_generation"] == 1
    assert len(at.session_state["draw_initial"]["objects"]) == 1
    assert "(1 stroke)" in html_text(at)

    at.button(key="draw_clear").click().run()
    assert_clean(at)
    assert at.session_state["draw_initial"] is None
    assert "Draw something" in texts(at.info)


def test_draw_degenerate_or_foreign_canvas_objects_do_not_crash(app_env):
    at = new_app()
    at.session_state["draw_canvas_0"] = canvas_state({"type": "rect", "left": 1},
                                                     {"type": "path", "path": [["M"]]})
    at.run()
    assert_clean(at)
    assert "Draw something" in texts(at.info)
    at.session_state["draw_canvas_0"] = canvas_state({"type": "path", "path": [["M", 5, 5], ["L", 5, 5]]})
    at.run()  # a single dot: still a drawing, must not raise
    assert_clean(at)
    assert "(1 stroke)" in html_text(at)


def test_draw_without_models_says_how_to_get_them(sketchlab_env, monkeypatch, tmp_path):
    monkeypatch.setenv("SKETCHLAB_MODELS", str(tmp_path / "no-models"))
    at = new_app()
    assert_clean(at)
    assert "No trained models found" in texts(at.error)


def test_a_corrupt_promoted_model_gives_way_to_the_shipped_one_and_says_so(app_env):
    broken = app_env.promoted_dir / "mlp"
    make_model_dir(broken, "mlp", name="broken")
    (broken / "model.keras").write_bytes(b"not a zip")
    at = new_app()
    at.session_state["draw_canvas_0"] = canvas_state(circle_path())
    at.run()
    assert_clean(at)
    notes = texts(at.sidebar.warning)
    assert "promoted mlp model could not be loaded" in notes and "shipped one is used instead" in notes
    assert [len(labels) for labels in guess_labels(at)] == [3, 3]  # both models still answer
    assert "tiny mlp" in html_text(at) and "broken" not in html_text(at)


def test_a_card_with_markup_or_odd_classes_is_shown_as_text_or_skipped(app_env):
    sneaky = "![x](http://example.invalid/x.png) <img src=x onerror=alert(1)>"
    make_model_dir(app_env.promoted_dir / "cnn", "cnn", name=sneaky)
    odd = app_env.promoted_dir / "mlp"
    make_model_dir(odd, "mlp")
    card = json.loads((odd / "card.json").read_text())
    (odd / "card.json").write_text(json.dumps({**card, "classes": [1, [2], 3, 4]}))
    at = new_app()
    at.session_state["draw_canvas_0"] = canvas_state(circle_path())
    at.run()
    assert_clean(at)
    page = html_text(at)
    assert "<img src=x" not in page and html.escape(sneaky) in page
    assert "![x]" not in texts(at.sidebar.markdown)  # escaped: no image from an outside address
    assert "tiny mlp" in page  # the card with number classes is skipped: the shipped mlp answers
    assert "promoted mlp model was skipped" in texts(at.sidebar.warning)


# ---------------------------------------------------------------- sidebar and Explore


@pytest.fixture
def bucket_server(tmp_path, monkeypatch):
    """A local bucket with 12 synthetic drawings per QuickDraw-10 class; the app downloads from it."""
    import json

    from conftest import synthetic_records
    from http_fixture import QuickDrawServer
    from sketchlab import download
    from sketchlab.categories import QUICKDRAW_10

    folder = tmp_path / "bucket" / "full" / "simplified"
    folder.mkdir(parents=True)
    for i, name in enumerate(QUICKDRAW_10):
        lines = "".join(json.dumps(r) + "\n" for r in synthetic_records(name, i % 4, 12))
        (folder / f"{name}.ndjson").write_text(lines)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with QuickDrawServer(tmp_path / "bucket") as server:
        monkeypatch.setattr(download, "DEFAULT_BASE_URL", f"{server.base_url}/full")
        yield server


@pytest.mark.slow
def test_sidebar_downloads_quickdraw10_when_there_is_no_data(app_env, bucket_server, monkeypatch, tmp_path):
    from sketchlab.categories import QUICKDRAW_10
    from sketchlab.dataset import scan_data_dir

    data = tmp_path / "downloaded"
    monkeypatch.setenv("SKETCHLAB_DATA", str(data))
    at = new_app("app_pages/explore.py")
    assert "no Quick Draw files" in texts(at.sidebar.warning)
    at.sidebar.number_input(key="download_per_class").set_value(100)
    at.sidebar.button(key="download_button").click().run()
    assert_clean(at)
    assert sorted(scan_data_dir(data)) == sorted(QUICKDRAW_10)
    assert len(bucket_server.requests) >= 10
    assert "10 classes, 120 drawings" in texts(at.sidebar.success)


@pytest.mark.slow
def test_a_failed_download_is_explained(app_env, monkeypatch, tmp_path):
    from http_fixture import closed_port
    from sketchlab import download

    monkeypatch.setattr(download, "DEFAULT_BASE_URL", f"http://127.0.0.1:{closed_port()}/full")
    monkeypatch.setenv("SKETCHLAB_DATA", str(tmp_path / "nothing"))
    at = new_app("app_pages/explore.py")
    at.sidebar.button(key="download_button").click().run()
    assert_clean(at)
    assert "Could not download the data" in texts(at.sidebar.error)


def test_sidebar_shows_data_status_and_models(app_env):
    at = new_app("app_pages/explore.py")
    assert_clean(at)
    assert "4 classes, 120 drawings" in texts(at.sidebar.success)
    side = texts(at.sidebar.markdown)
    assert "tiny mlp" in side and "tiny cnn" in side and "val accuracy 0.50" in side


def test_no_data_is_a_message_not_an_exception(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("SKETCHLAB_DATA", str(tmp_path / "empty"))
    at = new_app("app_pages/explore.py")
    assert_clean(at)
    assert "no Quick Draw files" in texts(at.sidebar.warning)
    assert at.sidebar.button(key="download_button")
    assert "no data to explore" in texts(at.info) and "sketchlab data download" in texts(at.info)
    at = new_app("app_pages/train.py")
    assert_clean(at)
    assert "Training needs data" in texts(at.info)


def test_explore_renders_per_class_plots_and_a_models_mistakes(app_env):
    at = new_app("app_pages/explore.py")
    assert_clean(at)
    assert at.multiselect(key="explore_classes").value == ["apple", "anvil", "airplane"]
    assert len(at.tabs) == 3
    charts = at.get("plotly_chart")
    # counts + 2 histograms + a countries chart per class; drawings are SVG, bitmaps images
    assert len(charts) == 3 + 3
    assert html_text(at).count('<figure class="sl-drawing">') == 3 * 6 and "@keyframes" not in html_text(at)
    assert len(at.get("image")) == 3 * 2  # raster grid + mean image per class
    assert "30 drawings read" in texts(at.markdown)
    # apple: 25 of 30 recognized (drawings 0, 7, .. 28 are not)
    assert [m.value for m in at.metric][:1] == ["83%"]

    at.toggle(key="explore_replay").set_value(True).run()
    assert_clean(at)
    assert "@keyframes" in html_text(at) and html_text(at).count("<polyline") >= 3 * 6

    at.selectbox(key="explore_model").set_value(0)
    at.button(key="explore_evaluate").click().run()
    assert_clean(at)
    assert any("Confusion matrix" in c.proto.spec for c in at.get("plotly_chart"))
    assert "Most confident mistakes" in texts(at.markdown)  # an untrained model errs


# ---------------------------------------------------------------- Train


def test_train_form_rejects_bad_values_next_to_the_fields(app_env):
    from sketchlab import sweeps

    at = new_app("app_pages/train.py")
    assert_clean(at)
    at.text_input(key="train_base_lr").input("0")
    at.text_input(key="train_values_batch").input("0, 32")
    at.button(key="train_launch").click().run()
    assert_clean(at)
    errors = texts(at.error)
    assert "learning rate must be a number above 0" in errors
    assert "batch size must be at least 1" in errors
    assert "The sweep was not launched" in errors
    assert sweeps.SweepStore.of(app_env).list() == []

    at.text_input(key="train_base_lr").input("abc")
    at.text_input(key="train_values_batch").input("")
    at.multiselect(key="train_classes").set_value(["apple"])
    at.button(key="train_launch").click().run()
    errors = texts(at.error)
    assert "is not a number" in errors and "at least 2 classes" in errors and "batch size" not in errors


def test_seed_preset_fills_the_form(app_env):
    at = new_app("app_pages/train.py")
    assert at.text_input(key="train_values_lr").value == "0.0001, 0.01, 0.5, 1"
    assert at.text_input(key="train_values_batch").value == "8, 32, 512, 4096"
    assert at.multiselect(key="train_values_optimizer").value == ["Adadelta", "Adam", "SGD"]
    at.text_input(key="train_values_lr").input("0.3")
    at.button(key="train_preset").click().run()
    assert at.text_input(key="train_values_lr").value == "0.0001, 0.01, 0.5, 1"


def _stop_workers(settings, names):
    from sketchlab import sweeps

    for name in names:
        try:
            sweeps.SweepStore.of(settings).cancel(name)
        except sweeps.SweepError:
            pass
    deadline = time.monotonic() + 60
    while sweeps.workers_alive(settings) and time.monotonic() < deadline:
        time.sleep(0.5)
    for worker in sweeps.workers_alive(settings):
        os.kill(worker.pid, 9)


@pytest.mark.slow
def test_sweep_launched_from_the_form_runs_and_its_model_can_be_promoted(app_env):
    from sketchlab import registry, sweeps

    at = new_app("app_pages/train.py")
    at.multiselect(key="train_values_optimizer").set_value([])
    at.text_input(key="train_values_batch").input("")
    at.text_input(key="train_base_lr").input("0.05")
    at.text_input(key="train_values_lr").input("0.05, 0.5")
    at.text_input(key="train_base_epochs").input("1")
    at.button(key="train_launch").click().run()
    names = [s.name for s in sweeps.SweepStore.of(app_env).list()]
    try:
        assert_clean(at)
        assert len(names) == 1 and names[0] in texts(at.success)
        table = at.dataframe[0].value
        assert list(table["run"]) == [0, 1] and list(table["learning_rate"]) == ["0.05", "0.5"]
        assert at.query_params["sweep"] == [names[0]] or at.query_params["sweep"] == names[0]

        deadline = time.monotonic() + 240
        while not sweeps.SweepStore.of(app_env).get(names[0]).is_final and time.monotonic() < deadline:
            time.sleep(1)
        at.run()
        assert_clean(at)
        table = at.dataframe[0].value
        assert set(table["state"]) == {"done"}, table
        assert "finished" in texts(at.markdown)
        assert any("Comparison" in s.value for s in at.subheader)

        # a fresh session (a page reload) finds the same sweep from the URL
        reload = new_app("app_pages/train.py")
        assert reload.selectbox(key="train_sweep").value == names[0]

        at.button(key="train_compare").click().run()  # both models on the same drawings first
        assert_clean(at)
        at.button(key="train_promote").click().run()
        assert_clean(at)
        assert "Promoted" in texts(at.success)
        active = registry.active_models(app_env)
        assert active["mlp"].source == "promoted" and active["cnn"].source == "shipped"

        draw = new_app()
        draw.session_state["draw_canvas_0"] = canvas_state(circle_path())
        draw.run()
        assert_clean(draw)
        guesses = html_text(draw)  # the promoted model answers on the Draw page
        assert html.escape(active["mlp"].name) in guesses and "promoted" in guesses
    finally:
        _stop_workers(app_env, names)


@pytest.mark.slow
def test_cancel_a_run_and_a_sweep_from_the_page(app_env):
    from sketchlab import sweeps

    at = new_app("app_pages/train.py")
    at.text_input(key="train_base_epochs").input("50")
    at.text_input(key="train_values_batch").input("")
    at.text_input(key="train_values_lr").input("")
    at.multiselect(key="train_values_optimizer").set_value(["SGD", "Adam"])
    at.button(key="train_launch").click().run()
    names = [s.name for s in sweeps.SweepStore.of(app_env).list()]
    try:
        assert len(names) == 1
        at.selectbox(key="train_cancel_which").set_value(1)
        at.button(key="train_cancel_run").click().run()
        assert_clean(at)
        run1 = next(r for r in sweeps.SweepStore.of(app_env).runs(names[0]) if r.number == 1)
        assert run1.cancel_requested or run1.state == "cancelled"
        at.button(key="train_cancel_sweep").click().run()
        assert_clean(at)
        summary = sweeps.SweepStore.of(app_env).get(names[0])
        assert summary.state == "cancelled"
        deadline = time.monotonic() + 120
        while not sweeps.SweepStore.of(app_env).get(names[0]).is_final and time.monotonic() < deadline:
            time.sleep(1)
        states = {r.state for r in sweeps.SweepStore.of(app_env).runs(names[0])}
        assert states <= {"cancelled", "done"} and "cancelled" in states
    finally:
        _stop_workers(app_env, names)


@pytest.mark.slow
def test_a_sweep_left_without_a_worker_can_be_restarted_from_the_page(app_env):
    # as after a machine restart: runs queued in the storage, no worker process alive
    from sketchlab import sweeps

    spec = sweeps.SweepSpec(model="mlp", base={"epochs": 1}, values={"learning_rate": [0.05]},
                            classes=SYNTHETIC_CLASSES)
    name = sweeps.launch_sweep(spec, app_env, start_worker=False)
    try:
        at = new_app("app_pages/train.py")
        assert_clean(at)
        assert at.selectbox(key="train_sweep").value == name
        assert "No worker is running this sweep" in texts(at.warning)
        at.button(key="train_start_worker").click().run()
        assert_clean(at)
        assert sweeps.workers_alive(app_env)
        deadline = time.monotonic() + 180
        while not sweeps.SweepStore.of(app_env).get(name).is_final and time.monotonic() < deadline:
            time.sleep(1)
        assert {r.state for r in sweeps.SweepStore.of(app_env).runs(name)} == {"done"}
    finally:
        _stop_workers(app_env, [name])
