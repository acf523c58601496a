"""CLI commands for models: `train`, `evaluate`, `predict` (see sketchlab.cli).

    python -m sketchlab train --model cnn --optimizer Adam --lr 0.001 --epochs 30 --out runs/cnn
    python -m sketchlab train --model mlp --download 10000 --out runs/mlp   # fetch data first
    python -m sketchlab evaluate --folds 5 --repeats 2                     # k-fold table
    python -m sketchlab evaluate --model-dir models/cnn                   # held-out split
    python -m sketchlab predict drawing.png
    python -m sketchlab predict '{"drawing": [[[0, 50, 90], [10, 80, 20]]]}' --model-dir models/cnn
"""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path

from .common import UserError, classes_arg, progress_bar
from ..models import MODEL_KINDS
from ..training import BALANCE_MODES, OPTIMIZERS, optimizer_name


def register(sub) -> None:
    """Add the model commands to the top-level sub-parsers."""
    _train_parser(sub)
    _evaluate_parser(sub)
    _predict_parser(sub)


def _optimizer_arg(text: str) -> str:
    return optimizer_name(text)


_optimizer_arg.__name__ = "optimizer"  # argparse names the type in its error message


# ---------------------------------------------------------------- train


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train one model and save it with its model card")
    p.add_argument("--model", choices=MODEL_KINDS, default="mlp", help="model kind (default: mlp)")
    p.add_argument("--optimizer", type=_optimizer_arg, default="Adam", help=f"one of {', '.join(OPTIMIZERS)} (default: Adam)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 0.001)")
    p.add_argument("--batch-size", type=int, default=32, help="default: 32")
    p.add_argument("--epochs", type=int, default=25, help="default: 25")
    p.add_argument("--classes", default=None, help="comma-separated class names (default: QuickDraw-10)")
    p.add_argument("--per-class", type=int, default=None, help="use at most N drawings per class")
    p.add_argument("--seed", type=int, default=0, help="random seed of the run (default: 0)")
    p.add_argument("--no-augment", action="store_true", help="train on the drawings as they are")
    p.add_argument("--early-stopping", type=int, default=None, metavar="N",
                   help="stop when val loss has not improved for N epochs (best weights kept)")
    p.add_argument("--balance", choices=BALANCE_MODES, default="none",
                   help="unbalanced classes: class-balanced sampling each epoch, sqrt (class shares ∝ √count), "
                        "class weights, or none (default)")
    p.add_argument("--unbalanced", action="store_true",
                   help="keep every drawing (default: cut every class to the smallest one's count)")
    p.add_argument("--all-data", action="store_true",
                   help="train on every drawing, no validation split (score it with --kfold)")
    p.add_argument("--kfold", type=int, default=None, metavar="FOLDS",
                   help="also score this recipe by repeated stratified k-fold and put it on the card")
    p.add_argument("--kfold-repeats", type=int, default=2, help="repeats for --kfold (default: 2)")
    p.add_argument("--download", type=int, default=None, metavar="N",
                   help="first download the first N drawings per class into the data folder")
    p.add_argument("--base-url", default=None, help="bucket URL for --download (default: the public bucket)")
    p.add_argument("--name", default=None, help="name on the model card")
    p.add_argument("--out", default=None, help="output folder (default: <home>/runs/<kind>-<date>)")
    p.set_defaults(func=cmd_train)


def _config_from_args(args):
    from ..training import RunConfig

    config = RunConfig(
        model=args.model,
        optimizer=args.optimizer,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        classes=classes_arg(args.classes),
        per_class=args.per_class,
        seed=args.seed,
        augment=not args.no_augment,
        early_stopping_patience=args.early_stopping,
        balance=args.balance,
    )
    try:
        return config.validate()
    except ValueError as exc:
        raise UserError(str(exc)) from None


class _CtrlC:
    """The first Ctrl-C asks the run to stop after the current batch; a second one kills it."""

    def __init__(self):
        self.pressed = False

    def __enter__(self):
        self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        print("\nstopping after this batch (Ctrl-C again to abort)")

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._old)
        return False


def _download(args, config, settings) -> None:
    """--download N: fetch the first N drawings of each class into the data folder first."""
    from ..data.download import DEFAULT_BASE_URL, DownloadError, download_classes

    print(f"downloading the first {args.download} drawings of {len(config.classes)} classes into {settings.data_dir}")
    bar, progress = progress_bar("download", "B")
    try:
        with bar:
            download_classes(list(config.classes), settings.data_dir, fmt="simplified", max_drawings=args.download,
                             base_url=args.base_url or DEFAULT_BASE_URL, progress=progress)
    except DownloadError as exc:
        raise UserError(str(exc)) from None


