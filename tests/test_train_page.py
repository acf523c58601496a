"""The Train page under AppTest: words a user reads, fields their errors belong to, what a
finished sweep found, re-running a failed run and honest promotion. Sweeps here are run by
an in-process worker on the tiny synthetic data (1-2 epochs), so no process is left behind.
"""

# ruff: noqa: F811  (app_env and tiny_models come from test_app: test arguments reuse the fixtures' names)
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SYNTHETIC_CLASSES
from test_app import app_env, assert_clean, new_app, texts, tiny_models  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parent.parent


def store_of(settings):
    from sketchlab.sweeps import SweepStore

    return SweepStore.of(settings)


def spec(**kw):
    from sketchlab.sweeps import SweepSpec

    kw.setdefault("classes", SYNTHETIC_CLASSES)
    kw.setdefault("augment", False)
    return SweepSpec(model="mlp", **kw)


def column_with(at, key: str):
    """The form column that holds the widget with this key."""
    for col in at.columns:
        if any(w.key == key for w in list(col.text_input) + list(col.selectbox)):
            return col
    raise AssertionError(f"no column holds {key}")


def test_no_internal_seed_names_reach_any_page():
    for page in sorted((REPO / "app_pages").glob("*.py")) + [REPO / "app.py"]:
        assert "seed 0" not in page.read_text().lower(), page.name


def test_the_classic_experiment_is_named_by_what_it_is(app_env):
    at = new_app("app_pages/train.py")
    assert_clean(at)
    button = at.button(key="train_preset")
    assert button.label == "Load the classic experiment"
    assert "optimizer × batch size × learning rate" in button.help and "9 runs" in button.help


def test_a_base_value_error_shows_under_the_base_field(app_env):
    at = new_app("app_pages/train.py")
    at.text_input(key="train_base_epochs").input("0")
    at.text_input(key="train_values_epochs").input("1, 2")
    at.button(key="train_launch").click().run()
    assert_clean(at)
    base_col = column_with(at, "train_base_epochs")
    values_col = column_with(at, "train_values_epochs")
    assert "epochs must be at least 1" in texts(base_col.error)
    assert "epochs" not in texts(values_col.error)
    assert store_of(app_env).list() == []


@pytest.mark.parametrize("epochs", ["0", "1"])
def test_the_form_is_validated_once_per_launch(app_env, monkeypatch, epochs):
    from sketchlab.sweeps import spec as spec_module
    from sketchlab.sweeps import workers as workers_module

    calls = []
    real = spec_module._clean_spec
    monkeypatch.setattr(spec_module, "_clean_spec", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    monkeypatch.setattr(workers_module, "ensure_workers", lambda *a, **kw: [])  # queue only
    at = new_app("app_pages/train.py")
    at.text_input(key="train_base_epochs").input(epochs)
    at.button(key="train_launch").click().run()
    assert_clean(at)
    launched = store_of(app_env).list()
    if epochs == "0":
        assert "epochs must be at least 1" in texts(column_with(at, "train_base_epochs").error)
        assert launched == []
    else:
        assert len(launched) == 1 and not at.error
    assert len(calls) == 1


def test_a_huge_grid_typed_in_the_form_is_refused_by_its_size(app_env):
    at = new_app("app_pages/train.py")
    at.selectbox(key="train_mode").set_value("grid")
    at.text_input(key="train_values_lr").input(", ".join(f"{0.001 * (i + 1):g}" for i in range(200)))
    at.text_input(key="train_values_batch").input(", ".join(str(i) for i in range(1, 301)))
    at.text_input(key="train_values_epochs").input(", ".join(str(i) for i in range(1, 101)))
    at.text_input(key="train_values_per_class").input("2, 3")
    at.multiselect(key="train_values_optimizer").set_value([])
    at.button(key="train_launch").click().run()
    assert_clean(at)
    assert "12,000,000 runs is above the limit of 64" in texts(at.error)


def test_runs_table_shows_dashes_and_all_never_none(app_env):
    store = store_of(app_env)
    store.create(spec(mode="tpe", n_trials=2, values={"learning_rate": [0.01, 0.1]}, name="tpe"))
    store.create(spec(base={"per_class": None}, values={"batch_size": [8, 16]}, name="all-drawings"))
    at = new_app("app_pages/train.py")
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["per_class"]) == ["all"] * 3  # blank in the form: all drawings, not 10000
    at.selectbox(key="train_sweep").set_value("tpe").run()
    table = at.dataframe[0].value
    assert list(table["learning_rate"]) == ["–", "–"]  # chosen by TPE when each run starts
    assert list(table["epochs done"]) == ["–", "–"] and list(table["note"]) == ["–", "–"]
    words = table.select_dtypes(include=["object", "string"]).astype(str).to_numpy().ravel().tolist()
    assert not {"None", "nan", ""} & set(words)


def test_cancel_says_one_run_and_the_selector_follows_the_state(app_env):
    store = store_of(app_env)
    name = store.create(spec(mode="grid", values={"batch_size": [8]}, name="one-run"))
    at = new_app("app_pages/train.py")
    assert at.selectbox(key="train_sweep").format_func(name).endswith("· queued")
    at.button(key="train_cancel_sweep").click().run()
    assert_clean(at)
    assert "Cancelled: 1 queued or running run will stop or never start." in texts(at.caption)
    assert at.selectbox(key="train_sweep").format_func(name).endswith("· cancelled")


@pytest.fixture
def finished_sweep(app_env):
    """A grid of 6 one-epoch runs, trained by an in-process worker."""
    from sketchlab.sweeps.worker import run_worker

    store = store_of(app_env)
    name = store.create(spec(mode="grid", base={"optimizer": "Adam", "epochs": 2},
                             values={"learning_rate": [1e-5, 0.003, 0.03], "batch_size": [8, 16]},
                             name="finished"))
    assert run_worker(app_env, store.url, study=name) == 6
    return name


