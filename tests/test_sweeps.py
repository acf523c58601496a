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
    SEED_VALUES,
    SweepError,
    SweepLimits,
    SweepSpec,
    SweepStore,
    SweepValidationError,
    count_runs,
    default_base,
    expand_runs,
    launch_sweep,
    seed_preset,
    validate_sweep,
)
from sketchlab.sweeps.spec import run_group, run_params
from sketchlab.training import RunConfig

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


def test_seed_preset_trains_the_base_once_and_varies_one_key_at_a_time():
    spec = seed_preset()
    runs = expand_runs(spec)
    assert all(isinstance(r, RunConfig) for r in runs)
    params = [run_params(r) for r in runs]
    assert len(runs) == count_runs(spec) == 9  # 1 base + 2 optimizers + 3 batch sizes + 3 learning rates
    assert len({tuple(sorted(p.items(), key=str)) for p in params}) == 9  # all distinct
    base = default_base()
    assert params[0] == base and run_group(spec, params[0]) is None  # the base run: in every group
    varied = {k: {base[k]} for k in SEED_VALUES}
    for p in params[1:]:
        group = run_group(spec, p)
        assert all(p[k] == base[k] for k in p if k != group), p
        varied[group].add(p[group])
    assert varied == {k: set(v) for k, v in SEED_VALUES.items()}


def test_grid_random_and_tpe_expand_to_the_right_runs():
    grid = tiny_spec(mode="grid", values={"optimizer": ["Adam", "SGD"], "learning_rate": [0.1, 0.01, 0.001]})
    combos = {(c.optimizer, c.learning_rate) for c in expand_runs(grid)}
    assert len(combos) == 6 == count_runs(grid) and all(c.batch_size == 8 for c in expand_runs(grid))

    rnd = tiny_spec(mode="random", n_trials=5,
                    values={"learning_rate": [0.1, 0.01, 0.001], "batch_size": [8, 16]})
    a, b = expand_runs(rnd), expand_runs(rnd)
    assert a == b and len(a) == 5  # drawn from the seed, so the queue is reproducible
    assert all(c.learning_rate in (0.1, 0.01, 0.001) and c.batch_size in (8, 16) for c in a)

    tpe = tiny_spec(mode="tpe", n_trials=4, values={"learning_rate": [0.1, 0.01]})
    assert expand_runs(tpe) == [] and count_runs(tpe) == 4  # the sampler picks values as each run starts


def test_random_search_draws_the_learning_rate_from_a_log_range():
    spec = tiny_spec(mode="random", n_trials=40, ranges={"learning_rate": (1e-4, 1e-1)},
                     values={"batch_size": [8, 16]})
    assert validate_sweep(spec) == {}
    lrs = [c.learning_rate for c in expand_runs(spec)]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    # Log scale: each decade gets runs (a linear draw would put ~90% above 0.01).
    decades = {int(math.floor(math.log10(lr))) for lr in lrs}
    assert decades >= {-4, -3, -2}
    assert len(set(lrs)) > 10  # not a few categorical values


@pytest.mark.parametrize("change, words", [
    ({"mode": "grid"}, "random or TPE"),
    ({"ranges": {"learning_rate": (0.1, 0.01)}}, "below its high end"),
    ({"ranges": {"learning_rate": (0.0, 0.01)}}, "above 0"),
    ({"values": {"learning_rate": [0.1]}}, "not both"),
])
def test_a_bad_learning_rate_range_is_named(change, words):
    spec = tiny_spec(**{"mode": "tpe", "n_trials": 3, "ranges": {"learning_rate": (1e-4, 0.1)}, **change})
    assert words in validate_sweep(spec)["learning_rate"]


def test_a_huge_grid_is_refused_from_its_size_without_listing_it(monkeypatch):
    from sketchlab.sweeps import spec as spec_module

    def never(*_args, **_kw):
        raise AssertionError("the grid was expanded to be counted")

    monkeypatch.setattr(spec_module, "expand_runs", never)
    # 2.7 KB of typed values: 12 million combinations (the repro).
    values = {"learning_rate": [round(0.001 * (i + 1), 6) for i in range(200)],
              "batch_size": list(range(1, 301)), "epochs": list(range(1, 101)), "per_class": [2, 3]}
    errors = validate_sweep(tiny_spec(mode="grid", values=values))
    assert errors["runs"] == "12,000,000 runs is above the limit of 64 runs per sweep"


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
        ({"values": {"learning_rate": [11.0]}}, "learning_rate", "limit"),
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
    assert SweepStore.of(settings).list() == []


def test_classes_without_data_are_reported_at_launch(settings):
    spec = tiny_spec(classes=("apple", "ant"))  # the tiny data folder has no ants
    with pytest.raises(SweepValidationError) as info:
        launch_sweep(spec, settings, start_worker=False)
    assert "ant" in info.value.errors["classes"] and "download" in info.value.errors["classes"]


# ---------------------------------------------------------------- queue, cancel, export (no training)


