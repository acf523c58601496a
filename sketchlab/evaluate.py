"""How well each model does, per class: a held-out split of every drawing, and k-fold.

The shipped models are scored on a held-out split of every drawing of every source
(`heldout_split`: 20%, stratified per class AND per source, fixed seed 42), or on
stratified folds of the same (`fold_splits`) where a class is too thin for one split to
say much: per-class recall, class-balanced accuracy (mean recall: what a person drawing
an alarm clock feels), pooled top-1 / top-3 and the confusion matrix, with a spread
(over folds, or by bootstrap of the held-out rows within each class).

    data = load_all_data(data_dir)
    report = evaluate_splits(data, [heldout_split(data)], models=MODEL_NAMES)
    print(report.table())
    card["heldout"] = report.card_entry("cnn")

The older stroke-only repeated k-fold (`evaluate_kfold`, below) is kept for
`sketchlab evaluate --folds` and `train --kfold`:

One 80/20 split of ~340 drawings tests only 68 of them, and top-1 moves by about ±4 points
from one such split to the next, so the figures SketchLab quotes come from here instead:
every drawing is tested once per repeat, by models that never saw it. On each fold the
MLP, the CNN and the stronger model are trained with `training.train_run` (stroke
augmentation on the training fold only) and a scikit-learn baseline (logistic regression
on the pixels) is fitted on the same rows.

    data = load_eval_data(data_dir)                       # every distinct drawing, unbalanced
    report = evaluate_kfold(data, folds=5, repeats=2, on_progress=print)
    print(report.table())
    card["kfold"] = report.kfold_entry("cnn")

`RECIPES` are the hyperparameters the shipped models are trained with, so a shipped
model's k-fold figures describe the same recipe on 4/5 of the data.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from .categories import QUICKDRAW_10
from .data.dataset import AllData, DatasetSpec, StrokeData, load_stroke_data, split_indices
from .data.raster import bitmap_to_input, rasterize_strokes
from .training import RunConfig, TrainSplit, predict_proba, train_run
from .cards import balanced_accuracy, confusion_matrix, per_class_recall

BASELINE = "baseline"
# The classes with only 20-33 stroke drawings: the ones balance must not drown.
THIN_CLASSES = ("anvil", "ant", "The Eiffel Tower", "The Great Wall of China")
HELDOUT_SIZE, HELDOUT_SEED = 0.2, 42
MODEL_NAMES = ("mlp", "cnn", "strong", BASELINE)
TOP_K = 3

# The recipe for ~17,800 drawings, 400x unbalanced (every source, `load_all_data`): Adam,
# class-balanced sampling (each epoch draws as many rows as the data has, every class
# equally likely: chosen over class weights and over nothing by benchmarks/balance.py, on
# a validation split inside the training part), augmentation every epoch (strokes for
# stroke drawings, `augment_bitmaps` for bitmap-only rows), batch 64, a fixed number of
# epochs (no early stopping: the shipped models, trained on every drawing, have no
# held-out rows to stop on). Epochs are set by the 20-minute budget for training all three
# on 2 CPU cores (models/train_defaults.sh). The CNN and the strong model sample classes
# ∝ √count ("sqrt") instead: on that validation split (benchmarks/balance.py --model cnn
# --epochs 20) equal shares cut airplane to a thin class's share and left airplane at 0.73
# recall, alarm clock 0.76; √count shares gave 0.97 and 0.89 (the six big classes' mean
# recall 0.864 -> 0.933), the thin classes' 12 validation drawings 10 -> 8 right.
RECIPES: dict[str, RunConfig] = {
    "mlp": RunConfig(model="mlp", optimizer="Adam", learning_rate=1e-3, batch_size=64, epochs=20,
                     balance="sampling"),
    "cnn": RunConfig(model="cnn", optimizer="Adam", learning_rate=1e-3, batch_size=64, epochs=20,
                     balance="sqrt"),
    "strong": RunConfig(model="strong", optimizer="Adam", learning_rate=1e-3, batch_size=64, epochs=8,
                        balance="sqrt"),
}


def load_eval_data(data_dir, classes=QUICKDRAW_10) -> StrokeData:
    """Every distinct stroke drawing of `classes` (simplified ∪ raw by key_id), not cut to balance."""
    return load_stroke_data(data_dir, DatasetSpec(classes=tuple(classes), balanced=False))


def kfold_splits(labels: np.ndarray, folds: int = 5, repeats: int = 2, seed: int = 0):
    """(train_rows, test_rows) pairs of repeated stratified k-fold, repeat by repeat."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    counts = np.bincount(labels)
    counts = counts[counts > 0]
    if folds < 2 or repeats < 1:
        raise ValueError(f"need folds >= 2 and repeats >= 1, got folds={folds}, repeats={repeats}")
    if counts.min() < folds:
        raise ValueError(
            f"{folds} folds need at least {folds} drawings per class; the smallest has {counts.min()}"
        )
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(cv.split(np.zeros(len(labels)), labels))


