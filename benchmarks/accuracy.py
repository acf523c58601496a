"""Per-class accuracy of MLP, CNN, the stronger model and a scikit-learn baseline, on the same split.

    python benchmarks/accuracy.py                                   # held-out split, shipped recipes
    python benchmarks/accuracy.py --models mlp --folds 5            # k-fold spread for one model
    python benchmarks/accuracy.py --epochs 3 --models mlp,baseline  # a quick look
    python benchmarks/accuracy.py --json models/heldout.json --cards models   # what the README quotes

Every distinct drawing of QuickDraw-10 in the data folder (`--data-dir`, else $SKETCHLAB_DATA,
else ../shared/quickdraw): strokes (simplified and raw merged by key_id) plus the official
bitmap rows that are not the same drawing (`sketchlab.data.dataset.load_all_data`). The held-out
split is 20%, stratified per class and per source, seed 42 (`sketchlab.evaluate.heldout_split`);
`--folds K` uses K stratified folds of the same data instead. The networks are trained on the
training rows with `sketchlab.evaluate.RECIPES` (the shipped models' recipes: class-balanced
sampling, stroke and bitmap augmentation); the test rows are never used for training,
stopping or choosing a recipe. Prints, per model: class-balanced accuracy (mean recall) with its
spread, pooled top-1/top-3, the lowest class recall, the per-class recall table and each
confusion matrix; with `--before FILE` (benchmarks/thin_kfold_before.py's output) also the thin
classes' recall before the bitmap rows were used, next to today's.
`--cards DIR` writes each model's figures into DIR/<kind>/card.json as its `heldout` entry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from raster import REPO, default_data_dir  # benchmarks/raster.py  # noqa: E402

sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from sketchlab.categories import QUICKDRAW_10  # noqa: E402
from sketchlab.data.dataset import NoDataError, load_all_data  # noqa: E402
from sketchlab.evaluate import (BASELINE, MODEL_NAMES, RECIPES, THIN_CLASSES, PerClassReport,  # noqa: E402
                                evaluate_splits, fold_splits, heldout_split)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None,
                   help="Quick Draw data folder (default: $SKETCHLAB_DATA or ../shared/quickdraw)")
    p.add_argument("--folds", type=int, default=1, help="1: the held-out split (default); K>1: K stratified folds")
    p.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    p.add_argument("--models", default=",".join(MODEL_NAMES),
                   help=f"comma-separated, from {', '.join(MODEL_NAMES)}")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the full report here")
    p.add_argument("--cards", default=None, metavar="DIR",
                   help="write each model's figures into DIR/<kind>/card.json (its `heldout` entry)")
    p.add_argument("--before", default=None, metavar="FILE",
                   help="per-fold recall before the bitmap rows were used (benchmarks/thin_kfold_before.py)")
    p.add_argument("--markdown", action="store_true", help="also print the per-class table as Markdown")
    p.add_argument("--from-json", default=None, metavar="FILE",
                   help="print (and --cards) a report written earlier by --json instead of training again")
    args = p.parse_args(argv)

    if args.from_json:
        report = PerClassReport.from_dict(json.loads(Path(args.from_json).read_text(encoding="utf-8")))
        print(f"report read from {args.from_json} (trained and scored in {report.seconds:.0f} s)")
        _print(report, args)
        return 0
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    try:
        data = load_all_data(default_data_dir(args.data_dir), QUICKDRAW_10)
    except NoDataError as exc:
        print(f"accuracy benchmark: {exc}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    print(f"data: {data.source}: {len(data.labels)} drawings; per class (strokes, bitmap-only): "
          + ", ".join(f"{c} {v['strokes']}+{v['bitmaps']}" for c, v in data.source_counts().items()))
    for kind in models:
        if kind in RECIPES:
            c = RECIPES[kind]
            print(f"recipe {kind}: {c.optimizer} lr={c.learning_rate:g} batch={c.batch_size} "
                  f"epochs={args.epochs or c.epochs} augment={c.augment} balance={c.balance}")
    try:
        if args.folds > 1:
            splits, how = fold_splits(data, args.folds), f"{args.folds}-fold stratified (class x source) CV"
        else:
            splits, how = [heldout_split(data)], "held-out 20% split (stratified per class and source, seed 42)"
    except (ValueError, NoDataError) as exc:
        print(f"accuracy benchmark: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with tqdm(total=len(splits) * len(models), desc="train+test", unit="fit") as bar:
        report = evaluate_splits(data, splits, models=models, epochs=args.epochs, how=how,
                                 on_progress=lambda d, t, label: (bar.update(1), bar.set_postfix_str(label)))
    print(f"wall time {time.perf_counter() - start:.0f} s")
    _print(report, args)
    return 0


def _print(report, args) -> None:
    models = tuple(report.scores)
    print(report.table())
    if args.markdown:
        print()
        print(report.per_class_table(markdown=True))
    for name in models:
        m = report.summary(name)
        width = max(len(c) for c in report.classes)
        print(f"\nconfusion matrix {name} (rows = true class, summed over splits):")
        for c, row in zip(report.classes, m["confusion_matrix"]):
            print(f"  {c:>{width}} " + " ".join(f"{v:>5}" for v in row))
    ranked = [m for m in ("strong", "cnn", "mlp", BASELINE) if m in report.scores]
    if len(ranked) > 1:
        print("\nclass-balanced accuracy differences, same split(s):")
        for i, a in enumerate(ranked):
            for b in ranked[i + 1:]:
                print(f"  {a} - {b}: {report.summary(a)['balanced_accuracy'] - report.summary(b)['balanced_accuracy']:+.3f}")
    if args.before:
        _thin_comparison(report, json.loads(Path(args.before).read_text(encoding="utf-8")))
    if args.json and not args.from_json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if args.cards:
        for name in models:
            card_path = Path(args.cards) / name / "card.json"
            if name != BASELINE and card_path.is_file():
                card = json.loads(card_path.read_text(encoding="utf-8"))
                card["heldout"] = report.card_entry(name)
                card.pop("kfold", None)  # the stroke-only k-fold described the old recipe
                card_path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
                print(f"wrote the heldout entry of {card_path}")


def _thin_comparison(report, before: dict) -> None:
    print("\nthin classes: recall before (stroke drawings only, 5-fold x 2 k-fold, mean ± std over folds) "
          "and now (" + report.summary(next(iter(report.scores)))["spread"] + ")")
    print(f"{'class':<24} {'model':<7} {'before':>15} {'now':>15}")
    for c in THIN_CLASSES:
        i = before["classes"].index(c)
        for name in report.scores:
            if name not in before.get("per_fold_recall", {}):
                continue
            b = np.array(before["per_fold_recall"][name])[:, i]
            now = report.summary(name)
            print(f"{c:<24} {name:<7} {b.mean():>7.3f} ± {b.std():.3f} "
                  f"{now['per_class_recall'][c]:>7.3f} ± {now['per_class_recall_std'][c]:.3f}")


if __name__ == "__main__":
    sys.exit(main())
