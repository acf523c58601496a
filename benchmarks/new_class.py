"""Add a class from a few drawings: the add-a-class recipe against training from scratch.

    python benchmarks/new_class.py --data-dir /work/shared/quickdraw --classes cat,bicycle,tree,fish

For each new class (from `other_classes`, 25 drawings each) and each N in --n, N drawings
(a seeded shuffle) play the person's drawings and the rest are the test drawings. The old
classes are QuickDraw-10: each class's drawings (up to 375) are split 80/20 (seed 42);
the 80% trains, the 20% tests. Both methods train on the same rows (real drawings plus
distorted copies of the thin classes, `newclass.training_images`):
- recipe: `sketchlab.newclass` (frozen shipped features + logistic-regression head);
- scratch: the seed CNN (`models.build_cnn`) trained from scratch, --scratch-epochs epochs.
Printed per N: the new class's recall, the old classes' mean recall (11-way) and the
shipped model's old-class mean recall on the same test drawings (10-way), and wall times.
Caveat: the shipped models were trained on every QuickDraw-10 drawing here, so the old
classes' test drawings are not unseen by the frozen features; the drop measures what the
new head costs the old classes, not generalization.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sketchlab import newclass as nc  # noqa: E402
from sketchlab.categories import QUICKDRAW_10  # noqa: E402
from sketchlab.inference import load_network  # noqa: E402
from sketchlab.data.raster import bitmap_to_input  # noqa: E402
from sketchlab.settings import shipped_models_dir  # noqa: E402


def mean_recall(pred, y, n) -> float:
    return float(np.mean([(pred[y == i] == i).mean() for i in range(n) if (y == i).any()]))


def subset(c: nc.ClassDrawings, rows) -> nc.ClassDrawings:
    ns = len(c.strokes)
    return nc.ClassDrawings(c.name, [c.strokes[i] for i in rows if i < ns],
                            c.bitmaps[[i - ns for i in rows if i >= ns]].reshape(-1, 784))


def scratch(images, labels, n_classes, epochs, seed):
    import keras

    from sketchlab.models import build_cnn
    from sketchlab.training import compile_model

    keras.utils.set_random_seed(seed)
    model = compile_model(build_cnn(n_classes), "Adam", 1e-3)
    weights = (len(labels) / (n_classes * np.bincount(labels, minlength=n_classes)))[labels]
    model.fit(bitmap_to_input(images), labels, sample_weight=weights, batch_size=64, epochs=epochs, verbose=0)
    return lambda im: model.predict_on_batch(bitmap_to_input(im)).argmax(axis=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("SKETCHLAB_DATA", "/work/shared/quickdraw"))
    ap.add_argument("--classes", default="cat", help="new classes, comma-separated (each from the data folder)")
    ap.add_argument("--n", default="5,10,20")
    ap.add_argument("--scratch-epochs", type=int, default=10, help="0 skips training from scratch")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from sklearn.model_selection import train_test_split

    data = [args.data_dir]
    t0 = time.perf_counter()
    old = [nc.read_class(c, data, per_class=375) for c in QUICKDRAW_10]
    old_train, old_test = [], []
    for c in old:
        a, b = train_test_split(np.arange(c.n), test_size=0.2, random_state=42)
        old_train.append(subset(c, a))
        old_test.append(subset(c, b))
    test_img, test_lab = nc.training_images(old_test, augment_to=0)
    base, _ = load_network(nc.base_model_dir(shipped_models_dir()))
    F_old_test = nc.features(base, test_img)
    shipped, _ = load_network(Path(shipped_models_dir()) / nc.BASE_KIND)
    before = mean_recall(shipped(bitmap_to_input(test_img)).argmax(axis=1), test_lab, len(old))
    print(f"base: shipped {nc.BASE_KIND}; old classes: QuickDraw-10, {len(test_lab)} test drawings; "
          f"shipped model's old-class mean recall (10-way): {before:.3f}")
    print(f"{'class':<12} {'N':>3} {'test':>4} | {'recipe new':>10} {'old':>6} {'drop':>6} {'s':>6} | "
          f"{'scratch new':>11} {'old':>6} {'s':>6}")
    rows = {}
    for name in [c.strip() for c in args.classes.split(",") if c.strip()]:
        new = nc.read_class(name, data)
        order = np.random.default_rng(args.seed).permutation(new.n)
        for n in [int(x) for x in args.n.split(",")]:
            mine, held = subset(new, order[:n]), subset(new, order[n:])
            held_img, _ = nc.training_images([held], augment_to=0)
            t = time.perf_counter()
            images, labels = nc.training_images(old_train + [mine], args.seed)
            W, b = nc.fit_head(nc.features(base, images), labels, len(old) + 1, args.seed)
            r_new = float((nc.head_probabilities(nc.features(base, held_img), W, b).argmax(1) == len(old)).mean())
            r_old = mean_recall(nc.head_probabilities(F_old_test, W, b).argmax(1), test_lab, len(old))
            t_recipe = time.perf_counter() - t
            s_new = s_old = t_scratch = float("nan")
            if args.scratch_epochs:
                t = time.perf_counter()
                predict = scratch(images, labels, len(old) + 1, args.scratch_epochs, args.seed)
                s_new = float((predict(held_img) == len(old)).mean())
                s_old = mean_recall(predict(test_img), test_lab, len(old))
                t_scratch = time.perf_counter() - t
            rows.setdefault(n, []).append((r_new, r_old, before - r_old, t_recipe, s_new, s_old, t_scratch))
            print(f"{name:<12} {n:>3} {len(held_img):>4} | {r_new:>10.2f} {r_old:>6.3f} {before - r_old:>+6.3f} "
                  f"{t_recipe:>6.1f} | {s_new:>11.2f} {s_old:>6.3f} {t_scratch:>6.1f}", flush=True)
    print("mean over classes:")
    for n, vals in rows.items():
        m = np.nanmean(np.array(vals, dtype=float), axis=0)
        print(f"  N={n:<3} recipe: new-class recall {m[0]:.2f}, old mean recall {m[1]:.3f} (drop {m[2]:+.3f}), "
              f"{m[3]:.1f} s | scratch: new {m[4]:.2f}, old {m[5]:.3f}, {m[6]:.1f} s")
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
