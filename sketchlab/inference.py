"""A trained model's forward pass in numpy, read straight from its `.keras` file.

The Draw page needs one forward pass of two small networks per stroke. Doing it with
TensorFlow means importing TensorFlow first (4 s on a quiet 2-core machine, 18 s on a busy
one, ~500 MB of memory) before the first visitor's first stroke can be answered. The
networks SketchLab trains are short chains of a few standard layers, so their inference is
a handful of numpy operations: no TensorFlow import, a model loads in milliseconds, and one
forward pass of the seed CNN takes well under a millisecond.

A `.keras` file is a zip of `config.json` (the architecture) and `model.weights.h5` (the
weights, `layers/<layer class, numbered>/vars/<i>` in the layer's own weight order). Only plain data
is read from it, never code. A model with a layer this module does not know is refused
with a ModelLoadError naming the layer, so an unsupported model fails when it is loaded,
not on the first stroke. `tests/test_inference.py` checks every model kind against Keras.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cards import MODEL_FILE, ModelLoadError, load_card

INPUT_DIM = 784
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"

# ---------------------------------------------------------------- activations


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "softmax": _softmax,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
}


def _activation(config: dict, layer: str):
    name = config.get("activation", "linear")
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ModelLoadError(f"layer {layer}: activation {name!r} is not supported")
    return ACTIVATIONS[name]


# ---------------------------------------------------------------- layers
# Each builder takes (config, weights, name) and returns a function of a float32 batch.


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, (int, float)) else (int(value[0]), int(value[1]))


def _check_channels_last(config: dict, name: str) -> None:
    if config.get("data_format", "channels_last") != "channels_last":
        raise ModelLoadError(f"layer {name}: only channels_last data is supported")


def _check_shape(name: str, got: tuple, expected: tuple) -> None:
    if tuple(got) != tuple(expected):
        raise ModelLoadError(f"layer {name}: weights of shape {tuple(got)} do not fit its config {tuple(expected)}")


def _same_padding(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int], value: float) -> np.ndarray:
    """Pad (n, h, w, c) the way TensorFlow's "same" does: the odd pixel goes after."""
    pads = [(0, 0)]
    for size, k, s in zip(x.shape[1:3], kernel, strides):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    pads.append((0, 0))
    return np.pad(x, pads, constant_values=value)


def _windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """Every kernel-sized window of (n, h, w, c): a view shaped (n, oh, ow, c, kh, kw)."""
    view = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(1, 2))
    return view[:, :: strides[0], :: strides[1]]


def _conv2d(config, weights, name):
    _check_channels_last(config, name)
    if _pair(config.get("dilation_rate", 1)) != (1, 1) or int(config.get("groups", 1)) != 1:
        raise ModelLoadError(f"layer {name}: dilated or grouped convolutions are not supported")
    kernel = weights[0].astype(np.float32)  # (kh, kw, c, f)
    bias = weights[1].astype(np.float32) if config.get("use_bias", True) else None
    _check_shape(name, kernel.shape, (*_pair(config["kernel_size"]), kernel.shape[2], int(config["filters"])))
    size, strides = kernel.shape[:2], _pair(config.get("strides", 1))
    padding = config.get("padding", "valid")
    if padding not in ("valid", "same"):
        raise ModelLoadError(f"layer {name}: padding {padding!r} is not supported")
    flat_kernel = kernel.transpose(2, 0, 1, 3).reshape(-1, kernel.shape[3])  # rows in (c, kh, kw) order
    act = _activation(config, name)

    def forward(x):
        if padding == "same":
            x = _same_padding(x, size, strides, 0.0)
        win = _windows(x, size, strides)
        out = win.reshape(*win.shape[:3], -1) @ flat_kernel
        return act(out + bias if bias is not None else out)

    return forward


