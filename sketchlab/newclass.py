"""Teach a model a new class from a few drawings: the add-a-class recipe.

Training a CNN from scratch on 10 drawings of a cat learns little. Instead the shipped CNN
stays as it is up to its penultimate layer (64 features that already tell strokes, loops
and shapes apart), and only a new softmax head is fitted on those features:

1. every class's drawings are read from every source (the Quick Draw data folder and the
   kept drawings of `sketchlab.userdata`, which are data folders too), up to `per_class`;
2. a class with fewer than `augment_to` drawings gets freshly distorted copies
   (`augment.augment_strokes`, or `augment_bitmaps` for bitmap-only rows) until it has that
   many rows, so ten drawings count like a few hundred slightly different ones;
3. everything is rasterized like the training data and sent through the frozen network
   (`inference.Network.features`, numpy: seconds for thousands of drawings);
4. a multinomial logistic regression (scikit-learn, class-balanced) on the standardized
   features is the new head; folded back into one Dense layer it makes the model an
   ordinary Keras Sequential (the shipped CNN with a new last layer), saved with its card
   by `cards.save_model`, so `inference.load_network`, the registry and promotion take it
   like any other model.

`benchmarks/new_class.py` measures it against training the same CNN from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .errors import SketchLabError

MIN_DRAWINGS = 5  # below this a class is refused: too few to say anything
GOOD_DRAWINGS = 10  # the advice shown: 10-20 of one person's drawings make a usable class
PER_CLASS = 300  # drawings read per class (old classes need no more for a 64-feature head)
AUGMENT_TO = 300  # a class with fewer rows gets distorted copies up to this many
BASE_KIND = "strong"  # the shipped model whose features are reused (benchmarks/new_class.py: better than the CNN's)
HEAD_C = 0.1  # inverse L2 strength of the logistic regression (0.1 measured better than 1 for 10 drawings)


class TeachError(SketchLabError, ValueError):
    """A request the recipe cannot train (too few classes or drawings); the message says why."""


@dataclass
class ClassDrawings:
    """One class's drawings from every source: strokes (normalized), and bitmap-only rows."""

    name: str
    strokes: list = field(default_factory=list)
    bitmaps: np.ndarray = field(default_factory=lambda: np.zeros((0, 784), np.uint8))
    n_kept: int = 0  # how many of the stroke drawings are kept drawings (userdata)

    @property
    def n(self) -> int:
        return len(self.strokes) + len(self.bitmaps)


def read_class(name: str, data_dirs, kept_dirs=(), per_class: int = PER_CLASS) -> ClassDrawings:
    """A class's drawings: kept drawings first (they are the point), then the data folders'
    strokes, then bitmap rows that are not the same drawing as a stroke one."""
    from .data.dataset import class_bitmap_rows, load_class_drawings, scan_data_dir

    out = ClassDrawings(name)
    for kept, folders in ((True, kept_dirs), (False, data_dirs)):
        for folder in folders:
            files = scan_data_dir(folder).get(name)
            room = per_class - out.n
            if files is None or room <= 0:
                continue
            if files.has_strokes:
                drawings = load_class_drawings(files, room)
                out.strokes.extend(d.strokes for d in drawings)
                out.n_kept += len(drawings) if kept else 0
            room = per_class - out.n
            if room > 0:
                out.bitmaps = np.concatenate([out.bitmaps, class_bitmap_rows(files, room)])
    return out


def check_request(classes: list[ClassDrawings], min_drawings: int = MIN_DRAWINGS) -> None:
    """TeachError in words for fewer than 2 classes or a class with too few drawings."""
    if len(classes) < 2:
        raise TeachError("pick at least 2 classes: a model tells classes apart")
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise TeachError("a class is picked twice")
    thin = [f"{c.name} ({c.n})" for c in classes if c.n < min_drawings]
    if thin:
        raise TeachError(f"too few drawings to learn from: {', '.join(thin)}. A class needs at least "
                         f"{min_drawings} drawings; {GOOD_DRAWINGS}-20 are better. Draw more on the Draw page "
                         "and keep them with “This is a …”.")


