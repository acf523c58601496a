"""Repeated stratified k-fold: folds that never leak, a well-formed table, and the shipped models."""

import json
import sys

import numpy as np
import pytest

from sketchlab import evaluate
from sketchlab.categories import QUICKDRAW_10
from sketchlab.evaluate import evaluate_kfold, kfold_splits, load_eval_data, topk_hits

from sketchlab.settings import REPO_MODELS_DIR
from sketchlab.training import BALANCE_MODES


def test_kfold_splits_are_disjoint_stratified_and_cover_every_row_once_per_repeat():
    labels = np.repeat(np.arange(4), [30, 12, 9, 20])
    splits = kfold_splits(labels, folds=3, repeats=2, seed=5)
    assert len(splits) == 6
    for r in range(2):
        tested = np.concatenate([test for _, test in splits[3 * r : 3 * r + 3]])
        assert sorted(tested.tolist()) == list(range(len(labels)))
    for train, test in splits:
        assert not set(train) & set(test)
        assert len(train) + len(test) == len(labels)
        # Stratified: every class is in every test fold in about its share.
        assert np.bincount(labels[test], minlength=4).min() >= 3
    assert kfold_splits(labels, 3, 2, seed=5)[0][1].tolist() == splits[0][1].tolist()


def test_kfold_splits_refuse_impossible_requests():
    labels = np.repeat(np.arange(3), [10, 10, 2])
    with pytest.raises(ValueError, match="at least 3 drawings per class"):
        kfold_splits(labels, folds=3)
    with pytest.raises(ValueError, match="folds >= 2"):
        kfold_splits(labels, folds=1)


def test_topk_hits():
    probs = np.array([[0.5, 0.3, 0.2, 0.0], [0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.4, 0.1]])
    y = np.array([1, 0, 2])
    assert topk_hits(probs, y, 1).tolist() == [False, False, True]
    assert topk_hits(probs, y, 3).tolist() == [True, False, True]
    assert topk_hits(probs[:, :2], np.array([1, 0, 1]), 3).all()  # k above the class count: every class


def test_report_summary_and_paired_comparison():
    scores = {
        "cnn": evaluate.ModelScores("cnn", top1=[0.8, 0.9, 0.7], top3=[1.0, 1.0, 0.9]),
        "mlp": evaluate.ModelScores("mlp", top1=[0.7, 0.9, 0.8], top3=[0.9, 1.0, 0.9]),
    }
    report = evaluate.KFoldReport(scores, ["a", "b"], {"a": 10, "b": 5}, 3, 1, 0, "test", {})
    assert report.kfold_entry("cnn") == pytest.approx(
        {"top1_mean": 0.8, "top1_std": np.std([0.8, 0.9, 0.7]), "top3_mean": 29 / 30,
         "top3_std": np.std([1.0, 1.0, 0.9]), "folds": 3, "repeats": 1, "n_drawings": 15}
    )
    d = report.paired("cnn", "mlp")
    assert (d["wins"], d["ties"], d["losses"]) == (1, 1, 1) and d["top1_diff_mean"] == pytest.approx(0.0)


def test_unknown_model_name_is_refused(tiny_data_dir):
    data = load_eval_data(tiny_data_dir, ("apple", "anvil"))
    with pytest.raises(ValueError, match="unknown model"):
        evaluate_kfold(data, models=("mlp", "resnet"), folds=2, repeats=1)


