"""Model cards and model folders: what a trained model says about itself, saved beside it.

A model folder holds `model.keras` (Keras 3, no optimizer state) and `card.json`: the
architecture, classes, data, hyperparameters, per-epoch history, per-class figures and
library versions. A save writes into a temporary folder and renames it into place, so a
crash never leaves half a model under the final name. `load_card` is the one check of a
card; `load_model` gives the Keras model (training, the CLI's evaluate), and
`inference.load_network` the numpy one the app answers with.
"""

from __future__ import annotations

import json
import math
import threading
import zipfile
from pathlib import Path

import numpy as np

from .errors import SketchLabError

MODEL_FILE = "model.keras"
CARD_FILE = "card.json"



def versions() -> dict:
    import keras
    import tensorflow as tf

    from . import __version__

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__, "sketchlab": __version__}


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> list[list[int]]:
    """Rows = true class, columns = predicted class."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return m.tolist()


def per_class_recall(matrix) -> list[float | None]:
    """Each class's recall from a confusion matrix (rows = true class); None for a class with no rows."""
    m = np.asarray(matrix, dtype=np.float64)
    totals = m.sum(axis=1)
    return [float(m[i, i] / t) if t else None for i, t in enumerate(totals)]


def balanced_accuracy(matrix) -> float | None:
    """Class-balanced accuracy: the mean recall over the classes that have rows."""
    recalls = [r for r in per_class_recall(matrix) if r is not None]
    return float(np.mean(recalls)) if recalls else None


# ---------------------------------------------------------------- save / load


class ModelLoadError(SketchLabError, RuntimeError):
    """A model file or card that cannot be loaded; the message names the path and why."""


def save_model(model, card: dict, directory) -> Path:
    """Write `directory/model.keras` + `directory/card.json` atomically; returns the directory.

    Both files are written into a temporary sibling folder which then replaces `directory`
    by rename, so readers see the old pair or the new pair, never a mix or half a file.
    """
    from .fileio import atomic_dir

    with atomic_dir(directory) as tmp:
        _without_optimizer(model).save(tmp / MODEL_FILE)
        text = json.dumps(card, indent=1, allow_nan=False, default=_json_default)
        (tmp / CARD_FILE).write_text(text + "\n", encoding="utf-8")
    return Path(directory)


def _without_optimizer(model):
    """An uncompiled copy with the same weights: Keras 3 `.keras` files otherwise carry the
    optimizer's state (2x the weights for Adam), which inference never needs."""
    if getattr(model, "optimizer", None) is None:
        return model
    copy = type(model).from_config(model.get_config())  # from_config does not compile
    copy.set_weights(model.get_weights())
    return copy


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def load_card(path) -> dict:
    """The card of a model directory (or of the folder holding a `.keras` file)."""
    path = Path(path)
    card_path = path / CARD_FILE if path.is_dir() else path.parent / CARD_FILE
    if not card_path.is_file():
        raise ModelLoadError(f"{card_path}: model card missing (every model needs its card.json)")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{card_path}: not a readable model card ({exc})") from exc
    if not isinstance(card, dict) or not isinstance(card.get("classes"), list) or len(card["classes"]) < 2:
        raise ModelLoadError(f"{card_path}: model card has no list of classes")
    classes = card["classes"]
    if not all(isinstance(c, str) and c.strip() for c in classes) or len(set(classes)) != len(classes):
        raise ModelLoadError(f"{card_path}: the card's classes must be distinct names (text), got {classes[:5]!r}")
    return card


_load_lock = threading.Lock()


def load_model(path) -> tuple[object, dict]:
    """(keras.Model, card) from a model directory or a `.keras` file beside its card.json.

    Loads with `safe_mode=True` (no arbitrary code from the file). A missing, corrupt or
    foreign file, or a card that does not fit the model, raises ModelLoadError naming the path.
    """
    import keras

    path = Path(path)
    model_path = path / MODEL_FILE if path.is_dir() else path
    if not model_path.is_file():
        raise ModelLoadError(f"{model_path}: no model file there")
    card = load_card(path)
    if not zipfile.is_zipfile(model_path):
        raise ModelLoadError(f"{model_path}: not a Keras .keras file (not a zip archive)")
    try:
        with _load_lock:  # Keras' deserialization keeps global state
            model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:  # keras raises many types for bad archives; all mean "cannot load"
        raise ModelLoadError(f"{model_path}: cannot load the Keras model ({type(exc).__name__}: {exc})") from exc
    out_shape = model.output_shape
    if tuple(model.input_shape[1:]) != (784,):
        raise ModelLoadError(f"{model_path}: model takes input {model.input_shape}, expected (None, 784)")
    if out_shape[-1] != len(card["classes"]):
        raise ModelLoadError(
            f"{model_path}: model has {out_shape[-1]} outputs but its card lists {len(card['classes'])} classes"
        )
    return model, card