def training_images(classes: list[ClassDrawings], seed: int = 0, augment_to: int = AUGMENT_TO):
    """(images uint8 (N, 784), labels int64): every real drawing, plus distorted copies for
    each class with fewer than `augment_to` of them."""
    from .data.augment import augment_bitmaps, augment_strokes
    from .data.raster import rasterize_strokes

    rng = np.random.default_rng([seed, 0x7EAC])
    images, labels = [], []
    for i, c in enumerate(classes):
        parts = [rasterize_strokes(c.strokes).reshape(-1, 784)] if c.strokes else []
        parts.append(c.bitmaps.reshape(-1, 784))
        extra = max(0, augment_to - c.n)
        if extra and c.strokes:
            picks = rng.integers(len(c.strokes), size=extra)
            parts.append(rasterize_strokes([augment_strokes(c.strokes[j], rng) for j in picks]).reshape(-1, 784))
        elif extra and len(c.bitmaps):
            parts.append(augment_bitmaps(c.bitmaps[rng.integers(len(c.bitmaps), size=extra)], rng))
        rows = np.concatenate(parts).astype(np.uint8)
        images.append(rows)
        labels.append(np.full(len(rows), i, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def base_model_dir(models_dir, kind: str = BASE_KIND) -> Path:
    return Path(models_dir) / kind


def features(network, images: np.ndarray, batch: int = 1024) -> np.ndarray:
    """The frozen network's penultimate activations of uint8 bitmaps (numpy, no TensorFlow)."""
    from .data.raster import bitmap_to_input

    X = bitmap_to_input(images)
    return np.concatenate([network.features(X[i:i + batch]) for i in range(0, len(X), batch)] or
                          [np.zeros((0, 0), np.float32)])


def fit_head(F: np.ndarray, y: np.ndarray, n_classes: int, seed: int = 0, C: float = HEAD_C):
    """A softmax head on features: (W (d, n_classes), b (n_classes,)) of one Dense layer.

    Logistic regression on standardized features, every class weighing the same; the
    standardization is folded into W and b, so the head takes the raw features."""
    from sklearn.linear_model import LogisticRegression

    mean, std = F.mean(axis=0), F.std(axis=0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=1000, class_weight="balanced", random_state=seed)
    clf.fit((F - mean) / std, y)
    coef = np.zeros((n_classes, F.shape[1]))
    intercept = np.full(n_classes, -1e3)
    coef[clf.classes_] = clf.coef_ if len(clf.classes_) > 2 else np.vstack([-clf.coef_, clf.coef_]) / 2
    intercept[clf.classes_] = clf.intercept_ if len(clf.classes_) > 2 else np.array([-1, 1]) * clf.intercept_ / 2
    W = (coef / std).T
    b = intercept - mean @ W
    return W.astype(np.float32), b.astype(np.float32)


def head_probabilities(F: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = F @ W + b
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def keras_model(base_dir, W: np.ndarray, b: np.ndarray):
    """The base Keras model with its last Dense layer replaced by the head (W, b)."""
    import keras

    from .cards import load_model

    base, _ = load_model(base_dir)
    config = base.get_config()
    last = config["layers"][-1]
    if last["class_name"] != "Dense":
        raise TeachError(f"the base model {base_dir} does not end in a Dense layer")
    last["config"]["units"] = int(W.shape[1])
    model = keras.Sequential.from_config(config)
    for old, new in zip(base.layers[:-1], model.layers[:-1]):
        new.set_weights(old.get_weights())
    model.layers[-1].set_weights([W, b])
    return model


def teach(class_names, data_dirs, kept_dirs, models_dir, out_dir, name: str = "", seed: int = 0,
          progress=None, owner: dict | None = None) -> dict:
    """Read, augment, extract features, fit the head, save `out_dir/{model.keras, card.json}`.

    `progress(fraction, message)` is called after each step. Returns the card.
    """
    from .cards import save_model, versions
    from .inference import load_network

    report = progress or (lambda fraction, message: None)
    started = datetime.now(timezone.utc)
    classes = []
    for i, cname in enumerate(class_names):
        classes.append(read_class(cname, data_dirs, kept_dirs))
        report(0.3 * (i + 1) / len(class_names), f"read {cname}: {classes[-1].n} drawings")
    check_request(classes)
    images, labels = training_images(classes, seed)
    report(0.5, f"{len(labels)} training images (with distorted copies of the thin classes)")
    base_dir = base_model_dir(models_dir)
    network, base_card = load_network(base_dir)
    F = features(network, images)
    report(0.7, "features of the shipped model computed")
    W, b = fit_head(F, labels, len(classes), seed)
    train_accuracy = float((head_probabilities(F, W, b).argmax(axis=1) == labels).mean())
    report(0.85, "new head fitted; saving the model")
    names = [c.name for c in classes]
    card = {
        "name": name or f"taught: {', '.join(names[:4])}{'…' if len(names) > 4 else ''}",
        "kind": str(base_card.get("kind") or BASE_KIND),
        "classes": names,
        "status": "done",
        "created": started.isoformat(timespec="seconds"),
        "recipe": {"base": str(base_card.get("name") or base_dir), "head": "logistic regression on the frozen "
                   "penultimate features", "augment_to": AUGMENT_TO, "per_class": PER_CLASS, "seed": seed},
        "data": {"per_class_counts": {c.name: c.n for c in classes},
                 "kept_drawings": {c.name: c.n_kept for c in classes if c.n_kept}, "n_train": int(len(labels))},
        "train_accuracy": train_accuracy,  # on the (augmented) training rows: not a held-out figure
        "owner": owner or {},
        "seconds": (datetime.now(timezone.utc) - started).total_seconds(),
        "versions": versions(),
    }
    save_model(keras_model(base_dir, W, b), card, out_dir)
    report(1.0, "done")
    return card
