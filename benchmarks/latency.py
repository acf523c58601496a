"""Strokes → top-3 from both models (MLP + CNN): the Predictor against the seed way, same run.

    python benchmarks/latency.py                 # 300 timed predictions each way for ours
    python benchmarks/latency.py --repeats 1000 --seed-repeats 100

Inputs: real raw drawings (canvas pixels, as a canvas records them) from the data folder
(`--data-dir`, default $SKETCHLAB_DATA or ../shared/quickdraw); synthetic figures if none.
Models: the shipped `models/mlp` and `models/cnn` when present, else freshly built
untrained models of the same architecture (latency does not depend on the weights).

- ours: `Predictor.predict_strokes(strokes, k=3)`: normalize_strokes → rasterize →
  each model's traced forward pass → top-3, for both models.
- the seed way (seed 004's app): the canvas image (RGBA, 400x400, white strokes on black,
  here drawn with PIL beforehand and NOT timed, a head start for the seed) is resized to
  28x28, converted to grayscale, and each model is asked with `model.predict`.
Prints p50 and p99 in milliseconds for both and the ratio of the p50s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

CANVAS_SIDE = 400
STROKE_WIDTH = 10


def load_models(models_dir: Path) -> tuple[dict, str]:
    from sketchlab.categories import QUICKDRAW_10
    from sketchlab.models import build_model
    from sketchlab.cards import load_model

    if all((models_dir / k / "model.keras").is_file() for k in ("mlp", "cnn")):
        return {k: load_model(models_dir / k) for k in ("mlp", "cnn")}, f"shipped models in {models_dir}"
    card = {"classes": list(QUICKDRAW_10)}
    return {k: (build_model(k, len(QUICKDRAW_10)), card) for k in ("mlp", "cnn")}, "untrained models (none shipped)"


def load_drawings(data_dir: Path, n: int) -> tuple[list, str]:
    """Raw drawings in canvas pixels: real ones if the data folder has raw files, else synthetic."""
    from sketchlab.formats import iter_drawings

    files = sorted((data_dir / "raw_ndjson").glob("*.ndjson")) if data_dir.is_dir() else []
    drawings = []
    for path in files:
        drawings += [d.strokes for d in iter_drawings(path, limit=max(1, n // len(files)))]
    if drawings:
        return drawings[:n], f"{len(drawings[:n])} real raw drawings from {data_dir / 'raw_ndjson'}"
    rng = np.random.default_rng(0)
    for i in range(n):
        t = np.linspace(0, 2 * np.pi, 30)
        r = rng.uniform(50, 150)
        circle = np.column_stack([200 + r * np.cos(t), 200 + r * np.sin(t)]) + rng.normal(0, 2, (30, 2))
        line = np.array([[50.0, 50.0 + i % 100], [350.0, 300.0]])
        drawings.append([circle, line])
    return drawings, f"{n} synthetic drawings (no raw data in {data_dir})"


def canvas_image(strokes) -> np.ndarray:
    """What the canvas hands the seed's app: an RGBA array of the drawing, white on black."""
    from PIL import Image, ImageDraw

    pts = np.concatenate([s[:, :2] for s in strokes])
    low, extent = pts.min(axis=0), max(float((pts.max(axis=0) - pts.min(axis=0)).max()), 1.0)
    scale = (CANVAS_SIDE - 40) / extent
    img = Image.new("RGBA", (CANVAS_SIDE, CANVAS_SIDE), (0, 0, 0, 255))
    draw = ImageDraw.Draw(img)
    for s in strokes:
        xy = [tuple(p) for p in ((s[:, :2] - low) * scale + 20).tolist()]
        draw.line(xy if len(xy) > 1 else xy * 2, fill=(255, 255, 255, 255), width=STROKE_WIDTH, joint="curve")
    return np.asarray(img)


def seed_way(models: dict, rgba: np.ndarray, k: int = 3) -> dict:
    from PIL import Image

    small = Image.fromarray(rgba).resize((28, 28)).convert("L")
    x = np.asarray(small, dtype=np.float32).reshape(1, 784) / 255.0
    out = {}
    for name, (model, card) in models.items():
        probs = model.predict(x, verbose=0)[0]
        order = np.argsort(-probs)[:k]
        out[name] = [(card["classes"][i], float(probs[i])) for i in order]
    return out


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main() -> None:
    from sketchlab.predict import Predictor, preprocess_strokes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("SKETCHLAB_DATA") or str(REPO.parent / "shared" / "quickdraw"))
    ap.add_argument("--models-dir", default=str(REPO / "models"))
    ap.add_argument("--repeats", type=int, default=300, help="timed predictions, ours")
    ap.add_argument("--seed-repeats", type=int, default=60, help="timed predictions, the seed way")
    args = ap.parse_args()

    models, model_source = load_models(Path(args.models_dir))
    drawings, data_source = load_drawings(Path(args.data_dir), 100)
    images = [canvas_image(s) for s in drawings]
    predictor = Predictor(models)
    print(f"models: {model_source}; inputs: {data_source}")

    for s in drawings[:5]:  # warm up both paths (tracing, first calls)
        predictor.predict_strokes(s)
    for img in images[:3]:
        seed_way(models, img)

    ours, prep = [], []
    for i in range(args.repeats):
        s = drawings[i % len(drawings)]
        t0 = time.perf_counter()
        predictor.predict_strokes(s, k=3)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        preprocess_strokes(s)
        prep.append(time.perf_counter() - t0)
    seed = []
    for i in range(args.seed_repeats):
        img = images[i % len(images)]
        t0 = time.perf_counter()
        seed_way(models, img)
        seed.append(time.perf_counter() - t0)

    o50, o99 = percentiles(ours)
    s50, s99 = percentiles(seed)
    p50, p99 = percentiles(prep)
    print(f"{'strokes -> top-3, MLP + CNN':<44} {'p50 ms':>8} {'p99 ms':>8} {'n':>5}")
    print(f"{'ours: Predictor.predict_strokes':<44} {o50:>8.2f} {o99:>8.2f} {len(ours):>5}")
    print(f"{'  of which normalize + rasterize':<44} {p50:>8.2f} {p99:>8.2f} {len(prep):>5}")
    print(f"{'seed way: resize canvas + model.predict x2':<44} {s50:>8.2f} {s99:>8.2f} {len(seed):>5}")
    print(f"speed-up at p50: {s50 / o50:.1f}x (goal >= 30x); ours p50 {o50:.2f} ms (goal <= 5 ms)")


if __name__ == "__main__":
    main()