def test_queued_runs_are_readable_cancellable_and_exportable(settings):
    name = launch_sweep(tiny_spec(values={"learning_rate": [0.1, 0.01, 0.001]}), settings, start_worker=False)
    runs = SweepStore.of(settings).runs(name)
    assert [r.state for r in runs] == ["queued"] * 3
    assert [r.params["learning_rate"] for r in runs] == [0.01, 0.1, 0.001]  # the base run first
    assert [r.group for r in runs] == [None, "learning_rate", "learning_rate"]
    assert all(r.history == [] for r in runs)
    summary = SweepStore.of(settings).get(name)
    assert (summary.state, summary.n_runs, summary.counts["queued"]) == ("queued", 3, 3)
    assert summary.spec.base["per_class"] is None  # "all" stays "all"; the worker applies the cap
    assert all(r.params["per_class"] is None for r in runs)

    SweepStore.of(settings).cancel_run(name, 1)
    assert [r.state for r in SweepStore.of(settings).runs(name)] == ["queued", "cancelled", "queued"]
    with pytest.raises(SweepError, match="no run 7"):
        SweepStore.of(settings).cancel_run(name, 7)
    with pytest.raises(SweepError, match="no sweep named"):
        SweepStore.of(settings).cancel("nope")

    assert SweepStore.of(settings).cancel(name) == 3
    assert SweepStore.of(settings).get(name).state == "cancelled"
    assert {r.state for r in SweepStore.of(settings).runs(name)} == {"cancelled"}

    buf = io.StringIO()
    assert SweepStore.of(settings).export_csv(name, buf) == 3
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["state"] for r in rows] == ["cancelled"] * 3
    assert [float(r["learning_rate"]) for r in rows] == [0.01, 0.1, 0.001]
    assert {r["optimizer"] for r in rows} == {"Adam"} and rows[0]["model"] == "mlp"


def test_sweep_names_are_unique(settings):
    SweepStore.of(settings).create(tiny_spec(name="mine"))
    with pytest.raises(SweepValidationError) as info:
        SweepStore.of(settings).create(tiny_spec(name="mine"))
    assert "exists" in info.value.errors["name"]


# ---------------------------------------------------------------- a real worker


@pytest.mark.slow
def test_worker_ends_runs_as_done_diverged_and_pruned(settings):
    from sketchlab.sweeps.worker import run_worker
    from sketchlab.cards import load_model

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

    runs = SweepStore.of(settings).runs(name)
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

    summary = SweepStore.of(settings).get(name)
    assert summary.state == "finished" and summary.is_final
    assert summary.best_val_accuracy == max(r.last_val_accuracy for r in runs[:3])

    out = Path(settings.home_dir) / "export.csv"
    SweepStore.of(settings).export_csv(name, out)
    rows = list(csv.DictReader(out.open()))
    assert [r["state"] for r in rows] == ["done", "done", "done", "diverged", "pruned"]
    assert rows[0]["epochs_done"] == "3" and rows[0]["model_dir"] == runs[0].model_dir


@pytest.mark.slow
def test_tpe_search_picks_values_from_the_lists_when_runs_start(settings):
    from sketchlab.sweeps.worker import run_worker

    values = {"learning_rate": [0.003, 0.01, 0.03], "batch_size": [8, 16]}
    spec = tiny_spec(mode="tpe", n_trials=3, values=values, augment=False,
                     base={"optimizer": "Adam", "epochs": 1})
    name = launch_sweep(spec, settings, start_worker=False)
    assert [r.params for r in SweepStore.of(settings).runs(name)] == [{}, {}, {}]
    run_worker(settings, study=name)
    runs = SweepStore.of(settings).runs(name)
    assert [r.state for r in runs] == ["done"] * 3
    for r in runs:
        assert r.params["learning_rate"] in values["learning_rate"]
        assert r.params["batch_size"] in values["batch_size"]
        assert (r.params["optimizer"], r.params["epochs"], r.epochs_done) == ("Adam", 1, 1)


@pytest.mark.slow
def test_a_run_that_cannot_train_is_failed_with_its_reason(settings):
    from sketchlab.sweeps.worker import run_worker

    # Skipping the launch-time data check (data_dir=None) lets a run meet the missing class.
    name = SweepStore.of(settings).create(tiny_spec(classes=("apple", "ant")))
    run_worker(settings, study=name)
    (run,) = SweepStore.of(settings).runs(name)
    assert run.state == "failed"
    assert "ant" in run.error


def test_cli_status_cancel_and_export(settings, capsys, tmp_path):
    from sketchlab.cli import main

    assert main(["sweep", "status"]) == 0
    assert "no sweeps" in capsys.readouterr().out
    name = SweepStore.of(settings).create(tiny_spec(values={"batch_size": [8, 16]}))
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


# ---------------------------------------------------------------- faults: disk, storage, retry


def test_a_worker_that_cannot_write_fails_each_run_with_the_reason_and_goes_on(settings):
    from sketchlab.sweeps.worker import run_worker

    store = SweepStore.of(settings)
    name = store.create(tiny_spec(mode="grid", values={"batch_size": [8, 16]}, augment=False))
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    settings.runs_dir.write_text("not a folder")  # as a read-only or broken runs folder would
    (settings.home_dir / "workers").write_text("not a folder either")  # no pid file can be written
    assert run_worker(settings, store.url, study=name) == 2  # it went on after the first failure
    runs = store.runs(name)
    assert [r.state for r in runs] == ["failed", "failed"]
    assert all(f"cannot save models in {settings.runs_dir}" in r.error for r in runs)
    assert all(r.epochs_done == 0 for r in runs)  # refused before any epoch was wasted


