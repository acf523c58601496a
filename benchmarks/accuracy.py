"""The k-fold accuracy table: MLP, CNN, the stronger model and a logistic-regression baseline.

    python benchmarks/accuracy.py                         # 5 folds x 2 repeats, the shipped recipes
    python benchmarks/accuracy.py --folds 3 --repeats 1 --epochs 10   # a quick look
    python benchmarks/accuracy.py --json models/kfold.json            # also keep the full report

Every distinct QuickDraw-10 stroke drawing in the data folder (`--data-dir`, else
$SKETCHLAB_DATA, else ../shared/quickdraw) is scored by repeated stratified k-fold
(`sketchlab.evaluate.evaluate_kfold`): all four models see the same folds, the networks are
trained with the recipes in `sketchlab.evaluate.RECIPES` (stroke augmentation on the training
folds only) and the test fold is never used for training. Prints top-1 and top-3 as
mean ± std over the folds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from raster import REPO, default_data_dir  # benchmarks/raster.py  # noqa: E402

sys.path.insert(0, str(REPO))

from sketchlab.categories import QUICKDRAW_10  # noqa: E402
from sketchlab.dataset import NoDataError  # noqa: E402
from sketchlab.evaluate import BASELINE, MODEL_NAMES, RECIPES, evaluate_kfold, load_eval_data  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None,
                   help="Quick Draw data folder (default: $SKETCHLAB_DATA or ../shared/quickdraw)")
    p.add_argument("--folds", type=int, default=5, help="folds (default: 5)")
    p.add_argument("--repeats", type=int, default=2, help="repeats with fresh folds (default: 2)")
    p.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    p.add_argument("--models", default=",".join(MODEL_NAMES),
                   help=f"comma-separated, from {', '.join(MODEL_NAMES)}")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and the runs (default: 0)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="also write the full report (per-fold scores) here")
    args = p.parse_args(argv)

    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    data_dir = default_data_dir(args.data_dir)
    try:
        data = load_eval_data(data_dir, QUICKDRAW_10)
    except NoDataError as exc:
        print(f"accuracy benchmark: {exc}", file=sys.stderr)
        return 2

    from tqdm import tqdm

    print(f"data: {data.source}: {len(data.labels)} drawings; per class {data.counts()}")
    for kind in models:
        if kind in RECIPES:
            c = RECIPES[kind]
            epochs = args.epochs or c.epochs
            print(f"recipe {kind}: {c.optimizer} lr={c.learning_rate:g} batch={c.batch_size} "
                  f"epochs={epochs} augment={c.augment} early_stopping={c.early_stopping_patience}")
    start = time.perf_counter()
    try:
        with tqdm(total=args.folds * args.repeats * len(models), desc="k-fold", unit="fit") as bar:
            report = evaluate_kfold(
                data, models=models, folds=args.folds, repeats=args.repeats, seed=args.seed,
                epochs=args.epochs,
                on_progress=lambda done, total, label: (bar.update(1), bar.set_postfix_str(label)),
            )
    except ValueError as exc:
        print(f"accuracy benchmark: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    ranked = [m for m in ("strong", "cnn", "mlp", BASELINE) if m in report.scores]
    if len(ranked) > 1:
        print("paired top-1 on the same folds: mean difference, folds won/tied/lost")
        for i, a in enumerate(ranked):
            for b in ranked[i + 1 :]:
                d = report.paired(a, b)
                print(f"  {a} - {b}: {d['top1_diff_mean']:+.3f}, {d['wins']}/{d['ties']}/{d['losses']}")
    print(f"wall time {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=1)
            fh.write("\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
