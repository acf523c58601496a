"""The three model builders (the seeds' exact parameter counts and shapes), the one compile
function and the one optimizer lookup."""

from __future__ import annotations

import numpy as np
import pytest

from sketchlab.models import MODEL_KINDS, architecture_text, build_model
from sketchlab.training import OPTIMIZERS, compile_model, make_optimizer, optimizer_name


def test_parameter_counts_equal_the_seeds():
    # Seed 000's MLP and seed 004's CNN, 10 classes.
    assert build_model("mlp", 10).count_params() == 26_506
    assert build_model("cnn", 10).count_params() == 93_322


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_kind_takes_flat_pixels_and_gives_probabilities(kind):
    model = build_model(kind, 4)
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (3, 4)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    assert model.input_shape == (None, 784)


def test_cnns_reshape_inside_with_no_parameters():
    for kind in ("cnn", "strong"):
        reshape = build_model(kind, 10).layers[0]
        assert type(reshape).__name__ == "Reshape" and reshape.count_params() == 0


def test_strong_model_is_small_enough_for_fast_cpu_inference():
    assert build_model("strong", 10).count_params() < 500_000


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_builders_build_and_do_not_compile(kind):
    assert not build_model(kind, 3).compiled


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_compiles_with_its_learning_rate(name):
    model = compile_model(build_model("mlp", 3), optimizer=name.upper(), learning_rate=0.05)
    assert model.compiled
    assert type(model.optimizer).__name__ == name
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.05)
    assert model.loss == "sparse_categorical_crossentropy"


def test_unknown_kind_optimizer_or_class_count_are_rejected():
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model("resnet", 10)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("Lion", 0.1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimizer_name(None)
    with pytest.raises(ValueError, match="n_classes"):
        build_model("mlp", 1)


def test_architecture_text_lists_layers_and_total():
    text = architecture_text(build_model("cnn", 10))
    assert "Conv2D" in text and "Dense" in text
    assert "total parameters: 93,322" in text


def test_optimizer_names_forgive_case_and_spaces():
    assert optimizer_name(" rmsprop ") == "RMSprop"
    assert [optimizer_name(o.lower()) for o in OPTIMIZERS] == list(OPTIMIZERS)


def test_a_training_run_compiles_its_model_exactly_once(monkeypatch):
    # The builders used to compile and train_run compiled again: one compile is the contract.
    import keras

    from sketchlab.training import RunConfig, TrainSplit, train_run

    calls = []
    original = keras.Model.compile

    def counting_compile(self, *args, **kwargs):
        calls.append(kwargs.get("optimizer"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "compile", counting_compile)
    rng = np.random.default_rng(0)
    X, y = rng.random((24, 784), dtype=np.float32), np.arange(24) % 3
    split = TrainSplit(X[:18], y[:18], X[18:], y[18:], ["apple", "anvil", "ant"], "random pixels")
    config = RunConfig(model="mlp", optimizer="RMSprop", learning_rate=0.02, batch_size=6, epochs=1,
                       classes=("apple", "anvil", "ant"), augment=False)
    train_run(config, split)
    assert len(calls) == 1
    assert type(calls[0]).__name__ == "RMSprop"
    assert float(np.asarray(calls[0].learning_rate)) == pytest.approx(0.02)
