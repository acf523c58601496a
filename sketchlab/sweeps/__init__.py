"""Hyperparameter sweeps that run in the background, on Optuna.

A sweep (`spec`) expands into `training.RunConfig`s, is queued as one Optuna study in a
storage (`store`: SQLite in the home folder, or PostgreSQL shared by several machines),
and is trained by workers (`worker`) that the app or the command line starts (`workers`).
Everything a page shows is read back from the storage, so a sweep survives page reloads,
app restarts and worker crashes. The names below are what the app and the CLI use.
"""

from .records import FINAL_STATES, RUN_STATES, RunRecord, SweepSummary, cancelled_text
from .spec import (
    HYPERPARAMETERS,
    MODES,
    PRESET_TITLE,
    RANGE_KEYS,
    SEED_VALUES,
    SweepError,
    SHARED_LIMITS,
    SweepLimits,
    SweepSpec,
    SweepValidationError,
    count_runs,
    default_base,
    expand_runs,
    load_limits,
    parse_range,
    parse_values,
    run_cost,
    save_limits,
    seed_preset,
    validate_sweep,
)
from .queue import fair_order, runs_ahead
from .store import SweepStore, safe_url
from .workers import WorkerInfo, ensure_workers, workers_alive

__all__ = [
    "FINAL_STATES", "HYPERPARAMETERS", "MODES", "PRESET_TITLE", "RANGE_KEYS", "RUN_STATES", "SEED_VALUES",
    "SHARED_LIMITS", "fair_order", "load_limits", "run_cost", "runs_ahead", "save_limits",
    "RunRecord", "SweepError", "SweepLimits", "SweepSpec", "SweepStore", "SweepSummary",
    "SweepValidationError", "WorkerInfo", "cancelled_text", "count_runs", "default_base", "ensure_workers",
    "expand_runs", "parse_range", "parse_values", "safe_url", "seed_preset",
    "validate_sweep", "workers_alive",
]