@pytest.mark.slow
def test_a_finished_sweep_shows_what_it_found(app_env, finished_sweep):
    at = new_app("app_pages/train.py")
    assert_clean(at)
    found = texts(at.markdown)
    best = store_of(app_env).get(finished_sweep).best_run
    assert f"Run #{best} won with" in found and "points above the median of the other 5" in found
    charts = {c.proto.id: c for c in at.get("plotly_chart")}
    assert len(charts) >= 4  # live curves, parallel coordinates, importance, best runs, comparison
    assert "Hyperparameter importance" in found and "needs at least" not in texts(at.caption)


def test_importance_says_when_too_few_runs_finished(app_env):
    from sketchlab.sweeps.worker import run_worker

    store = store_of(app_env)
    name = store.create(spec(mode="grid", base={"optimizer": "Adam", "epochs": 1},
                             values={"learning_rate": [0.01, 0.03]}, name="two"))
    run_worker(app_env, store.url, study=name)
    at = new_app("app_pages/train.py")
    assert_clean(at)
    assert "Importance needs at least 5 finished runs; this sweep has 2." in texts(at.caption)


def test_a_failed_run_is_retried_from_the_page(app_env, monkeypatch):
    from sketchlab import sweeps
    from sketchlab.sweeps.worker import run_worker

    store = store_of(app_env)
    name = store.create(spec(classes=("apple", "ant"), name="fails"))  # no ants: the run fails
    run_worker(app_env, store.url, study=name)
    started = []
    monkeypatch.setattr(sweeps, "ensure_workers", lambda s, *a, **k: started.append(s) or [])
    at = new_app("app_pages/train.py")
    assert_clean(at)
    at.button(key="train_retry").click().run()
    assert_clean(at)
    old, new = store.runs(name)
    assert (new.state, new.retry_of) == ("queued", old.number) and started
    assert f"queued again as run #{new.number}" in texts(at.caption)
    assert "re-run of #0" in list(at.dataframe[0].value["note"])[1]


def constant_model_dir(directory: Path, answer: int = 0) -> Path:
    """An MLP that answers class `answer` for every drawing: 1/4 right on a balanced split."""
    import numpy as np

    from sketchlab.models import build_model
    from sketchlab.cards import save_model

    model = build_model("mlp", len(SYNTHETIC_CLASSES))
    last = model.layers[-1]
    kernel, bias = last.get_weights()
    bias = np.zeros_like(bias)
    bias[answer] = 5.0
    last.set_weights([np.zeros_like(kernel), bias])
    card = {"name": "always apple", "kind": "mlp", "classes": list(SYNTHETIC_CLASSES), "status": "done",
            "val_accuracy": 0.99, "hyperparameters": {"per_class": None}}  # a card that flatters it
    return save_model(model, card, directory)


def test_both_models_are_measured_on_the_same_held_out_drawings(app_env):
    from sketchlab import promotion

    c = promotion.compare_with_current(constant_model_dir(Path(app_env.home_dir) / "const"), app_env)
    assert c.n_drawings == 24  # 20% of 4 x 30 synthetic drawings, stratified
    assert c.candidate.accuracy == pytest.approx(0.25) and c.candidate.balanced_accuracy == pytest.approx(0.25)
    assert c.current is not None and c.current.name == "tiny mlp"  # the model of its kind in use
    assert "may have trained" in c.current.note  # a shipped model may have seen these drawings
    assert c.candidate_is_worse == (c.current.accuracy > 0.25)


def test_promotion_shows_both_figures_and_warns_when_the_new_model_is_worse(app_env, monkeypatch):
    from sketchlab import promotion
    from sketchlab.sweeps.worker import run_worker

    store = store_of(app_env)
    name = store.create(spec(mode="grid", base={"optimizer": "Adam", "epochs": 1}, values={"batch_size": [8]},
                             name="to-promote"))
    run_worker(app_env, store.url, study=name)
    worse = promotion.Comparison("mlp", 24, promotion.Scores("run", 0.5, 0.5),
                                 promotion.Scores("in use", 0.75, 0.7))
    seen = []
    monkeypatch.setattr(promotion, "compare_with_current", lambda run_dir, s: seen.append(run_dir) or worse)
    at = new_app("app_pages/train.py")
    assert "answer the same held-out drawings" in texts(at.caption)
    assert not [b for b in at.button if b.key == "train_promote"]  # no promotion before the comparison
    at.button(key="train_compare").click().run()
    assert_clean(at)
    assert seen == [store.runs(name)[0].model_dir]
    table = next(d.value for d in at.dataframe if "accuracy" in d.value.columns)
    assert list(table["accuracy"]) == ["50.0%", "75.0%"]
    assert "worse than the mlp in use" in texts(at.warning)
    assert at.button(key="train_promote").label == "Promote anyway"


def test_comparison_legends_never_share_a_colour_between_values():
    from sketchlab import plots

    curve = [(1, 0.5), (2, 0.6)]
    groups = {"optimizer": {"Adadelta": curve, "Adam": curve, "SGD": curve},
              "batch_size": {"8": curve, "32": curve, "512": curve, "4096": curve},
              "learning_rate": {"0.0001": curve, "0.01": curve, "0.5": curve, "1": curve}}
    fig = plots.param_comparison_figure(groups)
    colours = [(t.legendgroup, t.name, t.line.color) for t in fig.data]
    assert len(colours) == 11
    assert len({c for _, _, c in colours}) == 11, colours  # one colour per legend entry