def cmd_train(args, settings) -> int:
    import datetime as dt

    from tqdm import tqdm

    from ..limits import check_can_write
    from ..training import prepare_split, train_run
    from ..cards import save_model

    config = _config_from_args(args)
    if args.kfold is not None and args.kfold < 2:
        raise UserError("--kfold needs at least 2 folds")
    out = Path(args.out) if args.out else settings.runs_dir / f"{config.model}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    check_can_write(out.parent)  # a read-only or full disk is said now, not after the last epoch
    if args.download is not None:
        if args.download < 1:
            raise UserError("--download must be at least 1")
        _download(args, config, settings)
    test_size = 0.0 if args.all_data else 0.2
    split = prepare_split(settings.data_dir, config, settings.dataset_cache_dir,
                          test_size=test_size, balanced=not args.unbalanced)
    print(f"data: {split.source}: {len(split.y_train)} train, {len(split.y_val)} val, {len(split.classes)} classes"
          f"{', stroke augmentation' if config.augment and split.train_strokes is not None else ''}")
    if config.augment and split.train_strokes is not None and len(split.y_train) > 50_000:
        print(f"note: augmentation redraws all {len(split.y_train):,} training drawings every epoch "
              "(~0.3-0.5 ms each); with this much data --no-augment trains far faster")

    with _CtrlC() as ctrl_c, tqdm(total=config.epochs, desc=f"train {config.model}", unit="epoch") as bar:

        def on_epoch(m):
            bar.set_postfix(loss=_fmt(m.loss), acc=_fmt(m.accuracy), val_loss=_fmt(m.val_loss), val_acc=_fmt(m.val_accuracy))
            bar.update(1)

        result = train_run(config, split, on_epoch=on_epoch, should_stop=lambda: ctrl_c.pressed)

    if result.status == "diverged":
        print(f"diverged at epoch {len(result.history)}: {result.detail}; nothing saved")
        return 1
    if result.status == "cancelled":
        print(f"cancelled after {len(result.history)} epochs; nothing saved")
        return 130
    card = result.card
    card["data"]["split"] = {"test_size": test_size, "balanced": not args.unbalanced, "random_state": 42}
    if args.name:
        card["name"] = args.name
    if args.kfold is not None:
        card["kfold"] = _kfold_entry(config, args, settings)
    save_model(result.model, card, out)
    val = card.get("val_accuracy")
    print(f"saved {out} (val accuracy {_fmt(val)})" if val is not None else f"saved {out}")
    if "kfold" in card:
        k = card["kfold"]
        print(f"k-fold top-1 {k['top1_mean']:.3f} ± {k['top1_std']:.3f}, top-3 {k['top3_mean']:.3f} ± {k['top3_std']:.3f}")
    return 0


def _kfold_entry(config, args, settings) -> dict:
    """Score the same recipe by repeated stratified k-fold on every stroke drawing of the classes."""
    from tqdm import tqdm

    from ..evaluate import evaluate_kfold, load_eval_data

    data = load_eval_data(settings.data_dir, config.classes)
    total = args.kfold * args.kfold_repeats
    with tqdm(total=total, desc="k-fold", unit="fold") as bar:
        report = evaluate_kfold(
            data, models=(config.model,), folds=args.kfold, repeats=args.kfold_repeats, seed=config.seed,
            configs={config.model: config}, on_progress=lambda done, tot, label: (bar.update(1), bar.set_postfix_str(label)),
        )
    return report.kfold_entry(config.model)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4g}"


# ---------------------------------------------------------------- evaluate


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="k-fold accuracy table, or a saved model on its held-out split")
    p.add_argument("--model-dir", action="append", default=None, metavar="DIR",
                   help="score this saved model on the held-out 20%% of its card's data (repeatable)")
    p.add_argument("--models", default="mlp,cnn,strong,baseline", help="k-fold: models to compare")
    p.add_argument("--classes", default=None, help="k-fold: comma-separated classes (default: QuickDraw-10)")
    p.add_argument("--folds", type=int, default=5, help="k-fold: folds (default: 5)")
    p.add_argument("--repeats", type=int, default=2, help="k-fold: repeats (default: 2)")
    p.add_argument("--epochs", type=int, default=None, help="k-fold: override every recipe's epochs")
    p.add_argument("--seed", type=int, default=0, help="k-fold: seed (default: 0)")
    p.add_argument("--json", default=None, metavar="FILE", help="k-fold: also write the full report as JSON")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args, settings) -> int:
    if args.model_dir:
        return _evaluate_saved(args.model_dir, settings)
    return _evaluate_kfold(args, settings)


def _evaluate_kfold(args, settings) -> int:
    from tqdm import tqdm

    from ..evaluate import MODEL_NAMES, evaluate_kfold, load_eval_data

    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown or not models:
        raise UserError(f"--models: choose from {', '.join(MODEL_NAMES)}")
    data = load_eval_data(settings.data_dir, classes_arg(args.classes))
    try:
        with tqdm(total=args.folds * args.repeats * len(models), desc="k-fold", unit="fit") as bar:
            report = evaluate_kfold(
                data, models=models, folds=args.folds, repeats=args.repeats, seed=args.seed, epochs=args.epochs,
                on_progress=lambda done, tot, label: (bar.update(1), bar.set_postfix_str(label)),
            )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(report.table())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    return 0