@pytest.mark.slow
def test_tiny_kfold_table_and_no_leak(tiny_data_dir, monkeypatch):
    classes = ("apple", "anvil", "airplane", "banana")
    data = load_eval_data(tiny_data_dir, classes)
    strokes = [d.strokes for d in data.drawings]
    splits = kfold_splits(data.labels, folds=2, repeats=1, seed=3)

    # Record what each model is trained on, by the identity of the rows' stroke lists and pixels.
    seen_networks, seen_baseline = [], []
    real_train_run, real_fit_baseline = evaluate.train_run, evaluate._fit_baseline

    def spy_train_run(config, split, *a, **kw):
        seen_networks.append((config.model, {id(s) for s in split.train_strokes}, split.X_train.copy()))
        return real_train_run(config, split, *a, **kw)

    def spy_fit_baseline(X_train, y_train, seed):
        seen_baseline.append(X_train.copy())
        return real_fit_baseline(X_train, y_train, seed)

    monkeypatch.setattr(evaluate, "train_run", spy_train_run)
    monkeypatch.setattr(evaluate, "_fit_baseline", spy_fit_baseline)
    progress = []
    report = evaluate_kfold(
        data, folds=2, repeats=1, seed=3, epochs=2, on_progress=lambda *a: progress.append(a)
    )

    assert list(report.scores) == ["mlp", "cnn", "strong", "baseline"]
    assert report.n_drawings == len(data.labels) == 120
    assert [p[:2] for p in progress] == [(i, 8) for i in range(1, 9)]
    for s in report.scores.values():
        assert len(s.top1) == len(s.top3) == 2
        assert all(0.0 <= v <= 1.0 for v in s.top1 + s.top3)
        assert all(t3 >= t1 for t1, t3 in zip(s.top1, s.top3))
    entry = report.kfold_entry("cnn")
    assert set(entry) == {"top1_mean", "top1_std", "top3_mean", "top3_std", "folds", "repeats", "n_drawings"}
    assert entry["folds"] == 2 and entry["repeats"] == 1 and entry["n_drawings"] == 120
    json.dumps(report.to_dict())  # plain data all the way down
    table = report.table().splitlines()
    assert len(table) == 2 + 4 and table[2].startswith("mlp")

    # Every fold trained every network on its training rows only, augmentation included.
    assert [m for m, _, _ in seen_networks] == ["mlp", "cnn", "strong"] * 2
    for fold, (train, test) in enumerate(splits):
        for model, ids, X_train in seen_networks[3 * fold : 3 * fold + 3]:
            assert ids == {id(strokes[r]) for r in train}
            assert not ids & {id(strokes[r]) for r in test}
            assert len(X_train) == len(train)
        assert len(seen_baseline[fold]) == len(train)


def test_accuracy_benchmark_says_when_data_is_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_MODELS_DIR.parent / "benchmarks"))
    import accuracy

    assert accuracy.main(["--data-dir", str(tmp_path / "nothing-here")]) == 2
    err = capsys.readouterr().err
    assert "no Quick Draw files" in err and "nothing-here" in err
    sys.modules.pop("accuracy", None)


def test_shipped_models_are_sane_on_their_own_training_drawings(real_data):
    """A sanity check, not an accuracy claim: the shipped models were trained on these drawings.

    The accuracy figures are the cards' `heldout` entries (benchmarks/accuracy.py).
    """
    from sketchlab.data.dataset import load_all_data
    from sketchlab.training import predict_proba
    from sketchlab.cards import load_model

    data = load_all_data(real_data, QUICKDRAW_10)
    X = data.images.astype(np.float32) / 255.0
    for kind in ("mlp", "cnn", "strong"):
        model, card = load_model(REPO_MODELS_DIR / kind)
        assert card["classes"] == list(QUICKDRAW_10)
        assert card["kind"] == kind and card["status"] == "done"
        # The card states exactly what it was trained on: every real drawing, counted per class.
        assert card["data"]["per_class_counts"] == data.counts()
        assert card["data"]["n_train"] == len(data.labels)
        assert card["data"]["n_train_bitmap_only"] == int(data.from_bitmap.sum())
        h = card["heldout"]
        assert set(h["per_class_recall"]) == set(QUICKDRAW_10)
        assert 0.0 <= h["min_recall"] <= h["balanced_accuracy"] <= 1.0 and h["top1"] <= h["top3"]
        accuracy = topk_hits(predict_proba(model, X), data.labels, 1).mean()
        assert accuracy > 2 / len(QUICKDRAW_10)  # well above chance (0.1)