def _max_pooling2d(config, weights, name):
    _check_channels_last(config, name)
    pool = _pair(config.get("pool_size", 2))
    strides = _pair(config.get("strides") or pool)
    padding = config.get("padding", "valid")
    if padding not in ("valid", "same"):
        raise ModelLoadError(f"layer {name}: padding {padding!r} is not supported")

    def forward(x):
        if padding == "same":
            x = _same_padding(x, pool, strides, -np.inf)
        return _windows(x, pool, strides).max(axis=(4, 5))

    return forward


def _dense(config, weights, name):
    kernel = weights[0].astype(np.float32)
    bias = weights[1].astype(np.float32) if config.get("use_bias", True) else None
    _check_shape(name, kernel.shape, (kernel.shape[0], int(config["units"])))
    act = _activation(config, name)
    return lambda x: act(x @ kernel + bias if bias is not None else x @ kernel)


def _batch_normalization(config, weights, name):
    axis = config.get("axis", -1)
    if axis not in (-1, [-1], 3, [3], 1, [1]):
        raise ModelLoadError(f"layer {name}: batch normalization over axis {axis} is not supported")
    w = list(weights)
    gamma = w.pop(0) if config.get("scale", True) else 1.0
    beta = w.pop(0) if config.get("center", True) else 0.0
    mean, var = w
    # Folded into one multiply and one add, as Keras' inference computes it.
    scale = (gamma / np.sqrt(var + float(config.get("epsilon", 1e-3)))).astype(np.float32)
    shift = (beta - mean * scale).astype(np.float32)
    return lambda x: x * scale + shift


def _reshape(config, weights, name):
    shape = tuple(int(v) for v in config["target_shape"])
    return lambda x: x.reshape((x.shape[0], *shape))


def _activation_layer(config, weights, name):
    return _activation(config, name)


def _identity(config, weights, name):  # dropout and noise layers do nothing at inference
    return lambda x: x


LAYERS = {
    "Conv2D": _conv2d,
    "MaxPooling2D": _max_pooling2d,
    "Dense": _dense,
    "BatchNormalization": _batch_normalization,
    "Reshape": _reshape,
    "Flatten": lambda config, weights, name: (lambda x: x.reshape(x.shape[0], -1)),
    "GlobalAveragePooling2D": lambda config, weights, name: (lambda x: x.mean(axis=(1, 2))),
    "Activation": _activation_layer,
    "ReLU": lambda config, weights, name: ACTIVATIONS["relu"],
    "Softmax": lambda config, weights, name: _softmax,
    "Dropout": _identity,
    "SpatialDropout2D": _identity,
    "GaussianNoise": _identity,
}


# ---------------------------------------------------------------- the network


@dataclass(frozen=True)
class LayerSpec:
    """One layer as plain data: its Keras class name, its config and its weights."""

    kind: str
    name: str
    config: dict
    weights: tuple


