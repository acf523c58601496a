"""Per-class k-fold recall of the recipes as they were before the bitmap rows were used.

Issue 9 asks that the thin classes (anvil, ant, The Eiffel Tower, The Great Wall of China)
do not get worse than the old k-fold recall; `models/kfold.json` kept only pooled top-1 per
fold, so this re-runs that benchmark's exact folds (5 folds x 2 repeats, seed 0, 337 stroke
drawings, `sketchlab.evaluate.RECIPES` of that commit) and keeps every fold's per-class
recall. Run it against the old code, from a checkout of commit d6067cd:

    git archive d6067cd | tar -x -C /tmp/before && cd /tmp/before && \
        SKETCHLAB_DATA=../shared/quickdraw python <repo>/benchmarks/thin_kfold_before.py --json <repo>/models/kfold_before.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.getcwd())  # the checkout being measured

import numpy as np  # noqa: E402

from sketchlab.categories import QUICKDRAW_10  # noqa: E402
from sketchlab.evaluate import RECIPES, _fold_split, kfold_splits, load_eval_data  # noqa: E402
from sketchlab.data.raster import bitmap_to_input, rasterize_strokes  # noqa: E402
from sketchlab.training import predict_proba, train_run  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="mlp,cnn,strong")
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    data = load_eval_data(os.environ.get("SKETCHLAB_DATA", "../shared/quickdraw"), QUICKDRAW_10)
    y = np.asarray(data.labels)
    strokes = [d.strokes for d in data.drawings]
    X = bitmap_to_input(rasterize_strokes(strokes))
    splits = kfold_splits(y, 5, 2, 0)
    out = {"classes": data.classes, "counts": data.counts(), "folds": 5, "repeats": 2, "seed": 0,
           "per_fold_recall": {}, "commit_code": os.getcwd()}
    start = time.perf_counter()
    for kind in args.models.split(","):
        config0 = replace(RECIPES[kind], classes=tuple(data.classes))
        rows = []
        for i, (train_rows, test_rows) in enumerate(splits):
            config = replace(config0, seed=config0.seed + i)
            result = train_run(config, _fold_split(X, y, strokes, train_rows, config, data, i))
            pred = predict_proba(result.model, X[test_rows]).argmax(axis=1)
            yt = y[test_rows]
            rows.append([float((pred[yt == c] == c).mean()) for c in range(len(data.classes))])
            print(kind, i, f"top-1 {(pred == yt).mean():.3f}", f"{time.perf_counter() - start:.0f}s", flush=True)
        out["per_fold_recall"][kind] = rows
        mean = np.mean(rows, axis=0)
        print(kind, {c: round(float(m), 3) for c, m in zip(data.classes, mean)}, flush=True)
    with open(args.json, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
