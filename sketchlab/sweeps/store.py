"""Where sweeps live: an Optuna RDB storage (SQLite by default, PostgreSQL to share machines).

A sweep is one Optuna study; each run is a trial, enqueued up front. `SweepStore(url)`
creates sweeps, reads them back as plain records (no TensorFlow, cheap enough to poll every
1-2 s), and cancels, re-queues and exports runs. Everything goes through Optuna's public
API (`optuna.load_study`, `study.trials`, `study.enqueue_trial`, user attributes and
`RetryHeartbeatStaleTrialCallback`), so an Optuna upgrade cannot silently break recovery.

Storage layout, for other tools: study user attr "sketchlab" = {"spec", "created",
"version", "max_per_class"}; "cancelled" = true once the sweep is cancelled; "cancel_run:N"
= true when run N is to stop. Trial user attrs: "run" (index in the sweep), "group",
"params" (as queued), "status", "history", "error", "model_dir", "worker", "data",
"retry_of" (a run re-queued by hand). Optuna states: done = COMPLETE (value = final
validation accuracy), diverged = COMPLETE (its best validation accuracy, 0.0 without one,
so TPE learns to avoid it), pruned = PRUNED, cancelled/failed = FAIL.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import os
import time
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ..access import LOCAL, Access
from ..fileio import atomic_write
from .records import (
    CANCELLED,
    STUDY_ATTR,
    RunRecord,
    SweepSummary,
    _finite,
    _now,
    cancel_key,
    records,
    summarize,
)
from .spec import (
    HYPERPARAMETERS,
    SweepError,
    SweepLimits,
    SweepSpec,
    SweepValidationError,
    clean_spec,
    load_limits,
    expand_runs,
    run_group,
    run_params,
)

MAX_RETRIES = 2  # a run whose worker dies is re-queued at most this often (then `retry` by hand)
DEFAULT_HEARTBEAT_S = 5
DEFAULT_GRACE_S = 20


# ---------------------------------------------------------------- opening a storage


def _prepare_sqlite(url: str, home: Path | None) -> dict:
    """Check the SQLite file's folder (created only inside `home`), switch it to WAL, and
    wait on locks instead of failing."""
    path = url[len("sqlite:///"):]
    if path and path != ":memory:":
        import sqlite3

        folder = Path(path).parent
        if not folder.is_dir():
            inside_home = home is not None and Path(os.path.abspath(folder)).is_relative_to(os.path.abspath(home))
            if not inside_home:
                raise SweepError(f"the folder {folder} for the sweep storage does not exist; "
                                 "create it first or give another --storage")
            folder.mkdir(parents=True, exist_ok=True)
        # WAL lets pages read while a worker writes; the mode is stored in the file.
        try:
            with sqlite3.connect(path, timeout=60) as con:
                con.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise SweepError(f"cannot open the sweep storage {path}: {exc}") from exc
    return {"connect_args": {"timeout": 60}}


def open_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None,
                 home: Path | None = None):
    """An RDBStorage for `url`; with a heartbeat, a run whose worker dies is re-queued."""
    engine_kwargs = _prepare_sqlite(url, home) if url.startswith("sqlite:///") else {}
    if url.startswith("postgresql"):
        engine_kwargs = {"pool_pre_ping": True}  # a server restart should not break a long-lived page
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = (
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)
            if heartbeat_interval
            else None
        )
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=retry,
            )
        except Exception as exc:  # sqlalchemy/driver errors for a bad URL or an unreachable server
            raise SweepError(f"cannot open the sweep storage {safe_url(url)}: {exc}") from exc


@functools.lru_cache(maxsize=8)
def _reader(url: str, home: str | None):
    """The storage for reads and small writes (no heartbeat), one per URL and process:
    opening one checks the schema (tens of ms), and pages poll."""
    return open_storage(url, home=Path(home) if home else None)


def safe_url(url: str) -> str:
    """A storage URL without its password, for messages and logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(storage URL)"


def _quiet() -> None:
    """Optuna logs "A new study created" and such at INFO; the CLI and pages say it themselves."""
    if optuna.logging.get_verbosity() < optuna.logging.WARNING:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


# ---------------------------------------------------------------- the store


