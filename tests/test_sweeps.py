"""Sweeps: spec expansion, validation before anything is queued, the read/cancel/export API,
and a real worker training tiny MLPs into every final state (done, diverged, pruned, failed).

The kill -9 test and the detached-worker test live in test_worker_crash.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import optuna
import pytest

from sketchlab.sweeps import (
    SEED_BASE,
    SEED_VALUES,
    SweepError,
    SweepLimits,
    SweepSpec,
    SweepValidationError,
    cancel_run,
    cancel_sweep,
    create_sweep,
    expand_runs,
    export_csv,
    get_sweep,
    launch_sweep,
    list_sweeps,
    seed_preset,
    sweep_runs,
    validate_sweep,
)

TINY_CLASSES = ("apple", "anvil", "airplane", "banana")


@pytest.fixture
def settings(sketchlab_env, monkeypatch):
    monkeypatch.delenv("SKETCHLAB_STORAGE", raising=False)  # never touch a real shared storage
    return sketchlab_env


def tiny_spec(**kw) -> SweepSpec:
    kw.setdefault("classes", TINY_CLASSES)
    kw.setdefault("base", {"optimizer": "Adam", "learning_rate": 0.01, "batch_size": 8, "epochs": 2})
    kw.setdefault("model", "mlp")
    return SweepSpec(**kw)


# ---------------------------------------------------------------- spec


def test_seed_preset_varies_one_key_at_a_time():
    runs = expand_runs(seed_preset())
    assert len(runs) == 3 + 4 + 4
    for params, group in runs:
        for key, base in SEED_BASE.items():
            if key != group:
                assert params[key] == base, (params, group)
    varied = {}
    for params, group in runs:
        varied.setdefault(group, []).append(params[group])
    assert varied == {k: list(v) for k, v in SEED_VALUES.items()}


def test_grid_random_and_tpe_expand_to_the_right_runs():
    grid = tiny_spec(mode="grid", values={"optimizer": ["Adam", "SGD"], "learning_rate": [0.1, 0.01, 0.001]})
    combos = {(p["optimizer"], p["learning_rate"]) for p, _ in expand_runs(grid)}
    assert len(combos) == 6 and all(p["batch_size"] == 8 for p, _ in expand_runs(grid))

    rnd = tiny_spec(mode="random", n_trials=5,
                    values={"learning_rate": [0.1, 0.01, 0.001], "batch_size": [8, 16]})
    a, b = expand_runs(rnd), expand_runs(rnd)
    assert a == b and len(a) == 5  # drawn from the seed, so the queue is reproducible
    assert all(p["learning_rate"] in (0.1, 0.01, 0.001) and p["batch_size"] in (8, 16) for p, _ in a)

    tpe = tiny_spec(mode="tpe", n_trials=4, values={"learning_rate": [0.1, 0.01]})
    assert expand_runs(tpe) == [({}, None)] * 4  # the sampler picks values when each run starts


def test_spec_round_trips_through_a_dict():
    spec = seed_preset(epochs=3, per_class=50)
    again = SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"values": {"learning_rate": [0.01, 0]}}, "learning_rate", "above 0"),
        ({"values": {"learning_rate": [-1.0]}}, "learning_rate", "above 0"),
        ({"values": {"learning_rate": [float("nan")]}}, "learning_rate", "above 0"),
        ({"values": {"learning_rate": ["fast"]}}, "learning_rate", "not a number"),
        ({"values": {"batch_size": [0, 8]}}, "batch_size", "at least 1"),
        ({"values": {"batch_size": [8.5]}}, "batch_size", "whole number"),
        ({"values": {"batch_size": [100_000]}}, "batch_size", "limit"),
        ({"values": {"optimizer": ["Adam", "Nesterov"]}}, "optimizer", "unknown optimizer 'Nesterov'"),
        ({"values": {"epochs": [1000]}}, "epochs", "limit"),
        ({"values": {"per_class": [10**7]}}, "per_class", "limit"),
        ({"values": {"dropout": [0.1]}}, "values", "unknown hyperparameter"),
        ({"classes": ("apple", "unicorn")}, "classes", "unicorn"),
        ({"classes": ("apple",)}, "classes", "at least 2"),
        ({"model": "transformer"}, "model", "unknown model"),
        ({"mode": "bayes"}, "mode", "unknown mode"),
        ({"mode": "tpe", "n_trials": None}, "n_trials", "number of runs"),
        ({"mode": "random", "n_trials": 1000}, "n_trials", "limit"),
        ({"mode": "grid",
          "values": {"learning_rate": [0.1, 0.2, 0.3, 0.4, 0.5], "batch_size": [8, 16, 32, 64, 128]}},
         "runs", "25 runs is above the limit of 20"),
        ({"name": "../etc"}, "name", "letters"),
    ],
)
def test_validation_names_the_field_and_says_why(change, field, words):
    spec = tiny_spec(**{"mode": "one_at_a_time", **change})
    errors = validate_sweep(spec, SweepLimits(max_runs=20))
    assert field in errors, errors
    assert words in errors[field]


def test_a_valid_spec_has_no_errors_and_optimizer_case_is_forgiven():
    assert validate_sweep(seed_preset()) == {}
    assert validate_sweep(tiny_spec(values={"optimizer": ["adam", "sgd"]})) == {}


def test_invalid_sweep_is_rejected_before_anything_is_queued(settings):
    bad = tiny_spec(values={"learning_rate": [0.01, -0.5], "optimizer": ["Adamax"]})
    with pytest.raises(SweepValidationError) as info:
        launch_sweep(bad, settings, start_worker=False)
    assert set(info.value.errors) == {"learning_rate", "optimizer"}
    assert list_sweeps(settings) == []


def test_classes_without_data_are_reported_at_launch(settings):
    spec = tiny_spec(classes=("apple", "ant"))  # the tiny data folder has no ants
    with pytest.raises(SweepValidationError) as info:
        launch_sweep(spec, settings, start_worker=False)
    assert "ant" in info.value.errors["classes"] and "download" in info.value.errors["classes"]


# ---------------------------------------------------------------- queue, cancel, export (no training)


def test_queued_runs_are_readable_cancellable_and_exportable(settings):
    name = launch_sweep(tiny_spec(values={"learning_rate": [0.1, 0.01, 0.001]}), settings, start_worker=False)
    runs = sweep_runs(settings, name)
    assert [r.state for r in runs] == ["queued"] * 3
    assert [r.params["learning_rate"] for r in runs] == [0.1, 0.01, 0.001]
    assert all(r.group == "learning_rate" and r.history == [] for r in runs)
    summary = get_sweep(settings, name)
    assert (summary.state, summary.n_runs, summary.counts["queued"]) == ("queued", 3, 3)
    assert summary.spec.base["per_class"] == SweepLimits().max_per_class  # "all" is capped

    cancel_run(settings, name, 1)
    assert [r.state for r in sweep_runs(settings, name)] == ["queued", "cancelled", "queued"]
    with pytest.raises(SweepError, match="no run 7"):
        cancel_run(settings, name, 7)
    with pytest.raises(SweepError, match="no sweep named"):
        cancel_sweep(settings, "nope")

    assert cancel_sweep(settings, name) == 3
    assert get_sweep(settings, name).state == "cancelled"
    assert {r.state for r in sweep_runs(settings, name)} == {"cancelled"}

    buf = io.StringIO()
    assert export_csv(settings, name, buf) == 3
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["state"] for r in rows] == ["cancelled"] * 3
    assert [float(r["learning_rate"]) for r in rows] == [0.1, 0.01, 0.001]
    assert {r["optimizer"] for r in rows} == {"Adam"} and rows[0]["model"] == "mlp"


def test_sweep_names_are_unique(settings):
    create_sweep(tiny_spec(name="mine"), settings.sweep_storage)
    with pytest.raises(SweepValidationError) as info:
        create_sweep(tiny_spec(name="mine"), settings.sweep_storage)
    assert "exists" in info.value.errors["name"]


# ---------------------------------------------------------------- a real worker


@pytest.mark.slow
def test_worker_ends_runs_as_done_diverged_and_pruned(settings):
    from sketchlab.training import load_model
    from sketchlab.worker import run_worker

    # Three healthy runs first (the median pruner needs them), then one that explodes and
    # one that learns nothing in its first epoch.
    spec = tiny_spec(
        base={"optimizer": "Adam", "batch_size": 8, "epochs": 3},
        values={"learning_rate": [0.01, 0.02, 0.005, 5.0, 1e-5]},
        prune=True,
        augment=False,
    )
    name = launch_sweep(spec, settings, start_worker=False)
    ended = []
    assert run_worker(settings, study=name, on_run_end=lambda s, r: ended.append(r.number)) == 5
    assert ended == [0, 1, 2, 3, 4]

    runs = sweep_runs(settings, name)
    assert [r.state for r in runs] == ["done", "done", "done", "diverged", "pruned"]
    for r in runs[:3]:
        assert r.epochs_done == 3 and r.last_val_accuracy is not None
        model, card = load_model(r.model_dir)
        assert card["sweep"] == {"name": name, "run": r.number, "storage": settings.sweep_storage}
        assert card["hyperparameters"]["learning_rate"] == r.params["learning_rate"]
        assert card["classes"] == list(TINY_CLASSES)
    diverged, pruned = runs[3], runs[4]
    assert diverged.model_dir is None and diverged.history and "NaN" in diverged.error
    assert pruned.model_dir is None and 1 <= pruned.epochs_done < 3

    # What Optuna itself holds: per-epoch reports and the matching trial states.
    study = optuna.load_study(study_name=name, storage=settings.sweep_storage)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4 + ["PRUNED"]
    assert sorted(trials[0].intermediate_values) == [1, 2, 3]
    assert math.isclose(trials[0].value, runs[0].last_val_accuracy)

    summary = get_sweep(settings, name)
    assert summary.state == "finished" and summary.is_final
    assert summary.best_val_accuracy == max(r.last_val_accuracy for r in runs[:3])

    out = Path(settings.home_dir) / "export.csv"
    export_csv(settings, name, out)
    rows = list(csv.DictReader(out.open()))
    assert [r["state"] for r in rows] == ["done", "done", "done", "diverged", "pruned"]
    assert rows[0]["epochs_done"] == "3" and rows[0]["model_dir"] == runs[0].model_dir


@pytest.mark.slow
def test_tpe_search_picks_values_from_the_lists_when_runs_start(settings):
    from sketchlab.worker import run_worker

    values = {"learning_rate": [0.003, 0.01, 0.03], "batch_size": [8, 16]}
    spec = tiny_spec(mode="tpe", n_trials=3, values=values, augment=False,
                     base={"optimizer": "Adam", "epochs": 1})
    name = launch_sweep(spec, settings, start_worker=False)
    assert [r.params for r in sweep_runs(settings, name)] == [{}, {}, {}]
    run_worker(settings, study=name)
    runs = sweep_runs(settings, name)
    assert [r.state for r in runs] == ["done"] * 3
    for r in runs:
        assert r.params["learning_rate"] in values["learning_rate"]
        assert r.params["batch_size"] in values["batch_size"]
        assert (r.params["optimizer"], r.params["epochs"], r.epochs_done) == ("Adam", 1, 1)


@pytest.mark.slow
def test_a_run_that_cannot_train_is_failed_with_its_reason(settings):
    from sketchlab.worker import run_worker

    # Skipping the launch-time data check (data_dir=None) lets a run meet the missing class.
    name = create_sweep(tiny_spec(classes=("apple", "ant")), settings.sweep_storage)
    run_worker(settings, study=name)
    (run,) = sweep_runs(settings, name)
    assert run.state == "failed"
    assert "ant" in run.error


def test_cli_status_cancel_and_export(settings, capsys, tmp_path):
    from sketchlab.cli import main

    assert main(["sweep", "status"]) == 0
    assert "no sweeps" in capsys.readouterr().out
    name = create_sweep(tiny_spec(values={"batch_size": [8, 16]}), settings.sweep_storage)
    assert main(["sweep", "status"]) == 0
    assert name in capsys.readouterr().out
    assert main(["sweep", "status", name]) == 0
    out = capsys.readouterr().out
    assert "queued" in out and "batch_size" in out
    assert main(["sweep", "cancel", name, "--run", "0"]) == 0
    assert main(["sweep", "export", name, "--out", str(tmp_path / "s.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [r["state"] for r in rows] == ["cancelled", "queued"]
    assert main(["sweep", "cancel", "nope"]) == 2
    assert "no sweep named" in capsys.readouterr().err
    assert main(["sweep", "run", "--lr", "0.01,-1", "--classes", ",".join(TINY_CLASSES)]) == 2
    assert "learning_rate" in capsys.readouterr().err
