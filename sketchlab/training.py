"""One training run: config + data split in, trained model + model card out.

    config = RunConfig(model="cnn", optimizer="Adam", learning_rate=1e-3, epochs=10)
    split = prepare_split(settings.data_dir, config, settings.dataset_cache_dir)
    result = train_run(config, split, on_epoch=print, should_stop=lambda: False)
    cards.save_model(result.model, result.card, "runs/cnn-1")

A run reports every epoch to `on_epoch` as it happens, polls `should_stop` (between
batches, at most a few times a second, so a cancel is noticed within an epoch), and
ends in one of three states:
- "done": all epochs ran (or early stopping ended it; the best weights are restored);
- "diverged": the run failed to converge: the loss became NaN/inf, or exploded far above
  ln(n_classes), or the network collapsed to one constant answer for every drawing
  (dead ReLUs), or, judged at the end of a run of at least `JUDGE_AFTER_EPOCHS` epochs, it
  learned nothing a user would call learning (`did_not_converge`: its loss never got well
  below chance level ln(n_classes) and its accuracy stayed near chance; seed 000's SGD at
  lr = 1 "fails to converge" this way, collapsed or not depending on the CPU); the
  history is kept, `RunResult.detail` says which, the card has no accuracy;
- "cancelled": `should_stop()` said so; the completed epochs are kept.

Runs are reproducible from `config.seed`: weights, dropout, shuffling, class-balanced
sampling and augmentation are all drawn from it. With `config.augment`, every epoch trains
on freshly distorted drawings: stroke drawings through `sketchlab.data.augment.augment_strokes`
(then rasterized), bitmap-only rows through `augment_bitmaps`, prepared in a background
thread while the previous epoch trains. `config.balance` handles unbalanced classes:
"sampling" draws each epoch's rows so that every class is equally likely (the thin
classes are seen as often as airplane, each time freshly augmented), "sqrt" draws them
with class shares ∝ √(class rows) (partial balancing), "weights" weighs
each row's loss by 1 / its class's share, "none" trains on the rows as they are.
Saving and loading the model folder is `sketchlab.cards`' job.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from typing import Callable

import numpy as np

from .categories import QUICKDRAW_10, canonical_category
from .cards import balanced_accuracy, confusion_matrix, versions
from .models import MODEL_KINDS, architecture_text, build_model

RUN_OUTCOMES = ("done", "diverged", "cancelled")  # how a run ends (a sweep's runs have more states)
OPTIMIZERS = ("Adadelta", "Adagrad", "Adam", "Ftrl", "SGD", "RMSprop")
# A run has diverged when its mean training loss exceeds ln(n_classes) by this many nats:
# the true class then gets on average < 1/150 of a uniform guess's probability.
EXPLODE_MARGIN = 5.0
# A network whose output has not depended on its input for this many epochs has collapsed
# (measured on seed 000's SGD at lr = 1: dead from ~epoch 13-16 on, stuck at ln(10)).
COLLAPSE_EPOCHS = 3
# should_stop() may be costly (a database read in a sweep): poll it at most this often.
POLL_SECONDS = 0.25
# Batches per call into the compiled train step: ~2x faster epochs for the MLP at batch 32
# (benchmarks/train_speed.py). Callbacks (cancel, divergence) then run every this many batches.
STEPS_PER_EXECUTION = 32
BALANCE_MODES = ("none", "weights", "sampling", "sqrt")
# Class shares per epoch of each sampling mode: share ∝ rows_of_class ** power ("sampling":
# equal; "sqrt": partial, so airplane is not cut to a thin class's share).
SAMPLING_POWER = {"sampling": 0.0, "sqrt": 0.5}
# `did_not_converge` judges only runs at least this long: a short run of a slow optimizer
# (Adadelta at 1e-3) may still be near chance after a few epochs and yet be healthy.
JUDGE_AFTER_EPOCHS = 10
# "Learned nothing": over the last epochs the loss stayed above this share of ln(n_classes)
# AND the accuracy below this many times chance (1 / n_classes). Both must hold.
NO_LEARNING_LOSS_SHARE = 0.8
NO_LEARNING_ACCURACY_FACTOR = 2.5
JUDGE_LAST_EPOCHS = 3


# ---------------------------------------------------------------- configuration


@dataclass
class RunConfig:
    """The hyperparameters of one run (seed 000's defaults)."""

    model: str = "mlp"
    optimizer: str = "SGD"
    learning_rate: float = 0.01
    batch_size: int = 32
    epochs: int = 25
    classes: tuple[str, ...] = QUICKDRAW_10
    per_class: int | None = None
    seed: int = 0
    augment: bool = True
    early_stopping_patience: int | None = None
    balance: str = "none"  # one of BALANCE_MODES

    def __post_init__(self):
        self.classes = tuple(self.classes)

    def validate(self) -> "RunConfig":
        """Raise ValueError "field: why" for the first bad field; return self (optimizer spelling
        made canonical) when all are fine. The one check of every hyperparameter."""
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model: unknown model {self.model!r}; choose from {', '.join(MODEL_KINDS)}")
        try:
            self.optimizer = optimizer_name(self.optimizer)
        except ValueError as exc:
            raise ValueError(f"optimizer: {exc}") from None
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)):
            raise ValueError(f"learning_rate: {lr!r} is not a number")
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning_rate: must be a number above 0 (got {lr!r})")
        _check_int("batch_size", self.batch_size, 1)
        _check_int("epochs", self.epochs, 1)
        _check_int("seed", self.seed, 0)
        if self.per_class is not None:
            _check_int("per_class", self.per_class, 2)
        if self.early_stopping_patience is not None:
            _check_int("early_stopping_patience", self.early_stopping_patience, 1)
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment: must be true or false, got {self.augment!r}")
        if self.balance not in BALANCE_MODES:
            raise ValueError(f"balance: must be one of {', '.join(BALANCE_MODES)} (got {self.balance!r})")
        if len(self.classes) < 2:
            raise ValueError(f"classes: need at least 2 classes, got {len(self.classes)}")
        canonical = []
        for name in self.classes:
            try:
                canonical.append(canonical_category(str(name)))
            except ValueError:
                raise ValueError(f"classes: {name!r} is not a Quick Draw category") from None
        if len(set(canonical)) != len(canonical):
            raise ValueError("classes: a class is listed twice")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """Build from a dict (unknown keys are ignored, so older/newer cards still load)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: must be a whole number (got {value!r})")
    if value < minimum:
        raise ValueError(f"{name}: must be at least {minimum} (got {value!r})")


def _finite_or_none(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class EpochMetrics:
    """What one epoch measured; `seconds` is its wall time (training + validation)."""

    epoch: int
    loss: float | None
    accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    seconds: float

    def to_dict(self) -> dict:
        """Plain JSON-safe dict: NaN/inf become None."""
        d = asdict(self)
        for k in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
            d[k] = _finite_or_none(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EpochMetrics":
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})


@dataclass
class TrainSplit:
    """Train and validation arrays (X float32 (N, 784) in [0, 1], y int64) and class names.

    `train_strokes`: the normalized strokes of each training row, in the same order, None
    for a row that exists only as a bitmap; given, they enable augmentation (strokes for
    stroke rows, `augment_bitmaps` for the others).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    classes: list[str]
    source: str
    train_strokes: list | None = None


