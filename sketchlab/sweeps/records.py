"""A sweep as a page reads it: its runs as plain records and a summary, from Optuna's trials.

A run's state is one of RUN_STATES: "queued" -> "running" -> "done" | "diverged" | "pruned" |
"cancelled" | "failed". A run whose worker died shows as "failed" and, when Optuna's
heartbeat callback or a retry by hand queued it again, names the run that re-runs it.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from .spec import SweepSpec

RUN_STATES = ("queued", "running", "done", "diverged", "pruned", "cancelled", "failed")
FINAL_STATES = ("done", "diverged", "pruned", "cancelled", "failed")
STUDY_ATTR = "sketchlab"  # study user attr that marks a study as a SketchLab sweep
CANCELLED = "cancelled"  # study user attr set when the sweep is cancelled


def cancelled_text(n: int) -> str:
    """What a cancel did, in words (one run, not "1 runs")."""
    if n == 0:
        return "no run was queued or running"
    return f"{n} queued or running run{'s' if n != 1 else ''} will stop or never start"


def cancel_key(number: int) -> str:
    """The study user attr that asks run `number` to stop (one key per run: no lost updates)."""
    return f"cancel_run:{int(number)}"


# ---------------------------------------------------------------- records


@dataclass
class RunRecord:
    """One run as a page shows it; `state` is one of RUN_STATES."""

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
    run: int | None = None  # the run's index in the sweep; a re-run keeps its original's

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
    state: str  # "queued" | "running" | "finished" | "cancelled"
    n_runs: int
    counts: dict[str, int]
    best_run: int | None = None
    best_val_accuracy: float | None = None
    owner: str = ""  # the anonymous id of the session that started it ("" from the command line)
    owner_name: str = ""  # the name they typed, if any
    last_activity: dt.datetime | None = None  # creation, or the latest start or end of a run

    @property
    def owner_label(self) -> str:
        from ..access import owner_label

        return owner_label(self.owner, self.owner_name)

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


def _retried_from(t) -> int | None:
    """The run this trial re-runs: after a crash (Optuna's callback) or re-queued by hand."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(t)
    if history:
        return history[-1]
    return t.user_attrs.get("retry_of")


def run_record(t, study_attrs: dict, requeued_as: dict[int, int]) -> RunRecord:
    """A FrozenTrial of a sweep as a RunRecord."""
    ua = t.user_attrs
    status = ua.get("status")
    history = list(ua.get("history") or [])
    accs = [a for a in (_finite(h.get("val_accuracy")) for h in history) if a is not None]
    error = ua.get("error")
    cancel_requested = bool(study_attrs.get(cancel_key(t.number)))
    if t.state == TrialState.WAITING:
        state = "cancelled" if (study_attrs.get(CANCELLED) or cancel_requested) else "queued"
        history, accs = [], []  # a re-queued run carries its crashed predecessor's attrs
    elif t.state == TrialState.RUNNING:
        state = "running"
    elif t.state == TrialState.COMPLETE:
        state = status if status in ("done", "diverged") else "done"
    elif t.state == TrialState.PRUNED:
        state = "pruned"
    elif status in ("cancelled", "failed", "diverged"):
        state = status
    else:
        # FAIL without a final status: the worker died (heartbeat went stale).
        state = "failed"
        error = "the worker stopped during this run (no heartbeat)"
    again = requeued_as.get(t.number)
    if state == "failed" and again is not None:
        error = f"{error}; re-queued as run {again}"
    return RunRecord(
        number=t.number,
        state=state,
        params=dict(t.params) or dict(ua.get("params") or {}),
        group=ua.get("group"),
        history=history,
        best_val_accuracy=max(accs) if accs else None,
        last_val_accuracy=accs[-1] if accs else None,
        error=error if state in ("failed", "cancelled", "diverged") else None,
        model_dir=ua.get("model_dir") if state == "done" else None,
        started=t.datetime_start if t.state != TrialState.WAITING else None,
        finished=t.datetime_complete,
        worker=ua.get("worker") if t.state != TrialState.WAITING else None,
        retry_of=_retried_from(t),
        cancel_requested=cancel_requested,
        run=ua.get("run"),
    )


def records(trials, study_attrs: dict) -> list[RunRecord]:
    trials = [t for t in trials if "run" in t.user_attrs]
    requeued_as = {}
    for t in trials:
        old = _retried_from(t)
        if old is not None:
            requeued_as[old] = t.number
    return [run_record(t, study_attrs, requeued_as) for t in trials]


def summarize(name: str, attrs: dict, runs: list[RunRecord]) -> SweepSummary:
    meta = attrs.get(STUDY_ATTR, {})
    counts = {s: 0 for s in RUN_STATES}
    for r in runs:
        counts[r.state] += 1
    best = max(
        (r for r in runs if r.state == "done" and r.last_val_accuracy is not None),
        key=lambda r: r.last_val_accuracy,
        default=None,
    )
    if attrs.get(CANCELLED):
        state = "cancelled"
    elif counts["queued"] == len(runs) and runs:
        state = "queued"
    elif counts["queued"] or counts["running"]:
        state = "running"
    else:
        state = "finished"
    created = meta.get("created")
    created = dt.datetime.fromisoformat(created) if created else None
    moments = [created] + [m for r in runs for m in (r.started, r.finished)]
    owner = meta.get("owner") or {}
    return SweepSummary(
        name=name,
        spec=SweepSpec.from_dict(meta.get("spec", {})),
        created=created,
        state=state,
        n_runs=len(runs),
        counts=counts,
        best_run=best.number if best else None,
        best_val_accuracy=best.last_val_accuracy if best else None,
        owner=str(owner.get("id") or ""),
        owner_name=str(owner.get("name") or ""),
        last_activity=max((m for m in moments if m is not None), default=None),
    )


def _now() -> dt.datetime:
    return dt.datetime.now()  # naive local time, as Optuna stamps trials
