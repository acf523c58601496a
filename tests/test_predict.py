"""Canvas → strokes, the shared preprocessing, the Predictor, and the model CLI commands."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import SYNTHETIC_CLASSES, make_data_dir, synthetic_records, write_ndjson
from sketchlab.canvas import strokes_from_canvas
from sketchlab.cli import main
from sketchlab.dataset import ClassFiles, load_class_drawings
from sketchlab.drawing import strokes_from_lists
from sketchlab.models import build_model
from sketchlab.predict import (
    EmptyDrawingError,
    Predictor,
    bitmap_from_image,
    preprocess_bitmap,
    preprocess_strokes,
)
from sketchlab.raster import rasterize_drawing
from sketchlab.training import RunConfig, prepare_split, train_run
from sketchlab.cards import save_model

LABELS = ["circle", "square", "cross", "zigzag"]


def canvas_json(strokes, offset=(0.0, 0.0)) -> dict:
    """What streamlit-drawable-canvas sends for these strokes: one fabric path per stroke."""
    objects = []
    for s in strokes:
        xy = [(float(x) + offset[0], float(y) + offset[1]) for x, y in np.asarray(s)[:, :2]]
        path = [["M", *xy[0]]]
        path += [["Q", px, py, x, y] for (px, py), (x, y) in zip(xy[:-1], xy[1:])]
        path.append(["L", *xy[-1]])
        objects.append({"type": "path", "path": path, "stroke": "#000", "strokeWidth": 12})
    return {"version": "4.4.0", "objects": objects}


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """A briefly trained MLP and CNN on the synthetic shapes, saved, with custom class names."""
    root = tmp_path_factory.mktemp("predict")
    data = make_data_dir(root / "quickdraw")
    out = {}
    for kind in ("mlp", "cnn"):
        config = RunConfig(model=kind, optimizer="Adam", learning_rate=0.01, batch_size=16, epochs=3,
                           classes=SYNTHETIC_CLASSES, augment=False)
        result = train_run(config, prepare_split(data, config))
        card = {**result.card, "classes": LABELS}  # names must come from the card
        out[kind] = save_model(result.model, card, root / "models" / kind)
    return out


@pytest.fixture(scope="module")
def predictor(model_dirs):
    return Predictor.from_dirs(model_dirs)


def some_strokes(n=8, seed=1):
    """Raw drawings (canvas pixels) of one synthetic shape, as stroke arrays."""
    return [strokes_from_lists(d["drawing"]) for d in synthetic_records("x", seed % 4, n, seed=seed, raw=True)]


# ---------------------------------------------------------------- canvas


def test_canvas_json_to_strokes():
    data = {
        "objects": [
            {"type": "Path", "path": [["M", 10, 20], ["Q", 10, 20, 30, 40.5], ["L", 50, 60]]},
            {"type": "rect", "left": 1, "top": 2},  # not a stroke
            {"type": "path", "path": [["M", 1, 1], ["Q", 1, 1, "x", 3], ["Z"], ["L", 7, True], ["L", 8, 9]]},
            {"type": "path", "path": "M 1 1 L 2 2"},  # malformed
            {"type": "path", "path": [["M", float("nan"), 3]]},  # no usable point
            "garbage",
        ]
    }
    strokes = strokes_from_canvas(data)
    assert len(strokes) == 2
    assert strokes[0].tolist() == [[10, 20], [30, 40.5], [50, 60]]
    assert strokes[1].tolist() == [[1, 1], [8, 9]]
    for empty in (None, {}, {"objects": None}, {"objects": []}, [], "x"):
        assert strokes_from_canvas(empty) == []


def test_canvas_strokes_and_the_data_file_give_the_same_raster(tmp_path):
    # Raw drawings (canvas pixels, with times) in a data file, read as the dataset reads them.
    records = synthetic_records("apple", 0, 6, seed=5, raw=True) + synthetic_records("anvil", 2, 6, seed=5, raw=True)
    path = write_ndjson(tmp_path / "raw_ndjson" / "apple.ndjson", records)
    from_file = load_class_drawings(ClassFiles("apple", raw=[path]))
    assert len(from_file) == len(records)
    for record, drawing in zip(records, from_file):
        canvas = canvas_json(np.array(s).T for s in record["drawing"])
        x, image = preprocess_strokes(strokes_from_canvas(canvas))
        assert np.array_equal(image, rasterize_drawing(drawing.strokes))
        assert np.array_equal(x, image.reshape(784).astype(np.float32) / 255)


def test_real_raw_drawings_through_the_canvas_match_the_dataset(real_data):
    path = real_data / "raw_ndjson" / "apple.ndjson"
    drawings = load_class_drawings(ClassFiles("apple", raw=[path]), limit=10)
    raw = [d.extra["raw_strokes"] for d in drawings]
    for strokes, drawing in zip(raw, drawings):
        _, image = preprocess_strokes(strokes_from_canvas(canvas_json(strokes, offset=(0, 0))))
        assert np.array_equal(image, rasterize_drawing(drawing.strokes))


# ---------------------------------------------------------------- preprocessing


def test_empty_drawing_is_a_clear_result_not_a_crash(predictor):
    for empty in ([], [np.zeros((0, 2))], None):
        with pytest.raises(EmptyDrawingError, match="empty drawing"):
            preprocess_strokes(empty)
        pred = predictor.predict_strokes(empty)
        assert pred.empty and pred.top_k == {} and pred.image.shape == (28, 28) and not pred.image.any()
    assert predictor.predict_bitmap(np.zeros((28, 28), np.uint8)).empty


def test_preprocess_bitmap_accepts_uint8_and_float():
    img = np.zeros((28, 28), np.uint8)
    img[10:18, 5:20] = 255
    x8, i8 = preprocess_bitmap(img)
    xf, i_f = preprocess_bitmap(img.reshape(784).astype(np.float32) / 255)
    assert np.array_equal(i8, img) and np.array_equal(i_f, img) and np.allclose(x8, xf)
    with pytest.raises(ValueError, match="784"):
        preprocess_bitmap(np.zeros((10, 10)))


def test_bitmap_from_image_inverts_and_frames_like_the_official_bitmaps():
    strokes = [np.array([[0, 0], [255, 255]]), np.array([[0, 255], [255, 0]])]  # a cross, 0..255
    official = rasterize_drawing(strokes)
    # A black-on-white picture of the same cross, 10x larger, drawn with the official line width.
    big = Image.new("L", (3040, 3040), 255)
    draw = ImageDraw.Draw(big)
    for s in strokes:
        pts = [(10 * (24 + x), 10 * (24 + y)) for x, y in s]
        draw.line(pts, fill=0, width=160)
    got = bitmap_from_image(big)
    assert got.shape == (28, 28) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - official).mean() < 12  # same framing (not pixel-exact: PIL vs cairo)
    # A 28x28 white-on-black bitmap passes through unchanged.
    assert np.array_equal(bitmap_from_image(Image.fromarray(official)), official)


# ---------------------------------------------------------------- predictor


def test_top_k_is_sorted_sums_to_at_most_one_and_uses_the_card_names(predictor):
    assert predictor.names == ["mlp", "cnn"]
    for strokes in some_strokes(4):
        pred = predictor.predict_strokes(strokes, k=3)
        assert set(pred.top_k) == {"mlp", "cnn"}
        for name, guesses in pred.top_k.items():
            assert len(guesses) == 3
            probs = [p for _, p in guesses]
            assert probs == sorted(probs, reverse=True)
            assert sum(probs) <= 1 + 1e-6 and all(0 <= p <= 1 for p in probs)
            assert {label for label, _ in guesses} <= set(LABELS)
    everything = predictor.predict_strokes(some_strokes(1)[0], k=99).top_k["cnn"]
    assert len(everything) == 4 and sum(p for _, p in everything) == pytest.approx(1.0, abs=1e-6)
    assert len(predictor.predict_strokes(some_strokes(1)[0], k=0).top_k["mlp"]) == 1


def test_the_models_learned_the_shapes(predictor):
    # Circles from the data generator: both models should call them "circle" (class 0).
    circles = [strokes_from_lists(d["drawing"]) for d in synthetic_records("apple", 0, 5, seed=9, raw=True)]
    for name in ("mlp", "cnn"):
        firsts = [predictor.predict_strokes(s).top_k[name][0][0] for s in circles]
        assert firsts.count("circle") >= 4, (name, firsts)


def test_bitmap_and_stroke_paths_agree(predictor):
    strokes = some_strokes(1)[0]
    by_strokes = predictor.predict_strokes(strokes)
    by_bitmap = predictor.predict_bitmap(by_strokes.image)
    assert by_bitmap.top_k == by_strokes.top_k


def test_predictor_is_thread_safe(predictor):
    drawings = some_strokes(8, seed=2) + some_strokes(8, seed=3)
    expected = [predictor.predict_strokes(s, k=4).top_k for s in drawings]
    results: dict[int, list] = {}
    errors = []

    def worker(t):
        try:
            results[t] = [predictor.predict_strokes(drawings[(i + t) % len(drawings)], k=4).top_k for i in range(40)]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for t, got in results.items():
        assert got == [expected[(i + t) % len(drawings)] for i in range(40)]


def test_non_finite_model_output_is_reported_not_ranked():
    model = build_model("mlp", 3)
    weights = model.get_weights()
    weights[-1][:] = np.nan  # the output bias: NaN reaches the softmax
    model.set_weights(weights)
    pred = Predictor({"broken": (model, {"classes": ["a", "b", "c"]})}).predict_strokes(some_strokes(1)[0])
    assert pred.top_k == {"broken": []} and "not finite" in pred.errors["broken"]


# ---------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_train_writes_model_and_card(sketchlab_env, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--classes", ",".join(SYNTHETIC_CLASSES), "--epochs", "2",
                 "--batch-size", "16", "--lr", "0.01", "--seed", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    card = json.loads((out / "card.json").read_text())
    assert card["status"] == "done" and card["classes"] == list(SYNTHETIC_CLASSES)
    assert card["hyperparameters"]["seed"] == 1 and card["data"]["augmented"] is True
    assert (out / "model.keras").stat().st_size > 0
    assert "saved" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_train_reports_divergence_and_saves_nothing(sketchlab_env, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--classes", ",".join(SYNTHETIC_CLASSES), "--epochs", "3",
                 "--optimizer", "sgd", "--lr", "10000", "--no-augment", "--out", str(out)])
    assert code == 1
    assert "diverged" in capsys.readouterr().out and not out.exists()


def test_cli_train_rejects_bad_values(sketchlab_env, capsys):
    assert main(["train", "--lr", "0", "--classes", "apple,anvil"]) == 2
    assert "learning_rate" in capsys.readouterr().err
    assert main(["train", "--classes", "apple,unicorn"]) == 2
    assert "unicorn" in capsys.readouterr().err


def test_cli_predict_ndjson_line_file_and_png(model_dirs, tmp_path, capsys):
    dirs = [a for d in model_dirs.values() for a in ("--model-dir", str(d))]
    record = synthetic_records("apple", 0, 1, seed=4, raw=True)[0]
    assert main(["predict", json.dumps(record), "-k", "2", *dirs]) == 0
    out = capsys.readouterr().out
    assert "apple" in out and out.count("circle") + out.count("square") + out.count("cross") + out.count("zigzag") >= 2
    assert "mlp" in out and "cnn" in out

    path = write_ndjson(tmp_path / "some.ndjson", synthetic_records("apple", 1, 3, seed=4))
    assert main(["predict", str(path), *dirs]) == 0
    assert capsys.readouterr().out.count("some.ndjson:") == 3

    # A PNG, black strokes on white, larger than 28x28: inverted and framed before predicting.
    strokes = [np.array(s).T for s in record["drawing"]]
    img = Image.new("RGB", (500, 500), "white")
    draw = ImageDraw.Draw(img)
    for s in strokes:
        draw.line([tuple(p) for p in s[:, :2]], fill="black", width=12)
    png = tmp_path / "drawing.png"
    img.save(png)
    assert main(["predict", str(png), *dirs]) == 0
    out = capsys.readouterr().out
    assert "drawing.png" in out and "mlp" in out

    blank = tmp_path / "blank.png"
    Image.new("L", (100, 100), 255).save(blank)
    assert main(["predict", str(blank), *dirs]) == 0
    assert "empty drawing" in capsys.readouterr().out


def test_cli_predict_explains_bad_input(model_dirs, tmp_path, capsys):
    dirs = ["--model-dir", str(model_dirs["mlp"])]
    assert main(["predict", "{not json", *dirs]) == 2
    assert "not a Quick Draw drawing" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing.png"), *dirs]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["predict", str(bad), *dirs]) == 2
    assert "not an ndjson file or an image" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.keras").write_bytes(b"junk")
    assert main(["predict", "[[[0, 10], [0, 10]]]", "--model-dir", str(broken)]) == 2
    assert "card" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_evaluate_a_saved_model(sketchlab_env, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--classes", ",".join(SYNTHETIC_CLASSES), "--epochs", "2",
                 "--no-augment", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model-dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert "top-1" in text and "confusion matrix" in text and "24 drawings" in text


@pytest.mark.slow
def test_cli_train_downloads_first_then_trains(tmp_path, monkeypatch, capsys):
    from http_fixture import QuickDrawServer

    bucket = tmp_path / "bucket"
    for kind, word in enumerate(("apple", "anvil")):
        write_ndjson(bucket / "simplified" / f"{word}.ndjson", synthetic_records(word, kind, 40))
    data_dir = tmp_path / "empty-data"
    monkeypatch.setenv("SKETCHLAB_HOME", str(tmp_path / "home"))
    out = tmp_path / "run"
    with QuickDrawServer(bucket) as server:
        code = main(["--data-dir", str(data_dir), "train", "--download", "25", "--base-url", server.base_url,
                     "--classes", "apple,anvil", "--epochs", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    assert sorted(p.name for p in (data_dir / "simplified_ndjson").iterdir()) == ["anvil.ndjson", "apple.ndjson"]
    card = json.loads((out / "card.json").read_text())
    assert card["data"]["per_class_counts"] == {"apple": 25, "anvil": 25}
    assert card["data"]["n_train"] + card["data"]["n_val"] == 50


def test_cli_train_download_offline_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from http_fixture import closed_port

    monkeypatch.setenv("SKETCHLAB_HOME", str(tmp_path / "home"))
    code = main(["--data-dir", str(tmp_path / "d"), "train", "--download", "5", "--classes", "apple,anvil",
                 "--base-url", f"http://127.0.0.1:{closed_port()}"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


@pytest.mark.slow
def test_cli_evaluate_kfold_table_and_train_with_kfold_on_the_card(sketchlab_env, tmp_path, capsys):
    classes = ",".join(SYNTHETIC_CLASSES)
    report = tmp_path / "kfold.json"
    assert main(["evaluate", "--models", "mlp,baseline", "--classes", classes, "--folds", "2", "--repeats", "1",
                 "--epochs", "1", "--json", str(report)]) == 0
    text = capsys.readouterr().out
    assert "2-fold x 1 repeats" in text and "mlp" in text and "baseline" in text
    assert json.loads(report.read_text())["n_drawings"] == 120

    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--classes", classes, "--epochs", "1", "--all-data", "--unbalanced",
                 "--kfold", "2", "--kfold-repeats", "1", "--out", str(out)]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["data"]["n_train"] == 120 and card["data"]["n_val"] == 0 and card["val_accuracy"] is None
    assert card["kfold"]["folds"] == 2 and card["kfold"]["repeats"] == 1 and 0 <= card["kfold"]["top1_mean"] <= 1
    assert "k-fold top-1" in capsys.readouterr().out
    assert main(["evaluate", "--models", "resnet"]) == 2