class Network:
    """A chain of layers computing softmax probabilities from (n, 784) float32 bitmaps.

    Pure numpy and stateless after construction, so one Network is safely shared by every
    session and thread.
    """

    def __init__(self, layers: list[LayerSpec], name: str = "model"):
        self.name = name
        self.layers = [spec for spec in layers if spec.kind != "InputLayer"]
        self._steps = []
        for spec in self.layers:
            if spec.kind not in LAYERS:
                raise ModelLoadError(f"layer {spec.name}: {spec.kind} layers are not supported by SketchLab's "
                                     f"inference ({', '.join(sorted(LAYERS))} are)")
            try:
                self._steps.append(LAYERS[spec.kind](spec.config, spec.weights, spec.name))
            except ModelLoadError:
                raise
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise ModelLoadError(f"layer {spec.name}: its config or weights do not fit a {spec.kind} "
                                     f"({type(exc).__name__}: {exc})") from None
        try:
            probe = self(np.zeros((1, INPUT_DIM), dtype=np.float32))
        except ValueError as exc:  # shapes that do not chain: a weight of the wrong size
            raise ModelLoadError(f"{name}: its layers do not fit together on a (1, {INPUT_DIM}) input ({exc})") from None
        if probe.ndim != 2:
            raise ModelLoadError(f"{name}: output shape {probe.shape[1:]} is not one score per class")
        self.n_outputs = int(probe.shape[1])

    def __call__(self, x) -> np.ndarray:
        """Probabilities (n, n_outputs) float32 for x of shape (784,) or (n, 784)."""
        out = np.asarray(x, dtype=np.float32).reshape(-1, INPUT_DIM)
        for step in self._steps:
            out = step(out)
        return np.ascontiguousarray(out, dtype=np.float32)

    def features(self, x) -> np.ndarray:
        """What the last layer sees (n, d): the penultimate activations, e.g. for a new head
        (`sketchlab.newclass`)."""
        out = np.asarray(x, dtype=np.float32).reshape(-1, INPUT_DIM)
        for step in self._steps[:-1]:
            out = step(out)
        return np.ascontiguousarray(out.reshape(len(out), -1), dtype=np.float32)

    @classmethod
    def from_keras_model(cls, model) -> "Network":
        """The same network from a live keras.Model (e.g. one just trained)."""
        layers = [LayerSpec(type(layer).__name__, layer.name, layer.get_config(),
                            tuple(np.asarray(w) for w in layer.get_weights())) for layer in model.layers]
        return cls(layers, name=model.name)

    @classmethod
    def from_keras_file(cls, path) -> "Network":
        """Read a Keras 3 `.keras` file (architecture and weights only; no code is run)."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read(CONFIG_FILE))
                weights_blob = archive.read(WEIGHTS_FILE)
        except FileNotFoundError:
            raise ModelLoadError(f"{path}: no model file there") from None
        except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"{path}: not a readable Keras .keras file ({type(exc).__name__}: {exc})") from None
        if not isinstance(config, dict) or config.get("class_name") != "Sequential":
            kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
            raise ModelLoadError(f"{path}: a {kind} model; SketchLab's inference reads Sequential models")
        try:
            layer_configs = config["config"]["layers"]
            name = str(config["config"].get("name") or path.parent.name)
            specs = []
            import h5py  # Keras' own weights format; h5py comes with Keras

            with h5py.File(io.BytesIO(weights_blob), "r") as h5:
                used: dict[str, int] = {}
                for layer in layer_configs:
                    kind, cfg = layer["class_name"], layer["config"]
                    if kind == "InputLayer":
                        continue
                    group = h5.get(f"layers/{_saved_name(kind, used)}/vars")
                    weights = () if group is None else tuple(np.asarray(group[str(i)]) for i in range(len(group)))
                    specs.append(LayerSpec(kind, str(cfg["name"]), cfg, weights))
        except ModelLoadError:
            raise
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise ModelLoadError(f"{path}: the architecture or weights cannot be read "
                                 f"({type(exc).__name__}: {exc})") from None
        return cls(specs, name=name)


def _saved_name(class_name: str, used: dict[str, int]) -> str:
    """The name Keras' saver gives a layer's weights: its class in snake case, numbered by
    occurrence (`conv2d`, `conv2d_1`, ...), never `layer.name` (which differs between runs)."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def load_network(path) -> tuple[Network, dict]:
    """(Network, card) from a model directory (model.keras + card.json) or a `.keras` file beside its card.

    The numpy twin of `cards.load_model`, with the same checks: a missing, corrupt or
    foreign file, or a card whose classes do not match the outputs, raises ModelLoadError.
    """
    path = Path(path)
    model_path = path / MODEL_FILE if path.is_dir() else path
    card = load_card(path)
    network = Network.from_keras_file(model_path)
    if network.n_outputs != len(card["classes"]):
        raise ModelLoadError(f"{model_path}: model has {network.n_outputs} outputs but its card lists "
                             f"{len(card['classes'])} classes")
    return network, card
