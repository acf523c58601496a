"""What a sweep is: its spec, the limits a browser user works within, and its runs.

A sweep varies the hyperparameters of `training.RunConfig`, which holds the one default
and the one check of each of them; a spec expands into RunConfigs and is validated
through them. Only the limits (`SweepLimits`) are checked here, and the grid's size is
computed as a product before anything is listed, so no typed form can make the server
list millions of combinations. Text from a form or a command line becomes values in
`parse_values`, at the edge, before a spec is built.

Modes: "one_at_a_time" (seed 000's experiment: the base setting once, then each key
varied alone), "grid" (every combination), "random" (runs drawn at launch from `seed`, so
the queue shows them) and "tpe" (Optuna's TPE picks each run's values when it starts).
In random and TPE modes the learning rate may be a range searched on a log scale.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..categories import QUICKDRAW_10, canonical_category
from ..errors import SketchLabError
from ..training import RunConfig

HYPERPARAMETERS = ("optimizer", "learning_rate", "batch_size", "epochs", "per_class")
WORDS = {"optimizer": "optimizer", "learning_rate": "learning rate", "batch_size": "batch size",
         "epochs": "epochs", "per_class": "drawings per class"}
MODES = ("one_at_a_time", "grid", "random", "tpe")
RANGE_KEYS = ("learning_rate",)  # hyperparameters that random/TPE search may take from a range

# Seed 000's experiment: each key varied over its list while the others stay at RunConfig's defaults.
SEED_VALUES = {
    "optimizer": ["Adadelta", "Adam", "SGD"],
    "batch_size": [8, 32, 512, 4096],
    "learning_rate": [0.0001, 0.01, 0.5, 1.0],
}
PRESET_TITLE = "The classic QuickDraw-10 MLP experiment: optimizer × batch size × learning rate, one at a time"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


def default_base() -> dict[str, Any]:
    """Each hyperparameter's default: RunConfig's."""
    config = RunConfig()
    return {k: getattr(config, k) for k in HYPERPARAMETERS}


class SweepError(SketchLabError):
    """A sweep request that cannot be done; the message says why."""


class SweepValidationError(SweepError):
    """The spec has invalid values; `.errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


@dataclass
class SweepSpec:
    """What to run. `base`: one value per hyperparameter (missing ones take RunConfig's
    defaults); `values`: {hyperparameter: [values to try]}; `ranges`: {"learning_rate":
    (low, high)} searched on a log scale (random and TPE modes)."""

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
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    def base_values(self) -> dict[str, Any]:
        return {**default_base(), **self.base}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["values"] = {k: list(v) for k, v in self.values.items()}
        d["ranges"] = {k: list(v) for k, v in self.ranges.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SweepSpec:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["classes"] = tuple(known.get("classes", QUICKDRAW_10))
        known["ranges"] = {k: tuple(v) for k, v in (known.get("ranges") or {}).items()}
        return cls(**known)

    def config(self, params: dict) -> RunConfig:
        """The RunConfig of one run with these hyperparameter values (not validated)."""
        return RunConfig(model=self.model, classes=tuple(self.classes), seed=self.seed,
                         augment=self.augment, **{**self.base_values(), **params})


def seed_preset(epochs: int = 25, per_class: int | None = None, model: str = "mlp") -> SweepSpec:
    """The classic experiment: optimizer, batch size and learning rate, one at a time (9 runs)."""
    return SweepSpec(
        model=model,
        mode="one_at_a_time",
        base={**default_base(), "epochs": epochs, "per_class": per_class},
        values={k: list(v) for k, v in SEED_VALUES.items()},
    )


@dataclass(frozen=True)
class SweepLimits:
    """Caps that keep a browser user from exhausting the machine.

    `max_open_runs` and `max_run_cost` are the shared limits a teacher may change (see
    `load_limits`): queued + running runs one owner may have at once (sweeps started from
    the command line have no owner and no such cap), and what one run may cost in epochs ×
    drawings ("all drawings" counts as `max_per_class` per class, its cap)."""

    max_runs: int = 64
    max_epochs: int = 100
    max_batch_size: int = 4096
    max_per_class: int = 10_000
    max_learning_rate: float = 10.0
    max_classes: int = 50
    max_workers: int = 2
    default_workers: int = 1
    max_open_runs: int = 64
    max_run_cost: int = 5_000_000  # e.g. 50 epochs of 10 classes x 10,000 drawings


# The limits a teacher may change from the Train page: field -> (label, lowest, highest).
SHARED_LIMITS = {
    "max_open_runs": ("queued + running runs per person", 1, 10_000),
    "max_run_cost": ("epochs × drawings per run", 1, 10**10),
}
LIMITS_FILE = "limits.json"


def load_limits(home) -> SweepLimits:
    """The shared limits in `<home>/limits.json` over the defaults; a missing or unreadable
    file, or a value out of range, leaves that limit at its default."""
    try:
        saved = json.loads((Path(home) / LIMITS_FILE).read_text())
    except (OSError, ValueError):
        return SweepLimits()
    kept = {}
    for key, (_label, low, high) in SHARED_LIMITS.items():
        value = saved.get(key) if isinstance(saved, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            kept[key] = value
    return replace(SweepLimits(), **kept)


def save_limits(home, values: dict, access=None) -> SweepLimits:
    """Change the shared limits (the teacher only); SweepValidationError names a bad value."""
    from ..access import LOCAL
    from ..fileio import atomic_write

    (access or LOCAL).require_teacher("change the shared limits")
    errors, clean = {}, {}
    for key, value in values.items():
        if key not in SHARED_LIMITS:
            errors[key] = f"{key!r} is not a limit that can be changed here"
            continue
        label, low, high = SHARED_LIMITS[key]
        try:
            number = int(value)
            if number != value and not (isinstance(value, str) and str(number) == value.strip()):
                raise ValueError
        except (TypeError, ValueError):
            errors[key] = f"{label} must be a whole number (got {value!r})"
            continue
        if not low <= number <= high:
            errors[key] = f"{label} must be between {low:,} and {high:,} (got {number:,})"
        clean[key] = number
    if errors:
        raise SweepValidationError(errors)
    limits = replace(load_limits(home), **clean)
    with atomic_write(Path(home) / LIMITS_FILE) as fh:
        fh.write(json.dumps({k: getattr(limits, k) for k in SHARED_LIMITS}, indent=1))
    return limits


def run_cost(config: RunConfig, limits: SweepLimits) -> int:
    """What one run costs: epochs × drawings (per class × classes; "all" counts as the cap)."""
    per_class = limits.max_per_class if config.per_class is None else int(config.per_class)
    return int(config.epochs) * per_class * len(config.classes)


# ---------------------------------------------------------------- text at the edge


def parse_values(key: str, text: str) -> list:
    """'0.001, 0.01' → [0.001, 0.01] for a form field or a CLI flag. What does not parse stays
    text, so validation names it; "a..b" is a range (see `parse_range`)."""
    out = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if key == "optimizer" or (key == "per_class" and part.lower() == "all"):
            out.append(part if key == "optimizer" else None)
            continue
        try:
            x = float(part)
        except ValueError:
            out.append(part)
            continue
        out.append(int(x) if key != "learning_rate" and x.is_integer() else x)
    return out


def parse_range(text: str) -> tuple[float, float] | None:
    """'0.0001..0.1' → (0.0001, 0.1); None when the text is not a range."""
    if ".." not in str(text):
        return None
    low, _, high = str(text).partition("..")
    try:
        return float(low), float(high)
    except ValueError:
        return None


# ---------------------------------------------------------------- checking


def _check_value(key: str, value, limits: SweepLimits) -> tuple[Any, str | None]:
    """(clean value, None) or (None, message): RunConfig's check, then the sweep's limit."""
    try:
        clean = getattr(replace(RunConfig(), **{key: value}).validate(), key)
    except ValueError as exc:
        why = str(exc).split(": ", 1)[-1]
        return None, f"{WORDS[key]} {why}" if why.startswith("must") else why
    if key == "learning_rate":
        clean = float(clean)
    caps = {"learning_rate": limits.max_learning_rate, "batch_size": limits.max_batch_size,
            "epochs": limits.max_epochs, "per_class": limits.max_per_class}
    if key in caps and clean is not None and clean > caps[key]:
        return None, f"{WORDS[key]} {clean:g} is above the limit of {caps[key]:g}"
    return clean, None


def count_runs(spec: SweepSpec) -> int:
    """How many runs a (clean) spec makes, computed without listing them."""
    if spec.mode == "one_at_a_time":
        base = spec.base_values()
        return 1 + sum(sum(1 for v in vals if v != base[k]) for k, vals in spec.values.items())
    if spec.mode == "grid":
        return math.prod(len(vals) for vals in spec.values.values())
    return spec.n_trials or 0


def _clean_classes(spec: SweepSpec, limits: SweepLimits, data_dir, errors: dict) -> list[str]:
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
                from ..data.dataset import no_data_message

                errors["classes"] = no_data_message(data_dir, missing)
    return classes


def _clean_ranges(spec: SweepSpec, limits: SweepLimits, errors: dict) -> dict:
    ranges = {}
    for key, bounds in spec.ranges.items():
        if key not in RANGE_KEYS:
            errors.setdefault("values", f"only {', '.join(RANGE_KEYS)} can be a range, not {key!r}")
            continue
        if spec.mode not in ("random", "tpe"):
            errors.setdefault(key, "a range (low..high) needs random or TPE search")
            continue
        if spec.values.get(key):
            errors.setdefault(key, "give a list of values or a range (low..high), not both")
            continue
        try:
            low, high = bounds
        except (TypeError, ValueError):
            errors.setdefault(key, f"a range is two numbers, low..high (got {bounds!r})")
            continue
        clean = []
        for v in (low, high):
            value, msg = _check_value(key, v, limits)
            if msg:
                errors.setdefault(key, msg)
            clean.append(value)
        if key not in errors and not clean[0] < clean[1]:
            errors[key] = f"the low end of a range must be below its high end (got {low:g}..{high:g})"
        if key not in errors:
            ranges[key] = tuple(clean)
    return ranges


def _clean_spec(spec: SweepSpec, limits: SweepLimits, data_dir=None) -> tuple[SweepSpec | None, dict]:
    """The spec with canonical values (optimizer spelling, floats, ints), or the errors."""
    from ..models import MODEL_KINDS

    errors: dict[str, str] = {}
    if spec.model not in MODEL_KINDS:
        errors["model"] = f"unknown model {spec.model!r}; choose from {', '.join(MODEL_KINDS)}"
    if spec.mode not in MODES:
        errors["mode"] = f"unknown mode {spec.mode!r}; choose from {', '.join(MODES)}"
    unknown = [k for k in list(spec.base) + list(spec.values) + list(spec.ranges) if k not in HYPERPARAMETERS]
    if unknown:
        errors["values"] = (f"unknown hyperparameter(s) {', '.join(map(repr, unknown))}; "
                            f"use {', '.join(HYPERPARAMETERS)}")

    base: dict[str, Any] = {}
    for key, value in spec.base_values().items():
        if key in HYPERPARAMETERS:
            base[key], msg = _check_value(key, value, limits)
            if msg:  # its own field, so a form shows it under the base value, not the list
                errors.setdefault(f"base_{key}", msg)
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
            clean, msg = _check_value(key, v, limits)
            if msg:
                errors.setdefault(key, msg)
            elif clean not in cleaned:
                cleaned.append(clean)
        values[key] = cleaned
    ranges = _clean_ranges(spec, limits, errors)
    classes = _clean_classes(spec, limits, data_dir, errors)

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
        name=spec.name, ranges=ranges,
    )
    n_runs = count_runs(clean)  # a product: the grid is never listed to be counted
    if n_runs == 0:
        errors["runs"] = "this sweep has no runs: give values to try"
    elif n_runs > limits.max_runs:
        errors["runs"] = f"{n_runs:,} runs is above the limit of {limits.max_runs} runs per sweep"
    else:
        _check_cost(clean, limits, errors)
    return (None, errors) if errors else (clean, {})


def _check_cost(spec: SweepSpec, limits: SweepLimits, errors: dict) -> None:
    """The costliest run against `max_run_cost` (TPE: the costliest values it may pick)."""
    if spec.mode == "tpe":
        space = search_space(spec)
        per_class = [limits.max_per_class if v is None else v for v in space["per_class"]]
        configs = [spec.config({"epochs": max(space["epochs"]), "per_class": max(per_class)})]
    else:
        configs = expand_runs(spec)  # at most max_runs: counted above
    worst = max(configs, key=lambda c: run_cost(c, limits))
    cost = run_cost(worst, limits)
    if cost > limits.max_run_cost:
        drawings = "all (up to {:,})".format(limits.max_per_class) if worst.per_class is None else f"{worst.per_class:,}"
        errors["runs"] = (f"a run of {worst.epochs} epochs × {drawings} drawings per class × {len(worst.classes)} "
                          f"classes costs {cost:,} epochs × drawings, above the limit of {limits.max_run_cost:,} "
                          "per run: use fewer epochs, drawings per class or classes")


def _classes_without_data(data_dir, classes) -> list[str]:
    from ..data.dataset import NPZ_NAME, scan_data_dir

    found = scan_data_dir(data_dir)
    root = Path(data_dir)
    if not found and root.is_dir() and next(root.rglob(NPZ_NAME), None) is not None:
        found = {c: None for c in QUICKDRAW_10}  # build_dataset reads the seed's npz for these
    return [c for c in classes if c not in found]


def validate_sweep(spec: SweepSpec, limits: SweepLimits | None = None, data_dir=None) -> dict[str, str]:
    """{field: message} for every invalid part of `spec`; {} when it can be launched."""
    return _clean_spec(spec, limits or SweepLimits(), data_dir)[1]


def clean_spec(spec: SweepSpec, limits: SweepLimits | None = None, data_dir=None) -> SweepSpec:
    """The validated spec with canonical values; SweepValidationError naming each bad field."""
    clean, errors = _clean_spec(spec, limits or SweepLimits(), data_dir)
    if errors:
        raise SweepValidationError(errors)
    return clean


# ---------------------------------------------------------------- the runs


def search_space(spec: SweepSpec) -> dict[str, list]:
    """The values each hyperparameter may take: its list plus its base value (random/TPE: its list)."""
    base = spec.base_values()
    space = {}
    for key in HYPERPARAMETERS:
        vals = list(spec.values.get(key, []))
        if spec.mode in ("random", "tpe") and vals:
            space[key] = vals
        else:
            space[key] = ([base[key]] if base[key] not in vals else []) + vals
    return space


def run_params(config: RunConfig) -> dict[str, Any]:
    """The hyperparameters of a RunConfig, as stored with its run."""
    return {k: getattr(config, k) for k in HYPERPARAMETERS}


def run_group(spec: SweepSpec, params: dict) -> str | None:
    """The key a one-at-a-time run varies; None for the base run (it belongs to every group)."""
    if spec.mode != "one_at_a_time":
        return None
    base = spec.base_values()
    return next((k for k in spec.values if params.get(k) != base[k]), None)


def expand_runs(spec: SweepSpec) -> list[RunConfig]:
    """Every run of a clean spec, in queue order. TPE runs are chosen as they start: [].

    Call it on a validated spec only: `count_runs` bounds it first."""
    base = spec.base_values()
    if spec.mode == "one_at_a_time":
        combos = [{}] + [{k: v} for k, vals in spec.values.items() for v in vals if v != base[k]]
    elif spec.mode == "grid":
        combos = [{}]
        for key, vals in spec.values.items():
            combos = [{**c, key: v} for c in combos for v in vals]
    elif spec.mode == "random":
        rng = random.Random(spec.seed)
        space = search_space(spec)
        combos = []
        for _ in range(spec.n_trials or 0):
            combo = {k: rng.choice(space[k]) for k in HYPERPARAMETERS}
            for key, (low, high) in spec.ranges.items():
                value = float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.3g}")  # readable
                combo[key] = min(max(value, low), high)
            combos.append(combo)
    else:
        return []
    return [spec.config(c) for c in combos]
