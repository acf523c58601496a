"""Which models the app uses: shipped defaults, promoted runs replacing them, atomic promotion."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import SYNTHETIC_CLASSES
from sketchlab import registry
from sketchlab.settings import Settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_model_dir(directory: Path, kind: str = "mlp", classes=SYNTHETIC_CLASSES, status: str = "done",
                   val_accuracy: float | None = 0.5, kfold: dict | None = None,
                   name: str | None = None) -> Path:
    """An untrained model of `kind` saved with a card, as cards.save_model writes it."""
    from sketchlab.models import build_model
    from sketchlab.cards import save_model

    card = {
        "name": name or f"test {kind}",
        "kind": kind,
        "classes": list(classes),
        "val_accuracy": val_accuracy,
        "status": status,
        "created": "2026-01-02T03:04:05+00:00",
        "hyperparameters": {"model": kind, "classes": list(classes), "per_class": None},
    }
    if kfold:
        card["kfold"] = kfold
    return save_model(build_model(kind, len(classes)), card, directory)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", home_dir=tmp_path / "home", models_dir=tmp_path / "shipped")


def test_shipped_models_are_active_in_kind_order(settings):
    make_model_dir(settings.models_dir / "cnn", "cnn")
    make_model_dir(settings.models_dir / "mlp", "mlp")
    active = registry.active_models(settings)
    assert list(active) == ["mlp", "cnn"]
    assert all(info.source == "shipped" for info in active.values())
    assert active["mlp"].classes == list(SYNTHETIC_CLASSES)


def test_promoted_model_replaces_only_its_kind(settings, tmp_path):
    make_model_dir(settings.models_dir / "mlp", "mlp", name="shipped mlp")
    make_model_dir(settings.models_dir / "cnn", "cnn", name="shipped cnn")
    run = make_model_dir(tmp_path / "runs" / "7", "mlp", name="run 7", val_accuracy=0.9)

    target = registry.promote(run, settings)

    assert target == settings.promoted_dir / "mlp"
    active = registry.active_models(settings)
    assert (active["mlp"].name, active["mlp"].source) == ("run 7", "promoted")
    assert (active["cnn"].name, active["cnn"].source) == ("shipped cnn", "shipped")
    assert active["mlp"].card["promoted"]["from"] == str(run)
    # both the shipped and the promoted mlp are listed; nothing half-written is left behind
    assert [(m.kind, m.source) for m in registry.list_models(settings)] == [
        ("mlp", "shipped"), ("cnn", "shipped"), ("mlp", "promoted")]
    assert sorted(p.name for p in settings.promoted_dir.iterdir()) == ["mlp"]


def test_promoting_again_swaps_the_model_and_changes_its_version(settings, tmp_path):
    first = make_model_dir(tmp_path / "runs" / "1", "mlp", name="first")
    second = make_model_dir(tmp_path / "runs" / "2", "mlp", name="second", classes=("a", "b", "c"))
    registry.promote(first, settings)
    before = registry.active_models(settings)["mlp"]
    registry.promote(second, settings)
    after = registry.active_models(settings)["mlp"]
    assert after.name == "second" and after.classes == ["a", "b", "c"]
    assert after.version != before.version  # the Draw page's cache key changes
    assert sorted(p.name for p in settings.promoted_dir.iterdir()) == ["mlp"]


@pytest.mark.parametrize("problem", ["diverged", "no model file", "corrupt model", "no card"])
def test_promote_refuses_bad_runs_and_keeps_the_current_model(settings, tmp_path, problem):
    good = make_model_dir(tmp_path / "runs" / "good", "mlp", name="good")
    registry.promote(good, settings)
    bad = make_model_dir(tmp_path / "runs" / "bad", "mlp", name="bad",
                         status="diverged" if problem == "diverged" else "done")
    if problem == "no model file":
        (bad / "model.keras").unlink()
    elif problem == "corrupt model":
        (bad / "model.keras").write_bytes(b"this is not a keras file")
    elif problem == "no card":
        (bad / "card.json").unlink()

    with pytest.raises(registry.PromoteError) as err:
        registry.promote(bad, settings)

    assert str(err.value)  # a message for people
    assert registry.active_models(settings)["mlp"].name == "good"
    assert sorted(p.name for p in settings.promoted_dir.iterdir()) == ["mlp"]


def test_unpromote_brings_back_the_shipped_model(settings, tmp_path):
    make_model_dir(settings.models_dir / "mlp", "mlp", name="shipped mlp")
    registry.promote(make_model_dir(tmp_path / "run", "mlp", name="run"), settings)
    assert registry.unpromote("mlp", settings) is True
    assert registry.active_models(settings)["mlp"].name == "shipped mlp"
    assert registry.unpromote("mlp", settings) is False


def test_broken_model_folders_are_skipped(settings):
    make_model_dir(settings.models_dir / "mlp", "mlp")
    broken = settings.models_dir / "cnn"
    broken.mkdir(parents=True)
    (broken / "model.keras").write_bytes(b"x")
    (broken / "card.json").write_text("{not json")
    (settings.models_dir / "empty").mkdir()
    assert list(registry.active_models(settings)) == ["mlp"]


def test_accuracy_text_prefers_kfold_and_says_which(tmp_path):
    card = {"name": "m", "kind": "cnn", "classes": ["a", "b"], "val_accuracy": 0.8,
            "created": "2026-02-03T00:00:00"}
    plain = registry.ModelInfo("cnn", tmp_path, card, "shipped")
    assert plain.accuracy == (0.8, "val")
    assert plain.accuracy_text == "val accuracy 0.80"
    assert plain.date == "2026-02-03"
    with_kfold = {**card, "kfold": {"top1_mean": 0.71, "top1_std": 0.04}}
    kfold = registry.ModelInfo("cnn", tmp_path, with_kfold, "shipped")
    assert kfold.accuracy == (0.71, "k-fold top-1")
    assert kfold.accuracy_text == "k-fold top-1 0.71 ± 0.04"
    unknown = registry.ModelInfo("cnn", tmp_path, {"classes": ["a", "b"]}, "promoted")
    assert unknown.accuracy == (None, "")
    assert unknown.label == "cnn · accuracy unknown · no date · promoted"
    assert kfold.details == "k-fold top-1 0.71 ± 0.04 · 2026-02-03 · shipped"


def test_card_written_by_promote_is_plain_json(settings, tmp_path):
    registry.promote(make_model_dir(tmp_path / "run", "cnn"), settings)
    card = json.loads((settings.promoted_dir / "cnn" / "card.json").read_text())
    assert card["kind"] == "cnn" and card["promoted"]["at"]


def test_accuracy_text_prefers_the_class_balanced_heldout_figure(tmp_path):
    card = {"name": "m", "kind": "cnn", "classes": ["a", "b"], "val_accuracy": 0.8,
            "kfold": {"top1_mean": 0.71, "top1_std": 0.04},
            "heldout": {"balanced_accuracy": 0.934, "balanced_accuracy_std": 0.012, "min_recall": 0.81}}
    info = registry.ModelInfo("cnn", tmp_path, card, "shipped")
    assert info.accuracy == (0.934, "class-balanced accuracy")
    assert info.accuracy_text == "class-balanced accuracy 0.93 ± 0.01 (worst class 0.81)"
    val_only = registry.ModelInfo("cnn", tmp_path, {"classes": ["a", "b"], "val_accuracy": 0.8,
                                                    "val_balanced_accuracy": 0.7}, "promoted")
    assert val_only.accuracy_text == "val class-balanced accuracy 0.70"
