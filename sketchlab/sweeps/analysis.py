"""What a sweep found, for people: the winner in words and Optuna's analysis figures.

The figures come from `optuna.visualization` (plotly figures a page shows as they are):
parallel coordinates of the hyperparameters against each run's best validation accuracy,
and hyperparameter importance (fANOVA) once enough runs have finished to say anything.
"""

from __future__ import annotations

import statistics
import warnings

import optuna
from optuna.trial import FrozenTrial, TrialState

from .records import RunRecord
from .spec import WORDS

MIN_RUNS_FOR_IMPORTANCE = 5  # fANOVA on fewer finished runs reads noise as importance
TARGET_NAME = "best val accuracy"


def _best_val_accuracy(trial: FrozenTrial) -> float:
    accs = [h.get("val_accuracy") for h in trial.user_attrs.get("history") or []]
    accs = [a for a in accs if a is not None]
    return max(accs) if accs else float(trial.value or 0.0)


def varied_params(study: optuna.Study) -> list[str]:
    """Hyperparameters that took more than one value among the finished runs."""
    seen: dict[str, set] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        for k, v in t.params.items():
            seen.setdefault(k, set()).add(repr(v))
    return [k for k, vals in seen.items() if len(vals) > 1]


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def parallel_coordinates(study: optuna.Study):
    """Each finished run as a line through its hyperparameters to its best val accuracy; None
    when fewer than two runs finished or nothing was varied."""
    params = varied_params(study)
    if finished_count(study) < 2 or not params:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fig = optuna.visualization.plot_parallel_coordinate(
            study, params=params, target=_best_val_accuracy, target_name=TARGET_NAME)
    fig.update_layout(title=None, margin={"l": 60, "r": 30, "t": 40, "b": 30}, height=360)
    return fig


def importance(study: optuna.Study):
    """(figure, None), or (None, why not) when too few runs finished or nothing was varied."""
    n, params = finished_count(study), varied_params(study)
    if not params:
        return None, "Importance needs a sweep that varies at least one hyperparameter."
    if n < MIN_RUNS_FOR_IMPORTANCE:
        return None, (f"Importance needs at least {MIN_RUNS_FOR_IMPORTANCE} finished runs; this sweep has {n}. "
                      "With fewer, it would read noise as importance.")
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    scores = {round(_best_val_accuracy(t), 6) for t in finished}
    if len(scores) < 2:
        return None, "Importance cannot be told: every finished run reached the same accuracy."
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            fig = optuna.visualization.plot_param_importances(
                study, evaluator=evaluator, params=params, target=_best_val_accuracy, target_name=TARGET_NAME)
        except RuntimeError as exc:  # fANOVA: "zero total variance" when the settings explain nothing
            return None, f"Importance cannot be told from these runs ({exc})."
    fig.update_layout(title=None, margin={"l": 60, "r": 30, "t": 20, "b": 30}, height=60 + 40 * len(params))
    return fig, None


def best_runs(runs: list[RunRecord], n: int = 5) -> list[RunRecord]:
    """The `n` runs with the highest best validation accuracy (any state, with a curve)."""
    scored = [r for r in runs if r.best_val_accuracy is not None]
    return sorted(scored, key=lambda r: (-r.best_val_accuracy, r.number))[:n]


def _value_text(key: str, value) -> str:
    if value is None:
        return f"all {WORDS[key]}" if key == "per_class" else f"{WORDS[key]} –"
    if key == "optimizer":
        return str(value)
    if key == "per_class":
        return f"{value:,} {WORDS[key]}"
    if key == "epochs":
        return f"{value} epochs"
    return f"{WORDS[key]} {value:g}" if isinstance(value, float) else f"{WORDS[key]} {value}"


def winner_sentence(runs: list[RunRecord]) -> str | None:
    """The best finished run in one sentence, against the median of the others; None before any."""
    done = [r for r in runs if r.state == "done" and r.last_val_accuracy is not None]
    if not done:
        return None
    best = max(done, key=lambda r: (r.last_val_accuracy, -r.number))
    setting = ", ".join(_value_text(k, v) for k, v in best.params.items())
    text = f"Run #{best.number} won with {best.last_val_accuracy:.1%} validation accuracy ({setting})."
    others = [r.last_val_accuracy for r in done if r is not best]
    if others:
        gap = best.last_val_accuracy - statistics.median(others)
        text += (f" That is {gap * 100:.1f} points above the median of the other {len(others)} "
                 f"finished run{'s' if len(others) > 1 else ''}.")
    return text
