"""The classifiers: seed 000's MLP, seed 004's CNN and a stronger CNN of our own.

Every model takes a batch of flattened bitmaps, shape (batch, 784), float32 in [0, 1]
(white strokes on black, as `dataset.build_dataset` and `predict.preprocess_strokes`
produce them), and outputs softmax probabilities over the classes. The CNNs reshape
to 28x28x1 inside the model (0 parameters), so data, training and inference handle
every kind alike.

The builders only build: a model gets its optimizer, loss and metrics in one place,
`training.compile_model`, called once per run by `training.train_run`. Keras is imported
inside the functions, so the constants here are cheap to import (the CLI's argument
parser needs them without loading TensorFlow).
"""

from __future__ import annotations

MODEL_KINDS = ("mlp", "cnn", "strong")
INPUT_DIM = 784
SIDE = 28


def _flat_input():
    import keras

    return keras.Input(shape=(INPUT_DIM,), dtype="float32", name="pixels")


def build_mlp(n_classes: int):
    """Seed 000: 784 → Dense 32 relu → Dense 32 relu → Dense n softmax (26,506 params at n=10)."""
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            _flat_input(),
            layers.Dense(32, activation="relu"),
            layers.Dense(32, activation="relu"),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="mlp",
    )
    return model


def build_cnn(n_classes: int):
    """Seed 004's CNN on 28x28x1 (93,322 params at n=10).

    The ReLU after each max-pool is the seed's (a no-op on ReLU output, kept to match it).
    """
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            _flat_input(),
            layers.Reshape((SIDE, SIDE, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Activation("relu"),
            layers.Dropout(0.2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Activation("relu"),
            layers.Dropout(0.2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="cnn",
    )
    return model


def _conv_bn(filters: int):
    """Conv 3x3 (no bias: batch norm supplies it) → BatchNorm → ReLU.

    Momentum 0.9, not Keras' 0.99: a run on a few hundred drawings has only a few hundred
    steps, too few for 0.99's moving statistics to catch up with the changing weights: on
    the k-fold folds of `sketchlab.evaluate` the model then scored at chance at test time.
    """
    from keras import layers

    return [
        layers.Conv2D(filters, 3, padding="same", use_bias=False),
        layers.BatchNormalization(momentum=0.9),
        layers.Activation("relu"),
    ]


def build_strong(n_classes: int):
    """A wider CNN with batch norm and global average pooling.

    Three stages of two 3x3 convs (32, 64, 96 filters) at 28, 14 and 7 pixels; global
    pooling instead of a big dense layer keeps it small (~200k params) and less prone
    to overfit the few hundred real drawings, and fast enough for ~1 ms on a CPU.
    """
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            _flat_input(),
            layers.Reshape((SIDE, SIDE, 1)),
            *_conv_bn(32),
            *_conv_bn(32),
            layers.MaxPooling2D(2),
            *_conv_bn(64),
            *_conv_bn(64),
            layers.MaxPooling2D(2),
            *_conv_bn(96),
            *_conv_bn(96),
            layers.GlobalAveragePooling2D(),
            layers.Dropout(0.3),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="strong",
    )
    return model


_BUILDERS = {"mlp": build_mlp, "cnn": build_cnn, "strong": build_strong}


def build_model(kind: str, n_classes: int):
    """A new, uncompiled model of one of MODEL_KINDS (`compile_model` readies it for training)."""
    if kind not in _BUILDERS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    return _BUILDERS[kind](int(n_classes))


def architecture_text(model) -> str:
    """One line per layer (name, type, output shape, parameters) and the total: for the model card."""
    lines = [f"{model.name}: input (None, {INPUT_DIM})"]
    for layer in model.layers:
        shape = tuple(layer.output.shape) if hasattr(layer, "output") else "?"
        lines.append(f"{layer.name:<24} {type(layer).__name__:<20} {str(shape):<20} {layer.count_params():>8,}")
    lines.append(f"total parameters: {model.count_params():,}")
    return "\n".join(lines)