@dataclass
class RunResult:
    status: str  # one of RUN_OUTCOMES
    history: list[EpochMetrics]
    model: object  # keras.Model
    card: dict = field(default_factory=dict)
    detail: str = ""  # why a run diverged, in words


# ---------------------------------------------------------------- data


def prepare_split(data_dir, config: RunConfig, cache_dir=None, *, test_size: float = 0.2,
                  balanced: bool = True) -> TrainSplit:
    """Seed 000's 80/20 split (random_state 42) of `config.classes`, stratified per class and
    per source, on every drawing of every source (`dataset.load_all_data`).

    With augmentation the rows keep their strokes (None for bitmap-only rows); without,
    the cached bitmap builder gives the same rows. The split does not depend on
    `config.seed`, so runs with different seeds share it.
    `test_size=0` trains on every drawing (empty validation split, e.g. for shipped
    models scored on a held-out split by benchmarks/accuracy.py instead); `balanced=False`
    keeps every drawing of every class instead of cutting each class to the smallest
    one's count (seed 004); `config.per_class` caps each class (strokes first).
    """
    from .data.dataset import DatasetSpec, build_dataset, load_all_data, split_indices
    from .data.raster import bitmap_to_input

    if not 0.0 <= test_size < 1.0:
        raise ValueError(f"test_size: must be in [0, 1), got {test_size!r}")
    spec = DatasetSpec(
        classes=tuple(config.classes), per_class=config.per_class, balanced=balanced,
        test_size=test_size or 0.2,
    )
    if not config.augment and test_size > 0:
        # No strokes needed: the bitmap builder is cached on disk and returns the same rows.
        ds = build_dataset(data_dir, spec, cache_dir)
        return TrainSplit(ds.X_train, ds.y_train, ds.X_test, ds.y_test, ds.classes, ds.source)
    data = load_all_data(data_dir, spec.classes, spec.per_class, spec.recognized_only, balanced)
    if test_size > 0:
        train, val = split_indices(data.labels, test_size, spec.seed, data.strata())
    else:
        train, val = np.arange(len(data.labels)), np.zeros(0, dtype=np.int64)
    X = bitmap_to_input(data.images)
    return TrainSplit(
        X[train],
        data.labels[train],
        X[val],
        data.labels[val],
        list(data.classes),
        data.source,
        train_strokes=[data.strokes[i] for i in train],
    )


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-row weight n / (classes present x rows of its class): every class weighs the same."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = int((counts > 0).sum())
    return (len(y) / (present * counts[y])).astype(np.float32)