def topk_hits(probs: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Per row: is the true class among the k most probable?"""
    k = min(k, probs.shape[1])
    top = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    return (top == np.asarray(y)[:, None]).any(axis=1)


@dataclass
class ModelScores:
    """One model's score on every fold, in fold order."""

    name: str
    top1: list[float] = field(default_factory=list)
    top3: list[float] = field(default_factory=list)
    seconds: float = 0.0
    statuses: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        t1, t3 = np.asarray(self.top1), np.asarray(self.top3)
        return {
            "top1_mean": float(t1.mean()),
            "top1_std": float(t1.std()),
            "top3_mean": float(t3.mean()),
            "top3_std": float(t3.std()),
        }


@dataclass
class KFoldReport:
    """The result of `evaluate_kfold`: per-model, per-fold scores and what they were measured on."""

    scores: dict[str, ModelScores]
    classes: list[str]
    counts: dict[str, int]
    folds: int
    repeats: int
    seed: int
    source: str
    configs: dict[str, dict]
    seconds: float = 0.0

    @property
    def n_drawings(self) -> int:
        return int(sum(self.counts.values()))

    def kfold_entry(self, name: str) -> dict:
        """The model card's `kfold` entry for model `name`."""
        return {**self.scores[name].summary(), "folds": self.folds, "repeats": self.repeats,
                "n_drawings": self.n_drawings}

    def paired(self, a: str, b: str) -> dict:
        """Model `a` against model `b` on the same folds: mean top-1 difference, folds won/tied/lost."""
        diff = np.asarray(self.scores[a].top1) - np.asarray(self.scores[b].top1)
        return {"top1_diff_mean": float(diff.mean()), "wins": int((diff > 0).sum()),
                "ties": int((diff == 0).sum()), "losses": int((diff < 0).sum())}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_drawings"] = self.n_drawings
        d["summary"] = {name: self.kfold_entry(name) for name in self.scores}
        return d

    def table(self) -> str:
        """A plain-text table: one row per model, top-1 and top-3 as mean ± std over folds."""
        lines = [
            f"{self.folds}-fold x {self.repeats} repeats stratified CV on {self.n_drawings} drawings, "
            f"{len(self.classes)} classes ({self.source})",
            f"{'model':<10} {'top-1':>15} {'top-3':>15} {'seconds':>8}",
        ]
        for name, s in self.scores.items():
            m = s.summary()
            failed = sum(status != "done" for status in s.statuses)
            lines.append(
                f"{name:<10} {m['top1_mean']:>7.3f} ± {m['top1_std']:.3f} "
                f"{m['top3_mean']:>7.3f} ± {m['top3_std']:.3f} {s.seconds:>8.0f}"
                + (f"  ({failed} of {len(s.statuses)} runs diverged)" if failed else "")
            )
        return "\n".join(lines)


def _fit_baseline(X_train, y_train, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit(X_train, y_train)


def _baseline_proba(model, X: np.ndarray, n_classes: int) -> np.ndarray:
    # A class absent from a training fold has no column in sklearn's output: put it back as 0.
    probs = np.zeros((len(X), n_classes))
    probs[:, model.classes_] = model.predict_proba(X)
    return probs


def evaluate_kfold(
    data: StrokeData,
    models=MODEL_NAMES,
    folds: int = 5,
    repeats: int = 2,
    seed: int = 0,
    epochs: int | None = None,
    configs: dict[str, RunConfig] | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> KFoldReport:
    """Score `models` on the same repeated stratified folds of `data`.

    `models`: names from MODEL_NAMES. `configs` overrides the recipe of a model kind
    (its classes are replaced by the data's); `epochs` overrides every recipe's epochs.
    Fold i trains with seed `config.seed + seed + i`. A model config with early stopping gets 15% of
    the training fold (stratified) as its validation rows; the test fold is never used
    for training or stopping. `on_progress(done, total, label)` is called after each
    model on each fold.
    """
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES)}")
    strokes = [d.strokes for d in data.drawings]
    y = np.asarray(data.labels, dtype=np.int64)
    n_classes = len(data.classes)
    X = bitmap_to_input(rasterize_strokes(strokes))
    splits = kfold_splits(y, folds, repeats, seed)

    run_configs: dict[str, RunConfig] = {}
    for kind in models:
        if kind == BASELINE:
            continue
        base = (configs or {}).get(kind) or RECIPES[kind]
        config = replace(base, classes=tuple(data.classes))
        run_configs[kind] = replace(config, epochs=epochs) if epochs is not None else config

    scores = {m: ModelScores(m) for m in models}
    total, done = len(splits) * len(models), 0
    start = time.perf_counter()
    for i, (train_rows, test_rows) in enumerate(splits):
        for kind in models:
            t0 = time.perf_counter()
            if kind == BASELINE:
                baseline = _fit_baseline(X[train_rows], y[train_rows], seed + i)
                probs = _baseline_proba(baseline, X[test_rows], n_classes)
                status = "done"
            else:
                config = replace(run_configs[kind], seed=run_configs[kind].seed + seed + i)
                split = _fold_split(X, y, strokes, train_rows, config, data, seed + i)
                result = train_run(config, split)
                status = result.status
                probs = predict_proba(result.model, X[test_rows])
            s = scores[kind]
            if status == "diverged":  # its outputs are NaN: it gets nothing right
                s.top1.append(0.0)
                s.top3.append(0.0)
            else:
                s.top1.append(float(topk_hits(probs, y[test_rows], 1).mean()))
                s.top3.append(float(topk_hits(probs, y[test_rows], TOP_K).mean()))
            s.statuses.append(status)
            s.seconds += time.perf_counter() - t0
            done += 1
            if on_progress is not None:
                on_progress(done, total, f"fold {i + 1}/{len(splits)} {kind}: top-1 {s.top1[-1]:.3f}")

    return KFoldReport(
        scores=scores,
        classes=list(data.classes),
        counts=data.counts(),
        folds=folds,
        repeats=repeats,
        seed=seed,
        source=data.source,
        configs={k: c.to_dict() for k, c in run_configs.items()},
        seconds=time.perf_counter() - start,
    )


def _fold_split(X, y, strokes, train_rows, config: RunConfig, data: StrokeData, seed: int) -> TrainSplit:
    """The training fold as a TrainSplit; with early stopping, 15% of it becomes validation."""
    val_rows = np.zeros(0, dtype=np.int64)
    if config.early_stopping_patience is not None:
        from sklearn.model_selection import train_test_split

        train_rows, val_rows = train_test_split(
            train_rows, test_size=0.15, random_state=seed, stratify=y[train_rows]
        )
    return TrainSplit(
        X_train=X[train_rows],
        y_train=y[train_rows],
        X_val=X[val_rows],
        y_val=y[val_rows],
        classes=list(data.classes),
        source=data.source,
        train_strokes=[strokes[r] for r in train_rows] if config.augment else None,
    )


# ---------------------------------------------------------------- every drawing, per class


def heldout_split(data: AllData, test_size: float = HELDOUT_SIZE, seed: int = HELDOUT_SEED):
    """(train_rows, test_rows): the held-out split, stratified per class and per source."""
    return split_indices(data.labels, test_size, seed, data.strata())


def fold_splits(data: AllData, folds: int = 5, seed: int = 0):
    """(train_rows, test_rows) of stratified k-fold per class and source (by class alone
    when some class x source has fewer rows than folds)."""
    from sklearn.model_selection import StratifiedKFold

    strata = data.strata()
    _, inverse = np.unique(strata, return_inverse=True)
    if np.bincount(inverse).min() < folds:
        strata = data.labels
    if np.bincount(strata).min(initial=folds) < folds:
        raise ValueError(f"{folds} folds need at least {folds} drawings per class")
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(strata)), strata))


