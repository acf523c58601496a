"""Which way of handling unbalanced classes trains best: none, class weights, balanced or √-count sampling.

    python benchmarks/balance.py                       # MLP, 20 epochs, every mode
    python benchmarks/balance.py --model cnn --epochs 10

Measured on a validation split carved out of the TRAINING part of the held-out split
(`sketchlab.evaluate.heldout_split`; 15% of it, stratified per class and source), so the
held-out test rows never steer the recipe. Same seed, same epochs, augmentation on, only
`RunConfig.balance` differs. Prints class-balanced accuracy (mean recall), pooled top-1,
the lowest class recall and the four thin classes' recall, then every class's recall per mode.
The thin classes have only 3-5 validation drawings each: their recall moves in steps of
0.2-0.33, so read their columns as a warning light, not a ranking.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from raster import REPO, default_data_dir  # benchmarks/raster.py  # noqa: E402

sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from sketchlab.evaluate import RECIPES, THIN_CLASSES, heldout_split, split_of  # noqa: E402
from sketchlab.data.dataset import load_all_data, split_indices  # noqa: E402
from sketchlab.training import BALANCE_MODES, predict_proba, train_run
from sketchlab.cards import confusion_matrix, per_class_recall  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--model", default="mlp")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--modes", default=",".join(BALANCE_MODES))
    args = p.parse_args(argv)
    data = load_all_data(default_data_dir(args.data_dir))
    train_rows, _test_rows = heldout_split(data)
    inner = data.subset(train_rows)
    fit_rows, val_rows = split_indices(inner.labels, 0.15, 1, inner.strata())
    print(f"data: {data.source}; {len(fit_rows)} rows to fit, {len(val_rows)} validation rows "
          f"(from the training part only), {args.model}, {args.epochs} epochs")
    print(f"{'balance':<10} {'balanced':>8} {'top-1':>6} {'min recall':>10}  thin classes"
          f" ({', '.join(THIN_CLASSES)})  seconds")
    recalls = {}
    for mode in args.modes.split(","):
        config = replace(RECIPES[args.model], classes=tuple(data.classes), epochs=args.epochs, balance=mode)
        t0 = time.perf_counter()
        result = train_run(config, split_of(inner, fit_rows, val_rows))
        probs = predict_proba(result.model, inner.images[val_rows] / np.float32(255))
        y = inner.labels[val_rows]
        recall = per_class_recall(confusion_matrix(y, probs.argmax(1), len(data.classes)))
        recalls[mode] = recall
        thin = [recall[data.classes.index(c)] for c in THIN_CLASSES]
        print(f"{mode:<10} {np.mean(recall):>8.3f} {np.mean(probs.argmax(1) == y):>6.3f} {min(recall):>10.3f}  "
              + " ".join(f"{r:.2f}" for r in thin) + f"  {time.perf_counter() - t0:.0f}", flush=True)
    val_counts = np.bincount(inner.labels[val_rows], minlength=len(data.classes))
    print(f"\nrecall per class ({', '.join(recalls)}), validation drawings:")
    for i, name in enumerate(data.classes):
        print(f"  {name:<24} " + " ".join(f"{recalls[m][i]:.3f}" for m in recalls) + f"  ({val_counts[i]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