def balanced_rows(y: np.ndarray, n_classes: int, rng: np.random.Generator, power: float = 0.0) -> np.ndarray:
    """As many rows as `y` has, drawn with replacement so that each class's share of them is
    proportional to (its rows) ** `power`: 0 makes every class equally likely, 0.5 gives
    shares ∝ √count (partial balancing), 1 the data's own shares."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    p = counts[y] ** (power - 1.0)
    return rng.choice(len(y), size=len(y), replace=True, p=p / p.sum())


class _EpochInputs:
    """Each epoch's training rows: (X, y, sample weights or None).

    The rows are the split's, or with `balance="sampling"` a fresh class-balanced draw
    each epoch; with augmentation they are freshly distorted (strokes for stroke rows,
    `augment_bitmaps` for bitmap-only ones). Augmented epochs are prepared one ahead in
    a background thread (cairo and the RDP library release the GIL), each from its own
    seeded generators, so the result does not depend on thread timing.
    """

    def __init__(self, split: TrainSplit, config: RunConfig):
        self.split = split
        self.seed = config.seed
        self.balance = config.balance
        self.n_classes = len(split.classes)
        self.augment = bool(config.augment and split.train_strokes is not None)
        self.weights = class_weights(split.y_train, self.n_classes) if config.balance == "weights" else None
        self._pool = ThreadPoolExecutor(max_workers=1) if (self.augment or self.balance in SAMPLING_POWER) else None
        self._pending: dict[int, object] = {}

    def _make(self, epoch: int):
        split = self.split
        if self.balance in SAMPLING_POWER:
            rows = balanced_rows(split.y_train, self.n_classes, np.random.default_rng([self.seed, epoch, 0xBA1]),
                                 SAMPLING_POWER[self.balance])
        else:
            rows = np.arange(len(split.y_train))
        y = split.y_train[rows]
        w = None if self.weights is None else self.weights[rows]
        if not self.augment:
            return split.X_train[rows], y, w
        from .data.augment import augment_bitmaps, augment_strokes
        from .data.raster import bitmap_to_input, rasterize_strokes

        strokes = [split.train_strokes[r] for r in rows]
        stroke_pos = [i for i, st in enumerate(strokes) if st is not None]
        bitmap_pos = [i for i, st in enumerate(strokes) if st is None]
        X = np.empty((len(rows), split.X_train.shape[1]), dtype=np.float32)
        if stroke_pos:
            rng = np.random.default_rng([self.seed, epoch, 0xA06])
            drawings = [augment_strokes(strokes[i], rng) for i in stroke_pos]
            X[stroke_pos] = bitmap_to_input(rasterize_strokes(drawings))
        if bitmap_pos:
            rng = np.random.default_rng([self.seed, epoch, 0xB17])
            X[bitmap_pos] = augment_bitmaps(split.X_train[rows[bitmap_pos]], rng)
        return X, y, w

    def get(self, epoch: int, prefetch_next: bool):
        if self._pool is None:
            return self.split.X_train, self.split.y_train, self.weights
        future = self._pending.pop(epoch, None) or self._pool.submit(self._make, epoch)
        if prefetch_next:
            self._pending[epoch + 1] = self._pool.submit(self._make, epoch + 1)
        return future.result()

    def close(self) -> None:
        if self._pool is not None:
            # A half-made next epoch is not waited for: nothing depends on it.
            self._pool.shutdown(wait=False, cancel_futures=True)


def _epoch_dataset(X: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator, w=None):
    """tf.data over one epoch: a seeded permutation, batched, each batch gathered from X
    (and the per-row loss weights `w`, when given)."""
    import tensorflow as tf

    order = rng.permutation(len(X))
    X_t = tf.constant(X)
    y_t = tf.constant(y)
    ds = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
    if w is None:
        ds = ds.map(lambda idx: (tf.gather(X_t, idx), tf.gather(y_t, idx)))
    else:
        w_t = tf.constant(w)
        ds = ds.map(lambda idx: (tf.gather(X_t, idx), tf.gather(y_t, idx), tf.gather(w_t, idx)))
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- the run


def optimizer_name(name) -> str:
    """The OPTIMIZERS spelling of `name` (case and surrounding spaces forgiven); ValueError if none."""
    by_lower = {o.lower(): o for o in OPTIMIZERS}
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in by_lower:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return by_lower[key]


def make_optimizer(name: str, learning_rate: float):
    """One of OPTIMIZERS (see `optimizer_name`) with the given learning rate."""
    import keras

    return getattr(keras.optimizers, optimizer_name(name))(learning_rate=float(learning_rate))


def compile_model(model, optimizer="Adam", learning_rate=1e-3, steps_per_execution=1):
    """Compile with a fresh optimizer (the only compile in SketchLab: the builders only build); returns the model. `steps_per_execution` > 1 runs that many batches
    per call into the compiled train step, which cuts the per-batch Python overhead
    (`train_run` uses it; see benchmarks/train_speed.py)."""
    import keras

    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=[
            "accuracy",
            keras.metrics.SparseTopKCategoricalAccuracy(k=3, name="top3"),
        ],
        steps_per_execution=steps_per_execution,
    )
    return model




def predict_proba(model, X: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Class probabilities for many rows, from a keras.Model (compiled forward pass, no
    `model.predict` overhead) or a numpy `inference.Network` (in small batches: its
    convolutions unfold each image into ~1 MB of windows)."""
    keras_model = hasattr(model, "predict_on_batch")
    n_out = model.output_shape[-1] if keras_model else model.n_outputs
    if len(X) == 0:
        return np.zeros((0, n_out), dtype=np.float32)
    step = batch_size if keras_model else 64
    run = model.predict_on_batch if keras_model else model
    return np.concatenate([np.asarray(run(X[i : i + step])) for i in range(0, len(X), step)])