def split_of(data: AllData, train_rows, val_rows=()) -> TrainSplit:
    """The rows as a TrainSplit, strokes kept (None for bitmap-only rows) for augmentation."""
    train_rows = np.asarray(train_rows, dtype=np.int64)
    val_rows = np.asarray(val_rows, dtype=np.int64)
    X = bitmap_to_input(data.images)
    return TrainSplit(X[train_rows], data.labels[train_rows], X[val_rows], data.labels[val_rows],
                      list(data.classes), data.source, train_strokes=[data.strokes[r] for r in train_rows])


@dataclass
class SplitScores:
    """One model on one test split."""

    confusion: list[list[int]]
    top1: float
    top3: float
    seconds: float
    status: str = "done"

    @property
    def recall(self) -> list[float | None]:
        return per_class_recall(self.confusion)

    @property
    def balanced(self) -> float:
        return balanced_accuracy(self.confusion) or 0.0


def bootstrap_std(confusion, y_pred_by_class=None, reps: int = 400, seed: int = 0) -> tuple[float, list[float]]:
    """Spread of the class-balanced accuracy and of each class's recall on ONE test split:
    the std over `reps` resamples of each class's test rows (with replacement, per class)."""
    m = np.asarray(confusion, dtype=np.int64)
    rng = np.random.default_rng(seed)
    n_classes = len(m)
    samples = np.zeros((reps, n_classes))
    for c in range(n_classes):
        n = int(m[c].sum())
        if n == 0:
            samples[:, c] = np.nan
            continue
        samples[:, c] = rng.binomial(n, m[c, c] / n, reps) / n  # resampled rows: hits ~ Binomial
    return float(np.nanmean(samples, axis=1).std()), [float(v) for v in np.nanstd(samples, axis=0)]


