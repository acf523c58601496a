"""Fast top-k predictions from one or several models, for the Draw page and the CLI.

    predictor = Predictor.from_dirs({"mlp": "models/mlp", "cnn": "models/cnn"})
    pred = predictor.predict_strokes(strokes_from_canvas(json_data), k=3)
    pred.top_k["cnn"]   # [("apple", 0.91), ("banana", 0.05), ("ant", 0.01)]
    pred.image          # the 28x28 bitmap the models saw

Strokes go through `preprocess_strokes` = `normalize_strokes` → `rasterize_strokes`,
exactly the path the training data took, so a canvas drawing and the same drawing
from a data file give the same bitmap.

Speed: the models run as numpy networks (`sketchlab.inference`), read from their .keras
files without importing TensorFlow: a model loads in milliseconds and answers in well
under a millisecond (Keras' `model.predict` costs ~75 ms per call, and TensorFlow's import
seconds). Thread safety: Streamlit sessions share one Predictor (st.cache_resource); the
networks are stateless, and preprocessing keeps no shared state (the rasterizer's cairo
surfaces are per thread).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data.drawing import normalize_strokes
from .errors import SketchLabError
from .inference import Network, load_network
from .data.raster import ORIGINAL_SIDE, LINE_DIAMETER, PADDING, bitmap_to_input, rasterize_drawing

SIDE = 28


class EmptyDrawingError(SketchLabError, ValueError):
    """A drawing with no strokes: nothing to recognize."""


@dataclass
class Prediction:
    """Top-k (label, probability) per model, best first, and the 28x28 image they saw.

    An empty drawing gives `empty=True`, an all-black image and `top_k == {}`.
    `errors` names models whose output was unusable (e.g. NaN from a diverged model).
    """

    image: np.ndarray
    top_k: dict[str, list[tuple[str, float]]]
    empty: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    def agree(self) -> bool | None:
        """Whether every model's first guess is the same label (None if fewer than 2 answered)."""
        firsts = [v[0][0] for v in self.top_k.values() if v]
        return None if len(firsts) < 2 else len(set(firsts)) == 1


def preprocess_strokes(strokes) -> tuple[np.ndarray, np.ndarray]:
    """Strokes in any coordinates → (x (784,) float32 in [0, 1], image (28, 28) uint8).

    The same normalization and rasterizer as the training data. Raises EmptyDrawingError
    when there are no points.
    """
    normalized = normalize_strokes([np.asarray(s, dtype=np.float64) for s in strokes or [] if len(s)])
    if not normalized:
        raise EmptyDrawingError("empty drawing: draw something first")
    image = rasterize_drawing(normalized, SIDE)
    return bitmap_to_input(image), image


def preprocess_bitmap(image) -> tuple[np.ndarray, np.ndarray]:
    """A 28x28 (or 784) bitmap, uint8 0..255 or float 0..1, white strokes on black → (x, image)."""
    arr = np.asarray(image)
    if arr.size != SIDE * SIDE:
        raise ValueError(f"a bitmap must have {SIDE}x{SIDE} = {SIDE * SIDE} pixels, got shape {arr.shape}")
    arr = arr.reshape(SIDE, SIDE)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError("bitmap holds non-finite values")
        arr = np.clip(arr * 255.0 if arr.max() <= 1.0 else arr, 0, 255).round()
    image8 = arr.astype(np.uint8)
    return bitmap_to_input(image8), image8