class SweepStore:
    """The sweeps in one storage URL. `home`: the only folder a SQLite file's folder may be created in."""

    def __init__(self, url: str, home=None):
        self.url = url
        self.home = Path(home) if home is not None else None

    @classmethod
    def of(cls, settings, storage: str | None = None) -> SweepStore:
        """The storage a user named (`--storage`, the app's setting), else the home folder's."""
        return cls(storage or settings.sweep_storage, home=settings.home_dir)

    @property
    def storage(self):
        return _reader(self.url, str(self.home) if self.home else None)

    def __repr__(self) -> str:
        return f"SweepStore({safe_url(self.url)!r})"

    # -- studies

    def study(self, name: str, sampler=None, pruner=None) -> optuna.Study:
        """The Optuna study of sweep `name` (SweepError when there is none)."""
        _quiet()
        try:
            study = optuna.load_study(study_name=name, storage=self.storage,
                                      sampler=sampler or optuna.samplers.RandomSampler(), pruner=pruner)
        except KeyError:
            raise SweepError(f"no sweep named {name!r}") from None
        if STUDY_ATTR not in study.user_attrs:
            raise SweepError(f"study {name!r} is not a SketchLab sweep")
        return study

    def names(self) -> list[str]:
        """Every SketchLab sweep in the storage (other studies in a shared storage are skipped)."""
        summaries = optuna.get_all_study_summaries(self.storage, include_best_trial=False)
        return [s.study_name for s in summaries if STUDY_ATTR in s.user_attrs]

    def spec(self, name: str) -> SweepSpec:
        return SweepSpec.from_dict(self.study(name).user_attrs[STUDY_ATTR]["spec"])

    # -- create

    def create(self, spec: SweepSpec, limits: SweepLimits | None = None, data_dir=None,
               access: Access = LOCAL) -> str:
        """Validate, create the study and enqueue every run; start no worker. Returns the name.

        The sweep belongs to `access.owner`; an owner (a browser session) may have at most
        `limits.max_open_runs` queued and running runs, this sweep's included. `limits` default to
        the shared ones in the home folder (what the teacher set)."""
        limits = limits or (load_limits(self.home) if self.home else SweepLimits())
        clean = clean_spec(spec, limits, data_dir)
        if access.owner:
            from .spec import count_runs

            open_runs = self.open_runs(access.owner)
            new = count_runs(clean)
            if open_runs + new > limits.max_open_runs:
                raise SweepValidationError({"runs": (
                    f"you have {open_runs} run{'s' if open_runs != 1 else ''} queued or running, and this sweep "
                    f"adds {new}: at most {limits.max_open_runs} per person, so that everyone's runs get "
                    "their turn. Wait for yours to finish, or cancel some.")})
        name = self._unique_name(clean)
        clean.name = name
        _quiet()
        try:
            study = optuna.create_study(storage=self.storage, study_name=name, direction="maximize")
        except optuna.exceptions.DuplicatedStudyError:
            raise SweepValidationError({"name": f"a sweep named {name!r} was just created; try again"}) from None
        from .. import __version__

        study.set_user_attr(STUDY_ATTR, {"spec": clean.to_dict(), "created": _now().isoformat(),
                                         "version": __version__, "max_per_class": limits.max_per_class,
                                         "owner": {"id": access.owner, "name": access.name}})
        if clean.mode == "tpe":
            for index in range(clean.n_trials):
                study.enqueue_trial({}, user_attrs={"run": index, "group": None, "params": {}})
        for index, config in enumerate(expand_runs(clean)):
            params = run_params(config)
            study.enqueue_trial(params, user_attrs={"run": index, "group": run_group(clean, params),
                                                    "params": params})
        return name

    def _unique_name(self, spec: SweepSpec) -> str:
        taken = {s.study_name for s in optuna.get_all_study_summaries(self.storage, include_best_trial=False)}
        if spec.name:
            if spec.name in taken:
                raise SweepValidationError({"name": f"a sweep named {spec.name!r} exists already"})
            return spec.name
        stem = f"{spec.model}-{spec.mode.replace('_', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"
        name, i = stem, 2
        while name in taken:
            name, i = f"{stem}-{i}", i + 1
        return name

    # -- read

    def list(self) -> list[SweepSummary]:
        """Every SketchLab sweep in the storage, newest first."""
        out = [self.get(name) for name in self.names()]
        return sorted(out, key=lambda s: s.created or dt.datetime.min, reverse=True)

    def _read(self, name: str) -> tuple[dict, list[RunRecord]]:
        study = self.study(name)
        attrs = study.user_attrs
        return attrs, records(study.get_trials(deepcopy=False), attrs)

    def get(self, name: str) -> SweepSummary:
        attrs, runs = self._read(name)
        return summarize(name, attrs, runs)

    def runs(self, name: str) -> list[RunRecord]:
        """The runs of sweep `name`, by number, with their live per-epoch history."""
        return self._read(name)[1]

    def open_runs(self, owner: str) -> int:
        """Queued and running runs of every sweep that `owner` started."""
        return sum(s.counts["queued"] + s.counts["running"] for s in self.list() if s.owner == owner)

    def queue(self) -> list[tuple[str, str]]:
        """(sweep, owner) of every queued run, in the order workers will start them (`queue.fair_order`)."""
        from .queue import fair_order, queued_sweep

        states = [queued_sweep(name, self.study(name)) for name in self.names()]
        return fair_order([s for s in states if s is not None])

    def stale(self, idle_s: float, now: dt.datetime | None = None) -> list[SweepSummary]:
        """Sweeps with runs still queued, none running, and nothing started, ended or created
        for `idle_s` seconds: left behind (yesterday's class, a student who went home)."""
        now = now or _now()
        return [s for s in self.list() if not s.is_final and not s.counts["running"]
                and s.last_activity is not None and (now - s.last_activity).total_seconds() >= idle_s]

    def clear(self, names, access: Access = LOCAL) -> int:
        """Cancel these sweeps for everybody (the teacher only): their queued runs never start.
        Returns how many runs that stops; the sweeps and their finished runs are kept."""
        access.require_teacher("clear sweeps from the queue")
        return sum(self.cancel(name, access) for name in names)

    # -- act

    def _require_manage(self, study: optuna.Study, access: Access, action: str) -> None:
        owner = str((study.user_attrs[STUDY_ATTR].get("owner") or {}).get("id") or "")
        access.require_manage(owner, action)

    def cancel(self, name: str, access: Access = LOCAL) -> int:
        """Stop a sweep: queued runs never start, running runs stop at their next epoch.

        Returns how many runs that affects (queued + running). A student may cancel only
        their own sweeps (NotAllowedError)."""
        study = self.study(name)
        self._require_manage(study, access, "cancel the runs")
        study.set_user_attr(CANCELLED, True)
        live = study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
        return sum(1 for t in live if "run" in t.user_attrs)

    def cancel_run(self, name: str, number: int, access: Access = LOCAL) -> None:
        """Stop one run: if queued it never starts; if running it stops at its next epoch."""
        study = self.study(name)
        self._require_manage(study, access, "cancel the runs")
        run = next((r for r in self.runs(name) if r.number == int(number)), None)
        if run is None:
            raise SweepError(f"sweep {name!r} has no run {number}")
        if run.is_final:
            raise SweepError(f"run {number} of {name!r} has already ended ({run.state})")
        study.set_user_attr(cancel_key(number), True)

    def retry(self, name: str, number: int | None = None, access: Access = LOCAL) -> list[int]:
        """Queue again a failed run (or, without `number`, every failed run not yet re-queued);
        returns the new run numbers. A worker then runs them as usual."""
        study = self.study(name)
        self._require_manage(study, access, "re-run the runs")
        attrs = study.user_attrs
        if attrs.get(CANCELLED):
            raise SweepError(f"sweep {name!r} was cancelled; start a new sweep instead")
        trials = {t.number: t for t in study.get_trials(deepcopy=False) if "run" in t.user_attrs}
        runs = records(trials.values(), attrs)
        requeued = {r.retry_of for r in runs if r.retry_of is not None}
        if number is not None:
            run = next((r for r in runs if r.number == int(number)), None)
            if run is None:
                raise SweepError(f"sweep {name!r} has no run {number}")
            if run.state != "failed":
                raise SweepError(f"run {number} of {name!r} is {run.state}; only failed runs can be retried")
            if run.number in requeued:
                again = next(r.number for r in runs if r.retry_of == run.number)
                raise SweepError(f"run {number} of {name!r} was already re-queued as run {again}")
            todo = [run]
        else:
            todo = [r for r in runs if r.state == "failed" and r.number not in requeued]
            if not todo:
                raise SweepError(f"sweep {name!r} has no failed run to retry")
        new = []
        for run in todo:
            ua = trials[run.number].user_attrs
            study.enqueue_trial(dict(run.params), user_attrs={
                "run": ua["run"], "group": ua.get("group"), "params": dict(run.params), "retry_of": run.number})
            new.append(max(t.number for t in study.get_trials(deepcopy=False)))
        return new

    def export_csv(self, name: str, path_or_file) -> int:
        """Write one CSV row per run (hyperparameters, state, metrics); returns the number of rows."""
        attrs, runs = self._read(name)
        model = summarize(name, attrs, runs).spec.model

        def rows():
            for r in runs:
                last = r.history[-1] if r.history else {}
                yield {
                    "number": r.number, "state": r.state, "group": r.group or "", "model": model,
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
            with atomic_write(path_or_file, "w", newline="", encoding="utf-8") as fh:
                write(fh)
        return len(runs)


CSV_FIELDS = (
    "number", "state", "group", "model", *HYPERPARAMETERS, "epochs_done", "last_val_accuracy",
    "best_val_accuracy", "last_val_loss", "last_accuracy", "last_loss", "seconds", "error",
    "model_dir", "started", "finished", "retry_of",
)


def _fmt(x) -> str:
    v = _finite(x)
    return "" if v is None else f"{v + 0.0:.6g}"  # + 0.0 turns -0.0 into 0.0