@dataclass
class PerClassReport:
    """Every model on the same splits: `scores[model][i]` is split i."""

    scores: dict[str, list[SplitScores]]
    classes: list[str]
    counts: dict[str, dict[str, int]]  # per class: {"strokes": n, "bitmaps": m}
    test_counts: list[int]  # test rows per class (first split)
    how: str  # "held-out split ..." or "k-fold ..."
    source: str
    configs: dict[str, dict]
    seconds: float = 0.0

    def summary(self, name: str) -> dict:
        """Mean and spread: over the splits when there are several, else by bootstrap."""
        s = self.scores[name]
        recall = np.array([[np.nan if r is None else r for r in x.recall] for x in s], dtype=float)
        bal = np.array([x.balanced for x in s])
        if len(s) > 1:
            bal_std, recall_std, spread = float(bal.std()), np.nanstd(recall, axis=0).tolist(), f"std over {len(s)} folds"
        else:
            bal_std, recall_std = bootstrap_std(s[0].confusion)
            spread = "bootstrap std (test rows resampled per class)"
        return {
            "balanced_accuracy": float(bal.mean()), "balanced_accuracy_std": bal_std,
            "top1": float(np.mean([x.top1 for x in s])), "top1_std": float(np.std([x.top1 for x in s])),
            "top3": float(np.mean([x.top3 for x in s])),
            "per_class_recall": dict(zip(self.classes, np.nanmean(recall, axis=0).tolist())),
            "per_class_recall_std": dict(zip(self.classes, recall_std)),
            "min_recall": float(np.nanmin(np.nanmean(recall, axis=0))),
            "confusion_matrix": np.sum([x.confusion for x in s], axis=0).tolist(),
            "spread": spread, "how": self.how, "n_test": int(sum(self.test_counts)),
        }

    def card_entry(self, name: str) -> dict:
        """The model card's `heldout` entry: the recipe's per-class figures on these splits."""
        return {**self.summary(name), "recipe": self.configs.get(name)}

    @classmethod
    def from_dict(cls, d: dict) -> "PerClassReport":
        """The report `to_dict` wrote (e.g. benchmarks/accuracy.py --json), to print or put on cards again."""
        scores = {m: [SplitScores(**x) for x in s] for m, s in d["per_split"].items()}
        return cls(scores, list(d["classes"]), d["counts"], list(d["test_counts"]), d["how"], d["source"],
                   d["configs"], float(d.get("seconds", 0.0)))

    def to_dict(self) -> dict:
        return {"how": self.how, "source": self.source, "classes": self.classes, "counts": self.counts,
                "test_counts": self.test_counts, "configs": self.configs, "seconds": self.seconds,
                "summary": {m: self.summary(m) for m in self.scores},
                "per_split": {m: [asdict(x) for x in s] for m, s in self.scores.items()}}

    def table(self) -> str:
        lines = [f"{self.how} of {sum(sum(v.values()) for v in self.counts.values())} drawings "
                 f"({self.source}); {sum(self.test_counts)} test rows per split",
                 f"{'model':<9} {'balanced acc':>15} {'top-1':>7} {'top-3':>7} {'min recall':>10} {'seconds':>8}"]
        for name in self.scores:
            m = self.summary(name)
            failed = sum(x.status != "done" for x in self.scores[name])
            lines.append(f"{name:<9} {m['balanced_accuracy']:>7.3f} ± {m['balanced_accuracy_std']:.3f} "
                         f"{m['top1']:>7.3f} {m['top3']:>7.3f} {m['min_recall']:>10.3f} "
                         f"{sum(x.seconds for x in self.scores[name]):>8.0f}"
                         + (f"  ({failed} runs did not finish)" if failed else ""))
        lines.append(f"(± is the {self.summary(next(iter(self.scores)))['spread']})")
        lines.append("")
        lines.append(self.per_class_table())
        return "\n".join(lines)

    def per_class_table(self, markdown: bool = False) -> str:
        """Per-class recall of every model, with the class's drawings by source."""
        names = list(self.scores)
        sums = {n: self.summary(n) for n in names}
        head = ["class", "strokes", "bitmaps", "test"] + names
        rows = []
        for i, c in enumerate(self.classes):
            rows.append([c, str(self.counts[c]["strokes"]), str(self.counts[c]["bitmaps"]), str(self.test_counts[i])]
                        + [f"{sums[n]['per_class_recall'][c]:.3f} ± {sums[n]['per_class_recall_std'][c]:.3f}"
                           for n in names])
        rows.append(["class-balanced", "", "", str(sum(self.test_counts))]
                    + [f"{sums[n]['balanced_accuracy']:.3f} ± {sums[n]['balanced_accuracy_std']:.3f}" for n in names])
        if markdown:
            out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
            out += ["| " + " | ".join(r) + " |" for r in rows]
            return "\n".join(out)
        widths = [max(len(r[j]) for r in rows + [head]) for j in range(len(head))]
        fmt = lambda r: " ".join(v.ljust(widths[0]) if j == 0 else v.rjust(widths[j]) for j, v in enumerate(r))  # noqa: E731
        return "\n".join([fmt(head)] + [fmt(r) for r in rows])