def bitmap_from_image(img) -> np.ndarray:
    """A picture of a drawing (PIL image, any size, either polarity) → official-style 28x28 uint8.

    Dark strokes on a light background are inverted. A 28x28 picture is used as is;
    a larger one is cropped to its ink, centred on a square and given the official
    bitmaps' margin (padding + half a line in 304 units), then shrunk to 28x28.
    """
    from PIL import Image

    gray = np.asarray(img.convert("L"), dtype=np.float32)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:  # light background: black-on-white drawing
        gray = 255.0 - gray
    if gray.shape == (SIDE, SIDE):
        return gray.round().astype(np.uint8)
    ink = np.argwhere(gray > 32)
    if len(ink) == 0:
        return np.zeros((SIDE, SIDE), dtype=np.uint8)
    (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0) + 1
    crop = gray[top:bottom, left:right]
    side = max(crop.shape)
    # In the official geometry the drawing spans 256 + one line of the 304-unit tile.
    content = ORIGINAL_SIDE + LINE_DIAMETER
    total = side * (ORIGINAL_SIDE + 2 * PADDING + LINE_DIAMETER) / content
    canvas = np.zeros((int(round(total)), int(round(total))), dtype=np.float32)
    y0 = (canvas.shape[0] - crop.shape[0]) // 2
    x0 = (canvas.shape[1] - crop.shape[1]) // 2
    canvas[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    small = Image.fromarray(canvas.round().clip(0, 255).astype(np.uint8)).resize((SIDE, SIDE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8)


class _Model:
    """One model's forward pass (a numpy `Network`), its card and its class names."""

    def __init__(self, model, card: dict):
        self.network = model if isinstance(model, Network) else Network.from_keras_model(model)
        self.card = card
        self.classes = [str(c) for c in card["classes"]]
        if self.network.n_outputs != len(self.classes):
            raise ValueError(f"model has {self.network.n_outputs} outputs but its card lists "
                             f"{len(self.classes)} classes")

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return self.network(x).astype(np.float64)


def top_k(probs: np.ndarray, classes: list[str], k: int) -> list[tuple[str, float]]:
    """The k most probable (label, probability), best first."""
    k = max(1, min(int(k), len(classes)))
    order = np.argsort(-probs, kind="stable")[:k]
    return [(classes[i], float(probs[i])) for i in order]


class Predictor:
    """Top-k from several models at once; cheap to call, safe to share between threads."""

    def __init__(self, models: dict):
        """`models`: name → (Network or keras.Model, card dict); class names come from each card."""
        if not models:
            raise ValueError("a Predictor needs at least one model")
        self._models = {name: _Model(model, card) for name, (model, card) in models.items()}

    @classmethod
    def from_dirs(cls, dirs: dict) -> "Predictor":
        """name → model directory (model.keras + card.json), read without TensorFlow. Raises ModelLoadError."""
        return cls({name: load_network(Path(d)) for name, d in dirs.items()})

    @property
    def names(self) -> list[str]:
        return list(self._models)

    def card(self, name: str) -> dict:
        return self._models[name].card

    def classes(self, name: str) -> list[str]:
        return list(self._models[name].classes)

    def probabilities(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Full probability vectors per model for one input x (784,) or a batch (n, 784)."""
        return {name: m.probabilities(x) for name, m in self._models.items()}

    def _predict(self, x: np.ndarray, image: np.ndarray, k: int) -> Prediction:
        result = Prediction(image=image, top_k={})
        for name, m in self._models.items():
            probs = m.probabilities(x)[0]
            if not np.isfinite(probs).all():
                result.errors[name] = "the model's output is not finite (a diverged model?)"
                result.top_k[name] = []
                continue
            result.top_k[name] = top_k(probs / probs.sum(), m.classes, k)
        return result

    def predict_strokes(self, strokes, k: int = 3) -> Prediction:
        """Strokes (canvas pixels or any coordinates) → top-k per model. Empty → empty Prediction."""
        try:
            x, image = preprocess_strokes(strokes)
        except EmptyDrawingError:
            return Prediction(image=np.zeros((SIDE, SIDE), dtype=np.uint8), top_k={}, empty=True)
        return self._predict(x, image, k)

    def predict_bitmap(self, image, k: int = 3) -> Prediction:
        """A 28x28 bitmap (white on black) → top-k per model. An all-black bitmap → empty Prediction."""
        x, image8 = preprocess_bitmap(image)
        if not image8.any():
            return Prediction(image=image8, top_k={}, empty=True)
        return self._predict(x, image8, k)