def _val_metrics(probs: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(y) == 0:
        return float("nan"), float("nan")
    p_true = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    loss = float(-np.mean(np.log(p_true)))
    acc = float(np.mean(np.argmax(probs, axis=1) == y))
    return loss, acc


def _make_guard(n_classes: int, should_stop):
    """A Keras callback that stops training on NaN/inf/exploding loss or on request."""
    import keras

    limit = math.log(n_classes) + EXPLODE_MARGIN

    class Guard(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.reason: str | None = None
            self.bad_loss: float | None = None
            self._last_poll = 0.0

        def on_train_batch_end(self, batch, logs=None):
            loss = float((logs or {}).get("loss", 0.0))
            if not math.isfinite(loss) or loss > limit:
                self.reason, self.bad_loss = "diverged", loss
                self.model.stop_training = True
                return
            now = time.monotonic()
            if should_stop is not None and now - self._last_poll >= POLL_SECONDS:
                self._last_poll = now
                if should_stop():
                    self.reason = "cancelled"
                    self.model.stop_training = True

    return Guard()


def _weights_finite(model) -> bool:
    return all(np.isfinite(np.asarray(w)).all() for w in model.get_weights())


def _collapsed(probs: np.ndarray) -> bool:
    """The same output for every input: a dead network (all ReLUs off), or one whose weights
    were wiped to ~0 (Ftrl at a small learning rate); either stays at chance level."""
    return len(probs) >= 2 and bool(np.isfinite(probs).all()) and float(np.ptp(probs, axis=0).max()) < 1e-6


def did_not_converge(history: list[EpochMetrics], n_classes: int) -> str | None:
    """Why a finished run learned nothing, in a user's words, or None when it learned.

    A run of at least JUDGE_AFTER_EPOCHS epochs did not converge when, over its last
    JUDGE_LAST_EPOCHS epochs, its training loss stayed above NO_LEARNING_LOSS_SHARE x
    ln(n_classes) (chance level: a uniform guess) AND its accuracy (validation if measured,
    else training) stayed below NO_LEARNING_ACCURACY_FACTOR x chance. Both must hold: a run
    whose loss is still high but which already ranks the right class first is learning
    slowly, not failing. Judged on the history alone, so any CPU gives the same verdict
    for the same numbers.
    """
    if len(history) < JUDGE_AFTER_EPOCHS or n_classes < 2:
        return None
    last = history[-JUDGE_LAST_EPOCHS:]
    chance_loss, chance_acc = math.log(n_classes), 1.0 / n_classes
    losses = [m.loss for m in last]
    accs = [m.val_accuracy if m.val_accuracy is not None and math.isfinite(m.val_accuracy) else m.accuracy
            for m in last]
    if any(v is None or not math.isfinite(v) for v in losses + accs):
        return None  # NaN/inf is caught as "diverged" during the run
    loss, acc = min(losses), max(accs)
    if loss > NO_LEARNING_LOSS_SHARE * chance_loss and acc < NO_LEARNING_ACCURACY_FACTOR * chance_acc:
        return (f"did not converge: after {len(history)} epochs the training loss is still {loss:.2f}, "
                f"near chance level ln({n_classes}) = {chance_loss:.2f}, and the accuracy {acc:.2f} is "
                f"no better than guessing (1/{n_classes} = {chance_acc:.2f}); try another learning rate")
    return None


def _divergence(guard, model, collapsed_epochs: int, n_classes: int, loss) -> str | None:
    """Why this epoch shows the run cannot converge, or None if it can go on."""
    chance = math.log(n_classes)
    if guard.reason == "diverged":
        if not math.isfinite(guard.bad_loss):
            return "the training loss became NaN/inf (learning rate too high?)"
        return (f"the training loss exploded to {guard.bad_loss:.3g}, far above chance level "
                f"ln({n_classes}) = {chance:.2f} (learning rate too high?)")
    if not _weights_finite(model):
        return "the weights became NaN/inf (learning rate too high?)"
    if collapsed_epochs >= COLLAPSE_EPOCHS:
        return (f"the network collapsed: it has given the same answer for every drawing for "
                f"{collapsed_epochs} epochs (dead ReLUs), training loss {loss:.3g} vs chance level "
                f"{chance:.2f} (try another learning rate)")
    return None


def train_run(
    config: RunConfig,
    split: TrainSplit,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Train one model as `config` says on `split`; see the module docstring for the states."""
    import keras

    config.validate()
    n_classes = len(split.classes)
    if len(split.X_train) == 0:
        raise ValueError("the training split is empty")
    keras.utils.set_random_seed(config.seed)
    model = build_model(config.model, n_classes)
    compile_model(model, config.optimizer, config.learning_rate, steps_per_execution=STEPS_PER_EXECUTION)
    guard = _make_guard(n_classes, should_stop)
    inputs = _EpochInputs(split, config)
    shuffle_rng = np.random.default_rng([config.seed, 0x5F])
    history: list[EpochMetrics] = []
    status, detail, collapsed_epochs = "done", None, 0
    best_loss, best_weights, since_best = math.inf, None, 0
    try:
        for epoch in range(config.epochs):
            if should_stop is not None and should_stop():
                status = "cancelled"
                break
            start = time.perf_counter()
            X, y, w = inputs.get(epoch, prefetch_next=epoch + 1 < config.epochs)
            data = _epoch_dataset(X, y, config.batch_size, shuffle_rng, w)
            fit = model.fit(data, epochs=1, verbose=0, callbacks=[guard], shuffle=False)
            if guard.reason == "cancelled":
                status = "cancelled"  # the interrupted epoch is not reported
                break
            loss = guard.bad_loss if guard.reason == "diverged" else fit.history["loss"][-1]
            val_probs = predict_proba(model, split.X_val)
            val_loss, val_acc = _val_metrics(val_probs, split.y_val)
            probe = val_probs if len(val_probs) >= 2 else predict_proba(model, split.X_train[:512])
            collapsed_epochs = collapsed_epochs + 1 if _collapsed(probe) else 0
            detail = _divergence(guard, model, collapsed_epochs, n_classes, loss)
            metrics = EpochMetrics(
                epoch=epoch + 1,
                loss=float(loss),
                accuracy=float(fit.history["accuracy"][-1]),
                val_loss=val_loss,
                val_accuracy=val_acc,
                seconds=time.perf_counter() - start,
            )
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(metrics)
            if detail is not None:
                status = "diverged"
                break
            if config.early_stopping_patience is not None and math.isfinite(val_loss):
                if val_loss < best_loss:
                    best_loss, best_weights, since_best = val_loss, model.get_weights(), 0
                else:
                    since_best += 1
                    if since_best >= config.early_stopping_patience:
                        break
    finally:
        inputs.close()
    if status == "done":
        detail = did_not_converge(history, n_classes)
        if detail is not None:
            status = "diverged"
    if best_weights is not None and status == "done":
        model.set_weights(best_weights)
    card = build_card(config, split, model, history, status)
    if detail:
        card["status_detail"] = detail
    return RunResult(status=status, history=history, model=model, card=card, detail=detail or "")


# ---------------------------------------------------------------- model card


def build_card(config: RunConfig, split: TrainSplit, model, history: list[EpochMetrics], status: str) -> dict:
    """The model card (see the team contract). A diverged run has no accuracy or confusion matrix."""
    n = len(split.classes)
    counts = np.bincount(np.concatenate([split.y_train, split.y_val]).astype(np.int64), minlength=n)
    val_accuracy, matrix, val_balanced = None, None, None
    if status != "diverged" and len(split.y_val):
        probs = predict_proba(model, split.X_val)
        pred = probs.argmax(axis=1)
        val_accuracy = float(np.mean(pred == split.y_val))
        matrix = confusion_matrix(split.y_val, pred, n)
        val_balanced = balanced_accuracy(matrix)
    return {
        "name": f"{config.model} {config.optimizer} lr={config.learning_rate:g} "
        f"batch={config.batch_size} seed={config.seed}",
        "kind": config.model,
        "architecture": architecture_text(model),
        "params": int(model.count_params()),
        "classes": list(split.classes),
        "data": {
            "source": split.source,
            "n_train": int(len(split.y_train)),
            "n_val": int(len(split.y_val)),
            "per_class_counts": {c: int(k) for c, k in zip(split.classes, counts)},
            "augmented": bool(config.augment and split.train_strokes is not None),
            "n_train_bitmap_only": (None if split.train_strokes is None
                                    else int(sum(s is None for s in split.train_strokes))),
        },
        "hyperparameters": config.to_dict(),
        "history": [m.to_dict() for m in history],
        "val_accuracy": val_accuracy,
        "val_balanced_accuracy": val_balanced,
        "confusion_matrix": matrix,
        "status": status,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
    }
