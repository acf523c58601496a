"""The numpy forward pass (sketchlab.inference) against Keras itself, and its refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sketchlab.inference import Network, load_network
from sketchlab.models import MODEL_KINDS, build_model
from sketchlab.cards import ModelLoadError

REPO = Path(__file__).resolve().parent.parent


def _randomized(model, seed: int = 0):
    """Random weights everywhere, batch-norm statistics included (fresh ones are 0 and 1)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) if w.ndim > 1 or "moving" not in v.path
                       else (rng.uniform(0.5, 2.0, w.shape) if "variance" in v.path else rng.normal(0, 0.2, w.shape))
                       .astype(np.float32) for w, v in zip(model.get_weights(), model.weights)])
    return model


def _inputs(n: int = 16, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, 784)) * (rng.random((n, 784)) > 0.7)).astype(np.float32)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_each_model_kind_matches_keras_from_file_and_from_the_live_model(kind, tmp_path):
    model = _randomized(build_model(kind, 7), seed=len(kind))
    path = tmp_path / "model.keras"
    model.save(path)
    x = _inputs()
    expected = np.asarray(model(x, training=False))
    for network in (Network.from_keras_file(path), Network.from_keras_model(model)):
        got = network(x)
        assert got.shape == (16, 7) and network.n_outputs == 7
        np.testing.assert_allclose(got, expected, atol=1e-4)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert Network.from_keras_file(path)(x[0]).shape == (1, 7)  # one drawing as (784,)


def test_weights_are_found_when_layer_names_differ_from_the_saved_ones(tmp_path):
    build_model("cnn", 3)  # the second model's layers are named conv2d_3, dense_2, ...
    model = _randomized(build_model("cnn", 3), seed=5)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(Network.from_keras_file(tmp_path / "m.keras")(_inputs(4)),
                               np.asarray(model(_inputs(4), training=False)), atol=1e-4)


def test_shipped_models_load_without_tensorflow():
    if not (REPO / "models" / "mlp" / "model.keras").is_file():
        pytest.skip("no shipped models in this checkout")
    code = ("import sys; from sketchlab.predict import Predictor; "
            "p = Predictor.from_dirs({'mlp': 'models/mlp', 'cnn': 'models/cnn'}); "
            "import numpy as np; pred = p.predict_strokes([np.array([[0, 0], [100, 100.0]])]); "
            "assert set(pred.top_k) == {'mlp', 'cnn'}, pred; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _write_card(folder: Path, classes) -> None:
    (folder / "card.json").write_text(json.dumps({"classes": list(classes)}))


def test_load_network_checks_the_card_and_the_file(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    build_model("mlp", 4).save(folder / "model.keras")
    _write_card(folder, "abcd")
    network, card = load_network(folder)
    assert network.n_outputs == 4 and card["classes"] == list("abcd")

    _write_card(folder, "abc")
    with pytest.raises(ModelLoadError, match="4 outputs but its card lists 3"):
        load_network(folder)

    _write_card(folder, "abcd")
    (folder / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="not a readable Keras"):
        load_network(folder)

    (folder / "model.keras").unlink()
    with pytest.raises(ModelLoadError, match="no model file"):
        load_network(folder)


def test_unknown_layers_and_other_model_types_are_refused_with_their_name(tmp_path):
    import keras
    from keras import layers

    odd = keras.Sequential([keras.Input((784,)), layers.Dense(8), layers.LayerNormalization(), layers.Dense(3)])
    odd.save(tmp_path / "odd.keras")
    with pytest.raises(ModelLoadError, match="LayerNormalization layers are not supported"):
        Network.from_keras_file(tmp_path / "odd.keras")

    inputs = keras.Input((784,))
    functional = keras.Model(inputs, layers.Dense(3, activation="softmax")(inputs))
    functional.save(tmp_path / "functional.keras")
    with pytest.raises(ModelLoadError, match="Functional model"):
        Network.from_keras_file(tmp_path / "functional.keras")


def test_weights_of_the_wrong_shape_are_a_load_error_not_a_crash(tmp_path):
    build_model("mlp", 3).save(tmp_path / "a.keras")
    build_model("mlp", 5).save(tmp_path / "b.keras")
    # a's architecture with b's weights: the last layer's kernel does not fit
    with zipfile.ZipFile(tmp_path / "a.keras") as a, zipfile.ZipFile(tmp_path / "b.keras") as b, \
            zipfile.ZipFile(tmp_path / "mixed.keras", "w") as mixed:
        mixed.writestr("config.json", a.read("config.json"))
        mixed.writestr("model.weights.h5", b.read("model.weights.h5"))
    with pytest.raises(ModelLoadError):
        Network.from_keras_file(tmp_path / "mixed.keras")