def evaluate_splits(
    data: AllData,
    splits,
    models=MODEL_NAMES,
    configs: dict[str, RunConfig] | None = None,
    epochs: int | None = None,
    how: str = "held-out split",
    on_progress: Callable[[int, int, str], None] | None = None,
) -> PerClassReport:
    """Train each model on each split's training rows (augmented, with its recipe) and
    score it on the split's test rows, which are never used for training or stopping."""
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES)}")
    n_classes = len(data.classes)
    X = bitmap_to_input(data.images)
    y = data.labels
    run_configs = {}
    for kind in models:
        if kind != BASELINE:
            config = replace((configs or {}).get(kind) or RECIPES[kind], classes=tuple(data.classes))
            run_configs[kind] = replace(config, epochs=epochs) if epochs is not None else config
    scores: dict[str, list[SplitScores]] = {m: [] for m in models}
    total, done, start = len(splits) * len(models), 0, time.perf_counter()
    for i, (train_rows, test_rows) in enumerate(splits):
        for kind in models:
            t0 = time.perf_counter()
            status = "done"
            if kind == BASELINE:
                probs = _baseline_proba(_fit_baseline(X[train_rows], y[train_rows], i), X[test_rows], n_classes)
            else:
                result = train_run(replace(run_configs[kind], seed=run_configs[kind].seed + i),
                                   split_of(data, train_rows))
                status = result.status
                probs = predict_proba(result.model, X[test_rows])
            yt = y[test_rows]
            ok = status != "diverged"
            scores[kind].append(SplitScores(
                confusion=confusion_matrix(yt, probs.argmax(1), n_classes),
                top1=float(topk_hits(probs, yt, 1).mean()) if ok else 0.0,
                top3=float(topk_hits(probs, yt, TOP_K).mean()) if ok else 0.0,
                seconds=time.perf_counter() - t0, status=status))
            done += 1
            if on_progress is not None:
                on_progress(done, total, f"split {i + 1}/{len(splits)} {kind}: balanced {scores[kind][-1].balanced:.3f}")
    test_counts = np.bincount(y[splits[0][1]], minlength=n_classes).tolist()
    return PerClassReport(scores, list(data.classes), data.source_counts(), test_counts, how, data.source,
                          {k: c.to_dict() for k, c in run_configs.items()}, time.perf_counter() - start)