@pytest.mark.slow
def test_a_full_disk_at_save_time_fails_the_run_and_the_next_run_still_trains(settings, monkeypatch):
    import errno

    from sketchlab import cards
    from sketchlab.sweeps.worker import run_worker

    real_save, calls = cards.save_model, []

    def full_once(model, card, directory):
        calls.append(directory)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(model, card, directory)

    monkeypatch.setattr(cards, "save_model", full_once)
    store = SweepStore.of(settings)
    name = store.create(tiny_spec(mode="grid", base={"optimizer": "Adam", "epochs": 1, "batch_size": 8},
                                  values={"learning_rate": [0.01, 0.02]}, augment=False))
    assert run_worker(settings, store.url, study=name) == 2
    first, second = store.runs(name)
    assert first.state == "failed" and "could not be saved" in first.error and "No space left" in first.error
    assert second.state == "done" and Path(second.model_dir, "model.keras").is_file()


def test_a_storage_in_a_missing_folder_is_refused_without_creating_it(settings, tmp_path, capsys):
    from sketchlab.cli import main

    missing = tmp_path / "no" / "such" / "folder"
    url = f"sqlite:///{missing / 'sweeps.db'}"
    with pytest.raises(SweepError, match="does not exist"):
        SweepStore.of(settings, url).list()
    assert main(["sweep", "status", "--storage", url]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert main(["worker", "--storage", url]) == 2
    assert not (tmp_path / "no").exists()
    SweepStore.of(settings).list()  # the default storage in the home folder is still created
    assert Path(settings.sweep_storage[len("sqlite:///"):]).is_file()


def test_a_failed_run_can_be_retried_once_and_only_failed_runs(settings, capsys):
    from sketchlab.cli import main
    from sketchlab.sweeps.worker import run_worker

    store = SweepStore.of(settings)
    # Skipping the launch-time data check lets the run meet the missing class and fail fast.
    name = store.create(tiny_spec(classes=("apple", "ant")))
    run_worker(settings, store.url, study=name)
    (failed,) = store.runs(name)
    assert failed.state == "failed"
    with pytest.raises(SweepError, match="no run 5"):
        store.retry(name, 5)

    assert main(["sweep", "retry", name, "--run", "0", "--workers", "0"]) == 0
    assert "re-queued as run(s) 1" in capsys.readouterr().out
    old, new = store.runs(name)
    assert old.state == "failed" and "re-queued as run 1" in old.error
    assert (new.state, new.retry_of, new.run, new.params) == ("queued", 0, 0, failed.params)
    assert store.get(name).state == "running"  # not "finished" while the retry waits
    with pytest.raises(SweepError, match="already re-queued as run 1"):
        store.retry(name, 0)
    assert main(["sweep", "retry", name, "--run", "1"]) == 2
    assert "only failed runs" in capsys.readouterr().err


def test_only_optunas_public_api_is_used():
    # system_attrs and storage methods are Optuna internals that an upgrade may change silently.
    root = Path(__file__).resolve().parent.parent / "sketchlab" / "sweeps"
    internals = ("system_attrs", "get_all_trials", "get_study_id_from_name", "set_trial_user_attr",
                 "get_trial_id_from_study_id_trial_number", "get_study_user_attrs", "get_all_studies")
    for path in root.glob("*.py"):
        text = path.read_text()
        assert not [word for word in internals if word in text], path


@pytest.mark.slow
def test_tpe_searches_a_learning_rate_range_on_a_log_scale(settings):
    from sketchlab.sweeps.worker import run_worker

    spec = tiny_spec(mode="tpe", n_trials=3, ranges={"learning_rate": (1e-3, 1e-1)}, augment=False,
                     values={"batch_size": [8, 16]}, base={"optimizer": "Adam", "epochs": 1})
    store = SweepStore.of(settings)
    name = store.create(spec)
    run_worker(settings, store.url, study=name)
    runs = store.runs(name)
    assert [r.state for r in runs] == ["done"] * 3
    assert all(1e-3 <= r.params["learning_rate"] <= 1e-1 for r in runs)
    assert len({r.params["learning_rate"] for r in runs}) == 3  # drawn from the range, not a list
    distribution = store.study(name).trials[0].distributions["learning_rate"]
    assert isinstance(distribution, optuna.distributions.FloatDistribution) and distribution.log
    assert all(r.params["batch_size"] in (8, 16) for r in runs)  # lists stay categorical


def test_random_search_with_a_range_queues_runs_within_it(settings):
    store = SweepStore.of(settings)
    name = store.create(tiny_spec(mode="random", n_trials=4, ranges={"learning_rate": (0.00012345, 0.00098765)}))
    assert all(0.00012345 <= r.params["learning_rate"] <= 0.00098765 for r in store.runs(name))
