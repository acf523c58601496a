"""Seconds per training epoch: `train_run`'s input pipeline against plain `model.fit(numpy)`.

    python benchmarks/train_speed.py                  # 20,000 samples, MLP and CNN
    python benchmarks/train_speed.py --samples 5000 --models mlp

Same data, model, optimizer (seed 000's SGD, lr 0.01, batch 32) and validation rows in
the same run. Data: synthetic 28x28 bitmaps (random strokes-like sparse pixels, 10
classes); the time per epoch does not depend on what the pixels show.

- plain: `model.fit(X, y, batch_size=32, epochs=1, validation_data=(X_val, y_val))`, as
  the seeds do it; one epoch to trace, then one timed epoch;
- ours: `training.train_run` (seeded shuffle in numpy, tf.data gather + prefetch,
  `steps_per_execution=32`, per-epoch validation, callbacks for cancel and divergence)
  for 2 epochs, the second one's seconds from its history;
- ours with `steps_per_execution=1`, to show where the difference comes from.
The three ways take turns, round after round, so load from other processes hits them
alike; the medians over the rounds are printed.
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

CLASSES = ("apple", "anvil", "airplane", "banana", "The Eiffel Tower", "The Mona Lisa",
           "The Great Wall of China", "alarm clock", "ant", "asparagus")


def synthetic_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, 784)) < 0.12).astype(np.float32) * rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, len(CLASSES), n).astype(np.int64)
    return X, y


def plain_fit(kind: str, X, y, Xv, yv) -> float:
    import keras

    from sketchlab.models import build_model
    from sketchlab.training import compile_model

    keras.utils.set_random_seed(0)
    model = compile_model(build_model(kind, len(CLASSES)), "SGD", 0.01)
    model.fit(X, y, batch_size=32, epochs=1, validation_data=(Xv, yv), verbose=0)  # traces
    t0 = time.perf_counter()
    model.fit(X, y, batch_size=32, epochs=1, validation_data=(Xv, yv), verbose=0)
    return time.perf_counter() - t0


def ours(kind: str, X, y, Xv, yv, steps_per_execution: int) -> float:
    from sketchlab import training

    config = training.RunConfig(model=kind, optimizer="SGD", learning_rate=0.01, batch_size=32,
                                epochs=2, classes=CLASSES, augment=False)
    split = training.TrainSplit(X, y, Xv, yv, list(CLASSES), "synthetic")
    saved = training.STEPS_PER_EXECUTION
    training.STEPS_PER_EXECUTION = steps_per_execution
    try:
        result = training.train_run(config, split)
    finally:
        training.STEPS_PER_EXECUTION = saved
    return result.history[-1].seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20_000, help="training rows (validation: a quarter of that)")
    ap.add_argument("--rounds", type=int, default=3, help="timed epochs per way, taken in turns")
    ap.add_argument("--models", default="mlp,cnn")
    args = ap.parse_args()

    X, y = synthetic_data(args.samples)
    Xv, yv = synthetic_data(args.samples // 4, seed=1)
    print(f"{args.samples} training + {len(yv)} validation rows, batch 32, SGD, median of {args.rounds} rounds, "
          f"{os.cpu_count()} CPUs (load average before: {os.getloadavg()[0]:.1f})")
    print(f"{'model':<6} {'plain fit s/epoch':>18} {'ours s/epoch':>13} {'ours spe=1':>11} {'plain/ours':>11}")
    for kind in [k.strip() for k in args.models.split(",") if k.strip()]:
        times = {"plain": [], "ours": [], "spe1": []}
        for _ in range(args.rounds):
            times["plain"].append(plain_fit(kind, X, y, Xv, yv))
            times["ours"].append(ours(kind, X, y, Xv, yv, steps_per_execution=32))
            times["spe1"].append(ours(kind, X, y, Xv, yv, steps_per_execution=1))
        plain, fast, one = (float(np.median(times[k])) for k in ("plain", "ours", "spe1"))
        print(f"{kind:<6} {plain:>18.2f} {fast:>13.2f} {one:>11.2f} {plain / fast:>10.2f}x", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f} (other processes on the machine slow every column)")


if __name__ == "__main__":
    main()