def _evaluate_saved(dirs, settings) -> int:
    import numpy as np

    from ..training import RunConfig, predict_proba, prepare_split
    from ..cards import ModelLoadError, confusion_matrix, load_model

    for d in dirs:
        try:
            model, card = load_model(d)
        except ModelLoadError as exc:
            raise UserError(str(exc)) from None
        config = replace(RunConfig.from_dict(card.get("hyperparameters") or {}), classes=tuple(card["classes"]),
                         augment=False)
        how = (card.get("data") or {}).get("split") or {}
        split = prepare_split(settings.data_dir, config, settings.dataset_cache_dir,
                              balanced=bool(how.get("balanced", True)))
        probs = predict_proba(model, split.X_val)
        pred = probs.argmax(axis=1)
        top3 = (np.argsort(-probs, axis=1)[:, :3] == split.y_val[:, None]).any(axis=1)
        print(f"{d}: {card.get('name', '')}")
        if (card.get("data") or {}).get("n_val") == 0:
            print("  note: this model was trained on every drawing; these rows are not held out")
        print(f"  held-out split of {split.source}: {len(split.y_val)} drawings")
        print(f"  top-1 {np.mean(pred == split.y_val):.3f}, top-3 {np.mean(top3):.3f}")
        matrix = confusion_matrix(split.y_val, pred, len(split.classes))
        width = max(len(c) for c in split.classes)
        print("  confusion matrix (rows = true class):")
        for name, row in zip(split.classes, matrix):
            print(f"  {name:>{width}} " + " ".join(f"{v:>3}" for v in row))
    return 0


# ---------------------------------------------------------------- predict


def _predict_parser(sub) -> None:
    p = sub.add_parser("predict", help="top-k guesses for a drawing: an ndjson line (text or file) or a PNG")
    p.add_argument("drawing", help="an ndjson line, a .ndjson file (every line, up to --limit) or an image file")
    p.add_argument("--model-dir", action="append", default=None, metavar="DIR",
                   help="model folder (repeatable; default: the app's mlp and cnn)")
    p.add_argument("-k", "--top", type=int, default=3, help="how many guesses per model (default: 3)")
    p.add_argument("--limit", type=int, default=10, help="at most this many drawings from a file (default: 10)")
    p.set_defaults(func=cmd_predict)


def _default_model_dirs(settings) -> dict[str, Path]:
    from ..registry import active_models

    active = active_models(settings)
    return {kind: active[kind].path for kind in ("mlp", "cnn") if kind in active}


def _inputs(text: str, limit: int):
    """(label, ("strokes", strokes) | ("bitmap", image)) for each drawing the argument holds."""
    from PIL import Image, UnidentifiedImageError

    from ..data.formats import drawing_from_record, parse_json
    from ..limits import DrawingLimitError
    from ..predict import bitmap_from_image

    def parse(line: str, where: str):
        try:
            record = parse_json(line)  # a ValueError for bad JSON, deep nesting included
            if isinstance(record, Exception):
                raise record
            if isinstance(record, list):  # a bare drawing: [[xs, ys], ...]
                record = {"drawing": record}
            return drawing_from_record(record)
        except DrawingLimitError:
            raise  # already a one-line user message
        except (ValueError, TypeError, RecursionError) as exc:
            raise UserError(f"{where}: not a Quick Draw drawing ({exc})") from None

    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        d = parse(stripped, "argument")
        return [(d.word or "drawing", ("strokes", d.strokes))]
    path = Path(text)
    if not path.is_file():
        raise UserError(f"{text}: no such file, and not an ndjson line")
    if path.suffix.lower() in (".ndjson", ".json", ".jsonl"):
        out = []
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if line.strip():
                    d = parse(line, f"{path}:{i}")
                    out.append((f"{path.name}:{i} {d.word}".rstrip(), ("strokes", d.strokes)))
                if len(out) >= limit:
                    break
        if not out:
            raise UserError(f"{path}: no drawings in the file")
        return out
    try:
        with Image.open(path) as img:
            return [(path.name, ("bitmap", bitmap_from_image(img)))]
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path}: not an ndjson file or an image ({exc})") from None


def cmd_predict(args, settings) -> int:
    from ..predict import Predictor
    from ..cards import ModelLoadError

    if args.model_dir:
        names = [Path(d).resolve().name for d in args.model_dir]
        unique = len(set(names)) == len(names)
        dirs = {(n if unique else d): Path(d) for n, d in zip(names, args.model_dir)}
    else:
        dirs = _default_model_dirs(settings)
    if not dirs:
        raise UserError(f"no models found in {settings.models_dir}: set SKETCHLAB_MODELS to a folder of "
                        "<kind>/model.keras + card.json, or train one with `sketchlab train`")
    try:
        predictor = Predictor.from_dirs(dirs)
    except ModelLoadError as exc:
        raise UserError(str(exc)) from None
    for label, (kind, value) in _inputs(args.drawing, args.limit):
        pred = predictor.predict_strokes(value, args.top) if kind == "strokes" else predictor.predict_bitmap(value, args.top)
        print(label)
        if pred.empty:
            print("  empty drawing: nothing to recognize")
            continue
        for name, guesses in pred.top_k.items():
            text = ", ".join(f"{c} {p:.3f}" for c, p in guesses) or pred.errors.get(name, "no answer")
            print(f"  {name:<8} {text}")
    return 0