def test_a_diverged_run_scores_zero_and_is_flagged(tiny_data_dir, monkeypatch):
    real_train_run = evaluate.train_run

    def diverging(config, split, *a, **kw):
        result = real_train_run(config, split, *a, **kw)
        result.status = "diverged"  # as train_run reports a NaN / exploding loss
        return result

    monkeypatch.setattr(evaluate, "train_run", diverging)
    data = load_eval_data(tiny_data_dir, ("apple", "anvil", "airplane"))
    report = evaluate_kfold(data, models=("mlp", "baseline"), folds=2, repeats=1, epochs=1)
    assert report.scores["mlp"].statuses == ["diverged", "diverged"]
    assert report.scores["mlp"].top1 == report.scores["mlp"].top3 == [0.0, 0.0]
    assert "2 of 2 runs diverged" in report.table()
    assert "diverged" not in report.table().splitlines()[-1]  # the baseline's row


def _mixed_data(tmp_path):
    """4 classes of synthetic strokes, plus official-style bitmap rows for two of them."""
    import json

    from conftest import make_data_dir
    from sketchlab.data.dataset import load_all_data
    from sketchlab.data.raster import rasterize_strokes

    root = make_data_dir(tmp_path, per_class=10)
    folder = root / "numpy_bitmap"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = {}
    for c, n in (("apple", 30), ("banana", 12)):
        np.save(folder / f"{c}.npy", (rng.random((n, 784)) > 0.8).astype(np.uint8) * 255)
        rows[c] = list(range(5, 5 + n))  # official rows 5.. : rows 5..9 are the stroke drawings 5..9
    (folder / "ROWS.json").write_text(json.dumps(rows))
    return load_all_data(root, ("apple", "anvil", "airplane", "banana"))


def test_heldout_split_is_stratified_per_class_and_source(tmp_path):
    from sketchlab.evaluate import heldout_split

    data = _mixed_data(tmp_path)
    # official rows 5..9 duplicate stroke drawings 5..9 (the first 10 lines are official 0..9)
    assert data.source_counts()["apple"] == {"strokes": 10, "bitmaps": 25}
    assert data.source_counts()["banana"] == {"strokes": 10, "bitmaps": 7}
    train, test = heldout_split(data)
    assert not set(train) & set(test) and len(train) + len(test) == len(data.labels)
    for stratum in np.unique(data.strata()):
        n = (data.strata() == stratum).sum()
        assert (data.strata()[test] == stratum).sum() in (int(np.floor(0.2 * n)), int(np.ceil(0.2 * n)))
    again = heldout_split(data)
    assert np.array_equal(test, again[1])  # fixed seed


def test_per_class_report_on_a_split(tmp_path):
    from sketchlab.evaluate import evaluate_splits, heldout_split

    data = _mixed_data(tmp_path)
    report = evaluate_splits(data, [heldout_split(data)], models=("mlp", "baseline"), epochs=2)
    m = report.summary("baseline")
    recall = list(m["per_class_recall"].values())
    assert m["balanced_accuracy"] == pytest.approx(np.mean(recall))
    assert m["min_recall"] == pytest.approx(min(recall))
    assert np.sum(m["confusion_matrix"]) == m["n_test"] == sum(report.test_counts)
    assert m["balanced_accuracy_std"] >= 0 and "bootstrap" in m["spread"]
    table = report.per_class_table(markdown=True)
    assert table.count("\n") == len(data.classes) + 2 and "| apple | 10 | 25 |" in table
    entry = report.card_entry("mlp")
    assert entry["recipe"]["balance"] in BALANCE_MODES


def test_train_defaults_script_trains_the_recipes():
    """models/train_defaults.sh and sketchlab.evaluate.RECIPES (what benchmarks/accuracy.py scores) agree."""
    import re
    from pathlib import Path

    from sketchlab.evaluate import RECIPES

    script = (Path(__file__).resolve().parents[1] / "models" / "train_defaults.sh").read_text()
    common = re.search(r"common=\((.*)\)", script).group(1)
    for kind, config in RECIPES.items():
        line = re.search(rf"--model {kind} --epochs (\d+) --balance (\w+)", script)
        assert int(line.group(1)) == config.epochs and line.group(2) == config.balance
        assert f"--batch-size {config.batch_size}" in common
        assert f"--lr {config.learning_rate:g}" in common and f"--optimizer {config.optimizer}" in common
