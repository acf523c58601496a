"""Hyperparameter sweeps that run in the background, on Optuna.

A sweep is one Optuna study in an RDB storage (`settings.sweep_storage`: a SQLite file in the
home folder by default; any SQLAlchemy URL, e.g. PostgreSQL, shares a sweep across machines).
Each run is a trial, enqueued up front; workers (`python -m sketchlab worker`, see
`sketchlab.worker`) pull trials with `study.optimize`, so Optuna's heartbeat detects a worker
that died mid-run and re-queues its run. Everything a page needs is read back from the storage,
so a sweep survives page reloads, app restarts and worker crashes.

The read functions never import TensorFlow and are cheap enough to poll every 1-2 s (about
10 ms for a sweep's runs). Only validation imports `sketchlab.models` (Keras) for the names of
the models and optimizers.

API reference (for the Train page and the CLI)
----------------------------------------------
Describe a sweep::

    SweepSpec(model="mlp", mode="one_at_a_time", base={...}, values={...}, n_trials=None,
              classes=QUICKDRAW_10, seed=0, augment=True, prune=False, name=None)
    seed_preset(epochs=25, per_class=None) -> SweepSpec    # seed 000's experiment, 11 runs

- `base`: one value per hyperparameter in HYPERPARAMETERS = ("optimizer", "learning_rate",
  "batch_size", "epochs", "per_class"); missing keys take SEED_BASE (SGD, 0.01, 32, 25, None).
  `per_class=None` means "all drawings, capped at limits.max_per_class".
- `values`: {hyperparameter: [values to try]}.
- `mode` (MODES): "one_at_a_time" = seed 000's fit_param: for each key of `values`, one run per
  value with every other key at its base value (runs are tagged with that key: RunRecord.group);
  "grid" = every combination of `values` (keys not in `values` stay at base);
  "random" = `n_trials` combinations drawn from `values` with `seed` (drawn at launch, so the
  queue shows them); "tpe" = `n_trials` runs whose values Optuna's TPE sampler picks from
  `values` when each run starts (it learns from the finished ones).
- `prune`: Optuna's MedianPruner stops runs whose validation accuracy is below the median of
  earlier runs at the same epoch (state "pruned").
- `spec.to_dict()` / `SweepSpec.from_dict(d)`: plain JSON-able dicts.

Check and launch::

    SweepLimits(max_runs=64, max_epochs=100, max_batch_size=4096, max_per_class=10_000,
                max_learning_rate=10.0, max_classes=50, max_workers=2, default_workers=1)
    validate_sweep(spec, limits=SweepLimits(), data_dir=None) -> dict[field, message]
    launch_sweep(spec, settings, start_worker=True, limits=None, workers=None,
                 storage=None) -> name

`validate_sweep` returns {} when the spec is fine, else one message per field; the fields are
"model", "mode", "optimizer", "learning_rate", "batch_size", "epochs", "per_class", "classes",
"n_trials", "runs" (too many / no runs), "seed", "name", "values". With `data_dir`, classes
without data there are reported too. `launch_sweep` validates first and raises
`SweepValidationError` (`.errors` is that dict) before anything is written; then it creates the
study, enqueues every run and, with `start_worker`, starts detached local workers up to
`workers` (default `limits.default_workers`, capped by `limits.max_workers`) unless enough are
alive. It returns the sweep's name. `create_sweep(spec, storage_url, limits=None, data_dir=None)
-> name` does the same without starting workers (the CLI's `--foreground` then runs
`sketchlab.worker.run_worker(settings, storage_url, study=name)` in its own process).

Read (each call is one pass over the storage; no TensorFlow)::

    list_sweeps(settings, storage=None) -> list[SweepSummary]            # newest first
    get_sweep(settings, name, storage=None) -> SweepSummary
    sweep_runs(settings, name, storage=None) -> list[RunRecord]          # by run number

    SweepSummary: name, spec (SweepSpec), created (datetime), state ("queued" | "running"
        | "finished" | "cancelled"), n_runs, counts {state: n}, best_run (number | None),
        best_val_accuracy (float | None); .is_final (nothing queued or running)
    RunRecord: number, state, params {hyperparameter: value} ({} for a queued TPE run: its
        values are chosen when it starts), group (the varied key in one_at_a_time, else None),
        history [ {epoch, loss, accuracy, val_loss, val_accuracy, seconds}, ... ] (grows while
        the run is running), best_val_accuracy, last_val_accuracy, error (why it failed, was
        cancelled or diverged), model_dir (str | None: the saved model + card of a "done"
        run, ready to promote), started, finished (datetime | None, local time as Optuna
        stamps them), worker ("host:pid"), retry_of (the run this one re-runs after a
        crash, else None), cancel_requested (bool);
        .epochs_done, .epochs (planned), .is_final (bool), .seconds (so far)

Run states (RUN_STATES): "queued" -> "running" -> "done" | "diverged" | "pruned" |
"cancelled" | "failed". A run whose worker was killed shows as "failed" ("the worker stopped
... re-queued as run N") and a new queued run with `retry_of` set takes its place.
Sweep states: "queued" (nothing started), "running", "finished" (every run ended),
"cancelled" (cancel_sweep was called; running runs stop at their next epoch).

Act::

    cancel_sweep(settings, name, storage=None) -> int       # runs that will stop or never start
    cancel_run(settings, name, number, storage=None) -> None   # SweepError if it already ended
    export_csv(settings, name, path_or_file, storage=None) -> int   # rows written
    workers_alive(settings, storage=None) -> list[WorkerInfo]   # local worker processes:
        # WorkerInfo(pid, host, storage, started, updated (epoch s), log (file), current)
    ensure_workers(settings, n=None, storage=None, limits=None) -> list[int]   # new pids

A running run notices a cancel within one epoch (it polls the storage at most once a second
and at every epoch end). Errors: `SweepError` (unknown sweep or run, run already ended,
storage that cannot be opened), `SweepValidationError(SweepError)` with `.errors`.

Storage layout (for other tools): study user attr "sketchlab" = {"spec": spec dict, "created":
ISO time, "version"}; "cancelled" = true once cancelled. Trial user attrs: "run" (index in the
sweep), "group", "status", "history", "error", "model_dir", "worker", "cancel_requested",
"data" ({source, n_train, n_val}). Optuna states: done = COMPLETE (value = final validation
accuracy), diverged = COMPLETE (value = its best validation accuracy, 0.0 without one, so TPE
learns to avoid it), pruned = PRUNED, cancelled/failed = FAIL.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import functools
import itertools
import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from .categories import QUICKDRAW_10, canonical_category
from .errors import SketchLabError
from .fileio import atomic_write
from .settings import Settings

HYPERPARAMETERS = ("optimizer", "learning_rate", "batch_size", "epochs", "per_class")
MODES = ("one_at_a_time", "grid", "random", "tpe")
RUN_STATES = ("queued", "running", "done", "diverged", "pruned", "cancelled", "failed")
FINAL_STATES = ("done", "diverged", "pruned", "cancelled", "failed")

# Seed 000's experiment: each key varied over its list while the others stay at these values.
SEED_BASE = {"optimizer": "SGD", "learning_rate": 0.01, "batch_size": 32, "epochs": 25, "per_class": None}
SEED_VALUES = {
    "optimizer": ["Adadelta", "Adam", "SGD"],
    "batch_size": [8, 32, 512, 4096],
    "learning_rate": [0.0001, 0.01, 0.5, 1.0],
}

STUDY_ATTR = "sketchlab"  # study user attr that marks a study as a SketchLab sweep
MAX_RETRIES = 2  # a run whose worker dies is re-queued at most this often (then stays failed)
DEFAULT_HEARTBEAT_S = 5
DEFAULT_GRACE_S = 20
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class SweepError(SketchLabError):
    """A sweep request that cannot be done; the message says why."""


class SweepValidationError(SweepError):
    """The spec has invalid values; `.errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


# ---------------------------------------------------------------- spec


@dataclass
class SweepSpec:
    """What to run: see the module docstring."""

    model: str = "mlp"
    mode: str = "one_at_a_time"
    base: dict[str, Any] = field(default_factory=dict)
    values: dict[str, list] = field(default_factory=dict)
    n_trials: int | None = None
    classes: tuple[str, ...] = QUICKDRAW_10
    seed: int = 0
    augment: bool = True
    prune: bool = False
    name: str | None = None

    def base_values(self) -> dict[str, Any]:
        return {**SEED_BASE, **self.base}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["values"] = {k: list(v) for k, v in self.values.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SweepSpec":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["classes"] = tuple(known.get("classes", QUICKDRAW_10))
        return cls(**known)


def seed_preset(epochs: int = 25, per_class: int | None = None, model: str = "mlp") -> SweepSpec:
    """Seed 000's sweep: optimizer, batch size and learning rate, one key at a time (11 runs)."""
    return SweepSpec(
        model=model,
        mode="one_at_a_time",
        base={**SEED_BASE, "epochs": epochs, "per_class": per_class},
        values={k: list(v) for k, v in SEED_VALUES.items()},
    )


@dataclass(frozen=True)
class SweepLimits:
    """Caps that keep a browser user from exhausting the machine."""

    max_runs: int = 64
    max_epochs: int = 100
    max_batch_size: int = 4096
    max_per_class: int = 10_000
    max_learning_rate: float = 10.0
    max_classes: int = 50
    max_workers: int = 2
    default_workers: int = 1


def _check_value(key: str, value, limits: SweepLimits, optimizers) -> tuple[Any, str | None]:
    """(clean value, None) or (None, message) for one hyperparameter value."""
    if key == "optimizer":
        by_lower = {o.lower(): o for o in optimizers}
        if not isinstance(value, str) or value.strip().lower() not in by_lower:
            return None, f"unknown optimizer {value!r}; choose from {', '.join(optimizers)}"
        return by_lower[value.strip().lower()], None
    if key == "learning_rate":
        try:
            if isinstance(value, bool):
                raise TypeError
            lr = float(value)
        except (TypeError, ValueError):
            return None, f"learning rate {value!r} is not a number"
        if not math.isfinite(lr) or lr <= 0:
            return None, f"learning rate must be a number above 0 (got {value!r})"
        if lr > limits.max_learning_rate:
            return None, f"learning rate {lr:g} is above the limit of {limits.max_learning_rate:g}"
        return lr, None
    if key == "per_class" and value is None:
        return None, None
    caps = {"batch_size": limits.max_batch_size, "epochs": limits.max_epochs,
            "per_class": limits.max_per_class}
    words = {"batch_size": "batch size", "epochs": "epochs", "per_class": "drawings per class"}
    try:
        if isinstance(value, bool) or float(value) != int(float(value)):
            raise ValueError
        n = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None, f"{words[key]} must be a whole number (got {value!r})"
    least = 2 if key == "per_class" else 1  # a stratified split needs 2 drawings of a class
    if n < least:
        return None, f"{words[key]} must be at least {least} (got {n})"
    if n > caps[key]:
        return None, f"{words[key]} {n} is above the limit of {caps[key]}"
    return n, None


def _clean_spec(spec: SweepSpec, limits: SweepLimits, data_dir=None) -> tuple[SweepSpec | None, dict]:
    """The spec with canonical values (optimizer spelling, floats, ints), or the errors."""
    from .models import MODEL_KINDS, OPTIMIZERS  # lazy: models imports keras

    errors: dict[str, str] = {}
    if spec.model not in MODEL_KINDS:
        errors["model"] = f"unknown model {spec.model!r}; choose from {', '.join(MODEL_KINDS)}"
    if spec.mode not in MODES:
        errors["mode"] = f"unknown mode {spec.mode!r}; choose from {', '.join(MODES)}"
    unknown = [k for k in list(spec.base) + list(spec.values) if k not in HYPERPARAMETERS]
    if unknown:
        errors["values"] = (f"unknown hyperparameter(s) {', '.join(map(repr, unknown))}; "
                            f"use {', '.join(HYPERPARAMETERS)}")

    base: dict[str, Any] = {}
    for key, value in spec.base_values().items():
        if key not in HYPERPARAMETERS:
            continue
        clean, msg = _check_value(key, value, limits, OPTIMIZERS)
        if msg:
            errors.setdefault(key, msg)
        base[key] = clean
    values: dict[str, list] = {}
    for key, vals in spec.values.items():
        if key not in HYPERPARAMETERS:
            continue
        if isinstance(vals, (str, bytes)) or not hasattr(vals, "__iter__"):
            vals = [vals]
        vals = list(vals)
        if not vals:
            errors.setdefault(key, "give at least one value")
            continue
        cleaned = []
        for v in vals:
            clean, msg = _check_value(key, v, limits, OPTIMIZERS)
            if msg:
                errors.setdefault(key, msg)
            elif clean not in cleaned:
                cleaned.append(clean)
        values[key] = cleaned

    classes: list[str] = []
    for c in spec.classes:
        try:
            name = canonical_category(str(c))
        except ValueError as exc:
            errors.setdefault("classes", str(exc))
            continue
        if name in classes:
            errors.setdefault("classes", f"{name!r} is listed twice")
        classes.append(name)
    if "classes" not in errors:
        if len(classes) < 2:
            errors["classes"] = "choose at least 2 classes"
        elif len(classes) > limits.max_classes:
            errors["classes"] = f"{len(classes)} classes is above the limit of {limits.max_classes}"
        elif data_dir is not None:
            missing = _classes_without_data(data_dir, classes)
            if missing:
                from .dataset import no_data_message

                errors["classes"] = no_data_message(data_dir, missing)

    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int) or spec.seed < 0:
        errors["seed"] = f"seed must be a whole number ≥ 0 (got {spec.seed!r})"
    if spec.name is not None and not _NAME_RE.match(str(spec.name)):
        errors["name"] = "a name is 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit"

    n_trials = spec.n_trials
    if spec.mode in ("random", "tpe"):
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
            errors["n_trials"] = f"give the number of runs to try (a whole number ≥ 1, got {n_trials!r})"
        elif n_trials > limits.max_runs:
            errors["n_trials"] = f"{n_trials} runs is above the limit of {limits.max_runs}"
    if errors:
        return None, errors

    clean = SweepSpec(
        model=spec.model, mode=spec.mode, base=base, values=values, n_trials=n_trials,
        classes=tuple(classes), seed=spec.seed, augment=bool(spec.augment), prune=bool(spec.prune),
        name=spec.name,
    )
    n_runs = len(expand_runs(clean))
    if n_runs == 0:
        errors["runs"] = "this sweep has no runs: give values to try"
    elif n_runs > limits.max_runs:
        errors["runs"] = f"{n_runs} runs is above the limit of {limits.max_runs} runs per sweep"
    return (None, errors) if errors else (clean, {})


def _classes_without_data(data_dir, classes) -> list[str]:
    from .dataset import NPZ_NAME, scan_data_dir

    found = scan_data_dir(data_dir)
    root = Path(data_dir)
    if not found and root.is_dir() and next(root.rglob(NPZ_NAME), None) is not None:
        found = {c: None for c in QUICKDRAW_10}  # build_dataset reads the seed's npz for these
    return [c for c in classes if c not in found]


def validate_sweep(spec: SweepSpec, limits: SweepLimits | None = None, data_dir=None) -> dict[str, str]:
    """{field: message} for every invalid part of `spec`; {} when it can be launched."""
    return _clean_spec(spec, limits or SweepLimits(), data_dir)[1]


def search_space(spec: SweepSpec) -> dict[str, list]:
    """The values each hyperparameter may take: its list plus its base value."""
    base = spec.base_values()
    space = {}
    for key in HYPERPARAMETERS:
        vals = list(spec.values.get(key, []))
        if spec.mode in ("random", "tpe") and vals:
            space[key] = vals
        else:
            space[key] = ([base[key]] if base[key] not in vals else []) + vals
    return space


def expand_runs(spec: SweepSpec) -> list[tuple[dict, str | None]]:
    """Every run of a (clean) spec as (params, group); a TPE run's params are {} (chosen later)."""
    base = {k: spec.base_values()[k] for k in HYPERPARAMETERS}
    if spec.mode == "one_at_a_time":
        return [({**base, key: v}, key) for key, vals in spec.values.items() for v in vals] or [(base, None)]
    if spec.mode == "grid":
        keys = list(spec.values)
        combos = itertools.product(*(spec.values[k] for k in keys))
        return [({**base, **dict(zip(keys, combo))}, None) for combo in combos]
    n = spec.n_trials or 0
    if spec.mode == "random":
        rng = random.Random(spec.seed)
        space = search_space(spec)
        return [({k: rng.choice(space[k]) for k in HYPERPARAMETERS}, None) for _ in range(n)]
    return [({}, None) for _ in range(n)]


# ---------------------------------------------------------------- storage


def _prepare_sqlite(url: str) -> dict:
    """Create the folder of a SQLite file, switch it to WAL, and wait on locks instead of failing."""
    path = url[len("sqlite:///"):]
    if path and path != ":memory:":
        import sqlite3

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets pages read while a worker writes; the mode is stored in the file.
        with sqlite3.connect(path, timeout=60) as con:
            con.execute("PRAGMA journal_mode=WAL")
    return {"connect_args": {"timeout": 60}}


def open_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None):
    """An RDBStorage for `url`; with a heartbeat, a run whose worker dies is re-queued."""
    engine_kwargs = _prepare_sqlite(url) if url.startswith("sqlite:///") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = (
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)
            if heartbeat_interval
            else None
        )
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=retry,
        )


@functools.lru_cache(maxsize=8)
def _reader(url: str):
    """The storage for reads and small writes (no heartbeat), one per URL and process:
    opening one checks the schema (tens of ms), and pages poll."""
    try:
        return open_storage(url)
    except Exception as exc:  # sqlalchemy/driver errors for a bad URL or an unreachable server
        raise SweepError(f"cannot open the sweep storage {safe_url(url)}: {exc}") from exc


def safe_url(url: str) -> str:
    """A storage URL without its password, for messages and logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(storage URL)"


def _storage_url(settings: Settings, storage: str | None) -> str:
    return storage or settings.sweep_storage


def _study_id(store, name: str) -> int:
    try:
        return store.get_study_id_from_name(name)
    except KeyError:
        raise SweepError(f"no sweep named {name!r}") from None


def _unique_name(store, spec: SweepSpec) -> str:
    taken = {s.study_name for s in store.get_all_studies()}
    if spec.name:
        if spec.name in taken:
            raise SweepValidationError({"name": f"a sweep named {spec.name!r} exists already"})
        return spec.name
    stem = f"{spec.model}-{spec.mode.replace('_', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, i = stem, 2
    while name in taken:
        name, i = f"{stem}-{i}", i + 1
    return name


def create_sweep(spec: SweepSpec, storage_url: str, limits: SweepLimits | None = None, data_dir=None) -> str:
    """Validate, create the study and enqueue every run; start no worker. Returns the name."""
    limits = limits or SweepLimits()
    clean, errors = _clean_spec(spec, limits, data_dir)
    if errors:
        raise SweepValidationError(errors)
    # "All drawings" is capped, so a browser user cannot ask a worker for 100k+ per class.
    if clean.base_values()["per_class"] is None:
        clean.base = {**clean.base, "per_class": limits.max_per_class}
    if "per_class" in clean.values:
        capped = [limits.max_per_class if v is None else v for v in clean.values["per_class"]]
        clean.values["per_class"] = list(dict.fromkeys(capped))
    store = _reader(storage_url)
    name = _unique_name(store, clean)
    clean.name = name
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" on the console
    try:
        study = optuna.create_study(storage=store, study_name=name, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        raise SweepValidationError({"name": f"a sweep named {name!r} was just created; try again"}) from None
    finally:
        optuna.logging.set_verbosity(verbosity)
    from . import __version__

    study.set_user_attr(
        STUDY_ATTR,
        {"spec": clean.to_dict(), "created": _now().isoformat(), "version": __version__},
    )
    for index, (params, group) in enumerate(expand_runs(clean)):
        study.enqueue_trial(params, user_attrs={"run": index, "group": group})
    return name


def launch_sweep(
    spec: SweepSpec,
    settings: Settings,
    start_worker: bool = True,
    limits: SweepLimits | None = None,
    workers: int | None = None,
    storage: str | None = None,
) -> str:
    """Validate, enqueue every run and (optionally) start detached local workers; returns the name."""
    limits = limits or SweepLimits()
    url = _storage_url(settings, storage)
    name = create_sweep(spec, url, limits, data_dir=settings.data_dir)
    if start_worker:
        ensure_workers(settings, workers, storage=url, limits=limits)
    return name


def _now() -> dt.datetime:
    return dt.datetime.now()  # naive local time, as Optuna stamps trials


# ---------------------------------------------------------------- read


@dataclass
class RunRecord:
    number: int
    state: str
    params: dict
    group: str | None = None
    history: list[dict] = field(default_factory=list)
    best_val_accuracy: float | None = None
    last_val_accuracy: float | None = None
    error: str | None = None
    model_dir: str | None = None
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    worker: str | None = None
    retry_of: int | None = None
    cancel_requested: bool = False

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def epochs(self) -> int | None:
        return self.params.get("epochs")

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        end = self.finished or _now()
        return (end - self.started).total_seconds()


@dataclass
class SweepSummary:
    name: str
    spec: SweepSpec
    created: dt.datetime | None
    state: str
    n_runs: int
    counts: dict[str, int]
    best_run: int | None = None
    best_val_accuracy: float | None = None

    @property
    def is_final(self) -> bool:
        """Nothing is queued or running any more."""
        return not (self.counts.get("queued") or self.counts.get("running"))


def _finite(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _run_record(t, sweep_cancelled: bool, requeued_as: dict[int, int]) -> RunRecord:
    ua = t.user_attrs
    status = ua.get("status")
    history = list(ua.get("history") or [])
    accs = [a for a in (_finite(h.get("val_accuracy")) for h in history) if a is not None]
    error = ua.get("error")
    cancel_requested = bool(ua.get("cancel_requested"))
    if t.state == TrialState.WAITING:
        state = "cancelled" if (sweep_cancelled or cancel_requested) else "queued"
        history = []  # a re-queued run carries its crashed predecessor's attrs; it starts afresh
        accs = []
    elif t.state == TrialState.RUNNING:
        state = "running"
    elif t.state == TrialState.COMPLETE:
        state = status if status in ("done", "diverged") else "done"
    elif t.state == TrialState.PRUNED:
        state = "pruned"
    elif status in ("cancelled", "failed", "diverged"):
        state = status
    else:
        # FAIL without a final status: the worker died (heartbeat went stale) or Optuna gave up.
        state = "failed"
        again = requeued_as.get(t.number)
        error = "the worker stopped during this run (no heartbeat)" + (
            f"; re-queued as run {again}" if again is not None else ""
        )
    params = dict(t.params) or dict(t.system_attrs.get("fixed_params") or {})
    retry = t.system_attrs.get("failed_trial")
    return RunRecord(
        number=t.number,
        state=state,
        params=params,
        group=ua.get("group"),
        history=history,
        best_val_accuracy=max(accs) if accs else None,
        last_val_accuracy=accs[-1] if accs else None,
        error=error if state in ("failed", "cancelled", "diverged") else None,
        model_dir=ua.get("model_dir") if state == "done" else None,
        started=t.datetime_start if t.state != TrialState.WAITING else None,
        finished=t.datetime_complete,
        worker=ua.get("worker") if t.state != TrialState.WAITING else None,
        retry_of=(t.system_attrs.get("retry_history") or [retry])[-1] if retry is not None else None,
        cancel_requested=cancel_requested,
    )


def _records(store, study_id: int, sweep_cancelled: bool) -> list[RunRecord]:
    trials = [t for t in store.get_all_trials(study_id, deepcopy=False) if "run" in t.user_attrs]
    requeued_as = {}
    for t in trials:
        history = t.system_attrs.get("retry_history") or []
        if history:
            requeued_as[history[-1]] = t.number
    return [_run_record(t, sweep_cancelled, requeued_as) for t in trials]


def _summary(name: str, attrs: dict, runs: list[RunRecord]) -> SweepSummary:
    meta = attrs.get(STUDY_ATTR, {})
    counts = {s: 0 for s in RUN_STATES}
    for r in runs:
        counts[r.state] += 1
    best = max(
        (r for r in runs if r.state == "done" and r.last_val_accuracy is not None),
        key=lambda r: r.last_val_accuracy,
        default=None,
    )
    if attrs.get("cancelled"):
        state = "cancelled"
    elif counts["queued"] == len(runs) and runs:
        state = "queued"
    elif counts["queued"] or counts["running"]:
        state = "running"
    else:
        state = "finished"
    created = meta.get("created")
    return SweepSummary(
        name=name,
        spec=SweepSpec.from_dict(meta.get("spec", {})),
        created=dt.datetime.fromisoformat(created) if created else None,
        state=state,
        n_runs=len(runs),
        counts=counts,
        best_run=best.number if best else None,
        best_val_accuracy=best.last_val_accuracy if best else None,
    )


def list_sweeps(settings: Settings, storage: str | None = None) -> list[SweepSummary]:
    """Every SketchLab sweep in the storage, newest first."""
    store = _reader(_storage_url(settings, storage))
    out = []
    for s in store.get_all_studies():
        if STUDY_ATTR not in s.user_attrs:
            continue  # someone else's study in a shared storage
        study_id = store.get_study_id_from_name(s.study_name)
        runs = _records(store, study_id, bool(s.user_attrs.get("cancelled")))
        out.append(_summary(s.study_name, s.user_attrs, runs))
    return sorted(out, key=lambda s: s.created or dt.datetime.min, reverse=True)


def _load(settings, name, storage):
    store = _reader(_storage_url(settings, storage))
    study_id = _study_id(store, name)
    attrs = store.get_study_user_attrs(study_id)
    if STUDY_ATTR not in attrs:
        raise SweepError(f"study {name!r} is not a SketchLab sweep")
    return store, study_id, attrs


def get_sweep(settings: Settings, name: str, storage: str | None = None) -> SweepSummary:
    store, study_id, attrs = _load(settings, name, storage)
    return _summary(name, attrs, _records(store, study_id, bool(attrs.get("cancelled"))))


def sweep_runs(settings: Settings, name: str, storage: str | None = None) -> list[RunRecord]:
    """The runs of sweep `name`, by number, with their live per-epoch history."""
    store, study_id, attrs = _load(settings, name, storage)
    return _records(store, study_id, bool(attrs.get("cancelled")))


# ---------------------------------------------------------------- act


def cancel_sweep(settings: Settings, name: str, storage: str | None = None) -> int:
    """Stop a sweep: queued runs never start, running runs stop at their next epoch.

    Returns how many runs that affects (queued + running)."""
    store, study_id, _ = _load(settings, name, storage)
    store.set_study_user_attr(study_id, "cancelled", True)
    live = store.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
    return sum(1 for t in live if "run" in t.user_attrs)


def cancel_run(settings: Settings, name: str, number: int, storage: str | None = None) -> None:
    """Stop one run: if queued it never starts; if running it stops at its next epoch."""
    store, study_id, _ = _load(settings, name, storage)
    try:
        trial_id = store.get_trial_id_from_study_id_trial_number(study_id, int(number))
    except KeyError:
        raise SweepError(f"sweep {name!r} has no run {number}") from None
    try:
        store.set_trial_user_attr(trial_id, "cancel_requested", True)
    except optuna.exceptions.UpdateFinishedTrialError:
        state = next(r.state for r in sweep_runs(settings, name, storage) if r.number == int(number))
        raise SweepError(f"run {number} of {name!r} has already ended ({state})") from None


CSV_FIELDS = (
    "number", "state", "group", "model", *HYPERPARAMETERS, "epochs_done", "last_val_accuracy",
    "best_val_accuracy", "last_val_loss", "last_accuracy", "last_loss", "seconds", "error",
    "model_dir", "started", "finished", "retry_of",
)


def export_csv(settings: Settings, name: str, path_or_file, storage: str | None = None) -> int:
    """Write one CSV row per run (hyperparameters, state, metrics); returns the number of rows."""
    summary = get_sweep(settings, name, storage)
    runs = sweep_runs(settings, name, storage)

    def rows():
        for r in runs:
            last = r.history[-1] if r.history else {}
            yield {
                "number": r.number, "state": r.state, "group": r.group or "", "model": summary.spec.model,
                **{k: r.params.get(k, "") for k in HYPERPARAMETERS},
                "epochs_done": r.epochs_done,
                "last_val_accuracy": _fmt(r.last_val_accuracy),
                "best_val_accuracy": _fmt(r.best_val_accuracy),
                "last_val_loss": _fmt(last.get("val_loss")),
                "last_accuracy": _fmt(last.get("accuracy")),
                "last_loss": _fmt(last.get("loss")),
                "seconds": f"{r.seconds:.1f}" if r.seconds is not None else "",
                "error": r.error or "", "model_dir": r.model_dir or "",
                "started": r.started.isoformat() if r.started else "",
                "finished": r.finished.isoformat() if r.finished else "",
                "retry_of": "" if r.retry_of is None else r.retry_of,
            }

    def write(fh):
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows())

    if hasattr(path_or_file, "write"):
        write(path_or_file)
    else:
        with atomic_write(path_or_file, newline="", encoding="utf-8") as fh:
            write(fh)
    return len(runs)


def _fmt(x) -> str:
    v = _finite(x)
    return "" if v is None else f"{v + 0.0:.6g}"  # + 0.0 turns -0.0 into 0.0


# ---------------------------------------------------------------- local workers


@dataclass
class WorkerInfo:
    pid: int
    host: str
    storage: str
    started: str
    updated: float
    log: str | None = None
    current: str | None = None  # "sweep#run" while a run is going
    proc_start: str | None = None  # the process's start time, so a recycled pid is not taken for it


def workers_dir(settings: Settings) -> Path:
    return settings.home_dir / "workers"


@contextmanager
def workers_lock(settings: Settings):
    """Serialize "are enough workers alive?" against a worker deciding to exit."""
    d = workers_dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_file(settings: Settings, pid: int) -> Path:
    return workers_dir(settings) / f"{socket.gethostname()}-{pid}.json"


def write_worker_file(settings: Settings, pid: int, storage: str, log=None, current=None,
                      started=None) -> None:
    """Record (or refresh) a local worker's pid file; written atomically."""
    path = _pid_file(settings, pid)
    info = WorkerInfo(pid, socket.gethostname(), storage, started or _now().isoformat(), time.time(),
                      str(log) if log else None, current, _proc_start(pid))
    with atomic_write(path) as fh:
        fh.write(json.dumps(asdict(info)))


def remove_worker_file(settings: Settings, pid: int) -> None:
    _pid_file(settings, pid).unlink(missing_ok=True)


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (Linux), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _proc_start(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[19] if stat and len(stat) > 19 else None  # field 22: start time in clock ticks


def _process_alive(info: WorkerInfo) -> bool:
    pid = info.pid
    try:
        # Reap our own exited child (the app spawned it); a zombie still answers kill(pid, 0).
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: trust kill(pid, 0)
    if stat[0] == "Z":
        return False
    return info.proc_start is None or info.proc_start == _proc_start(pid)


def workers_alive(settings: Settings, storage: str | None = None) -> list[WorkerInfo]:
    """Local worker processes that are alive (for `storage`, or any); stale pid files are removed."""
    d = workers_dir(settings)
    if not d.is_dir():
        return []
    host = socket.gethostname()
    alive = []
    for path in sorted(d.glob("*.json")):
        try:
            info = WorkerInfo(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if info.host != host:
            continue
        if not _process_alive(info):
            path.unlink(missing_ok=True)
            continue
        if storage is None or info.storage == storage:
            alive.append(info)
    return alive


def _spawn_worker(settings: Settings, url: str, heartbeat_interval: int, grace_period: int) -> int:
    d = workers_dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    log = d / f"worker-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.log"
    cmd = [
        sys.executable, "-m", "sketchlab", "--data-dir", str(settings.data_dir), "--home",
        str(settings.home_dir), "worker", "--storage", url, "--heartbeat", str(heartbeat_interval),
        "--grace", str(grace_period),
    ]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["SKETCHLAB_MODELS"] = str(settings.models_dir)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # detached: it outlives the page, the app and a Ctrl-C
        )
    # Written here, not only by the worker, so a second launch right after sees it alive.
    write_worker_file(settings, proc.pid, url, log)
    return proc.pid


def ensure_workers(
    settings: Settings,
    n: int | None = None,
    storage: str | None = None,
    limits: SweepLimits | None = None,
    heartbeat_interval: int = DEFAULT_HEARTBEAT_S,
    grace_period: int = DEFAULT_GRACE_S,
) -> list[int]:
    """Start detached local workers until `n` (capped by limits.max_workers) are alive; new pids."""
    limits = limits or SweepLimits()
    url = _storage_url(settings, storage)
    want = max(0, min(limits.default_workers if n is None else int(n), limits.max_workers))
    with workers_lock(settings):
        have = len(workers_alive(settings, url))
        return [_spawn_worker(settings, url, heartbeat_interval, grace_period) for _ in range(want - have)]
