"""A sweep worker: pulls queued runs from the sweeps of one storage and trains them.

Any number of workers, on any machines that reach the storage, can serve the same sweeps.
Each run goes through `study.optimize`, so Optuna's heartbeat thread marks it alive; when a
worker dies mid-run (kill -9, power cut) its run goes stale after `grace_period` seconds and
the next worker to look re-queues it (RetryHeartbeatStaleTrialCallback, see
`store.open_storage`), while every finished run stays as it was.

Per run, the worker writes into the trial as it trains: "status", a "history" entry after
every epoch (so pages draw live curves) and `trial.report(val_accuracy, epoch)` for the
optional median pruner; a finished run's model and card go to
`settings.runs_dir/<sweep>/<run number>/` ("model_dir"). A run that cannot train or cannot
be saved (no data, a full or read-only disk) ends "failed" with the reason, and the worker
goes on with the next one.

A worker exits when nothing is left to do (with `wait`, it keeps polling instead). Before
exiting it lingers while runs of other workers are still running, so that a run whose
worker died is picked up once its heartbeat goes stale. TensorFlow is imported only when
the first run starts.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ..errors import SketchLabError
from ..fileio import path_inside
from ..settings import Settings
from .records import CANCELLED, STUDY_ATTR, RunRecord, cancel_key, run_record
from .queue import QueuedSweep, queued_sweep
from .queue import next_sweep as fair_next
from .spec import HYPERPARAMETERS, SweepSpec, search_space
from .store import DEFAULT_GRACE_S, DEFAULT_HEARTBEAT_S, open_storage, safe_url
from .workers import remove_worker_file, workers_alive, workers_lock, write_worker_file

CANCEL_POLL_S = 1.0  # a cancel is read from the storage at most this often (and at every epoch end)


class RunCancelled(Exception):
    """The run (or its sweep) was cancelled; Optuna records it as FAIL, status "cancelled"."""


class RunFailed(SketchLabError):
    """A run that cannot go on, for a reason in words (e.g. its model cannot be saved)."""


class NotASweepRun(Exception):
    """Optuna made a fresh trial because another worker took the last queued one first."""


def _sampler(spec: SweepSpec):
    if spec.mode == "tpe":
        n = spec.n_trials or 10
        # Random picks first, then TPE learns from them; a third of the budget, 2 to 10 runs.
        return optuna.samplers.TPESampler(n_startup_trials=min(10, max(2, n // 3)))
    return optuna.samplers.RandomSampler()  # never asked: every run of these modes has fixed values


def _pruner(spec: SweepSpec):
    if spec.prune:
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


class _RunTrial:
    """The objective: one queued run of one sweep, trained with `sketchlab.training`."""

    def __init__(self, study: optuna.Study, meta: dict, settings: Settings, splits: dict, touch,
                 storage_url: str):
        self.study = study
        self.study_name = study.study_name
        self.spec = SweepSpec.from_dict(meta["spec"])
        self.max_per_class = meta.get("max_per_class")
        self.settings = settings
        self.splits = splits  # one cached TrainSplit per worker: runs of a sweep share their data
        self.touch = touch
        self.storage_url = storage_url
        self.space = search_space(self.spec)

    def _cancel_requested(self, number: int) -> bool:
        attrs = self.study.user_attrs  # read from the storage on every access
        return bool(attrs.get(CANCELLED) or attrs.get(cancel_key(number)))

    def _suggest(self, trial: optuna.Trial) -> dict:
        """The run's values: fixed when it was queued; TPE picks them now (a range on a log scale)."""
        params = {}
        for key in HYPERPARAMETERS:
            if key in self.spec.ranges:
                low, high = self.spec.ranges[key]
                params[key] = trial.suggest_float(key, low, high, log=True)
            else:
                params[key] = trial.suggest_categorical(key, self.space[key])
        return params

    def __call__(self, trial: optuna.Trial) -> float:
        if "run" not in trial.user_attrs:
            raise NotASweepRun(f"trial {trial.number} was not queued by SketchLab")
        # A re-queued run inherits the attrs of the one that crashed: start it afresh.
        for key, value in (("status", "running"), ("history", []), ("error", None), ("model_dir", None),
                           ("worker", f"{socket.gethostname()}:{os.getpid()}")):
            trial.set_user_attr(key, value)
        if self._cancel_requested(trial.number):
            trial.set_user_attr("status", "cancelled")
            trial.set_user_attr("error", "cancelled before it started")
            raise RunCancelled("cancelled before it started")
        params = self._suggest(trial)
        self.touch(f"{self.study_name}#{trial.number}")
        try:
            return self._train(trial, params)
        except (RunCancelled, optuna.TrialPruned):
            raise
        except optuna.exceptions.UpdateFinishedTrialError:
            raise  # another worker failed this run as stale; nothing more can be written to it
        except KeyboardInterrupt:
            trial.set_user_attr("status", "cancelled")
            trial.set_user_attr("error", "the worker was interrupted")
            raise
        except Exception as exc:
            from ..dataset import NoDataError

            text = str(exc) if isinstance(exc, (NoDataError, SketchLabError)) else f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("status", "failed")
            trial.set_user_attr("error", text)
            raise

    def _split(self, config):
        from .. import training

        key = (tuple(config.classes), config.per_class, config.augment)
        if key not in self.splits:
            self.splits.clear()
            self.splits[key] = training.prepare_split(
                self.settings.data_dir, config, self.settings.dataset_cache_dir
            )
        return self.splits[key]

    def _train(self, trial: optuna.Trial, params: dict) -> float:
        from .. import cards, training

        spec = self.spec
        config = spec.config(params)  # train_run checks it (RunConfig.validate)
        if config.per_class is None:
            config.per_class = self.max_per_class  # "all drawings" is capped by the sweep's limit
        # The sweep's name may come from anyone who reaches the storage: a safe folder name.
        model_dir = path_inside(self.settings.runs_dir, self.study_name, str(trial.number))
        _check_writable(model_dir.parent)  # before any epoch: a full or read-only disk fails the run now
        split = self._split(config)
        data = {"source": split.source, "n_train": len(split.y_train), "n_val": len(split.y_val)}
        trial.set_user_attr("data", data)
        history: list[dict] = []
        flags = {"pruned": False, "lost": False, "cancelled": False, "check_now": True, "last_check": 0.0}

        def on_epoch(m) -> None:
            history.append(m.to_dict())
            try:
                trial.set_user_attr("history", history)
                if m.val_accuracy is not None and math.isfinite(m.val_accuracy):
                    trial.report(float(m.val_accuracy), int(m.epoch))
                    if spec.prune and trial.should_prune():
                        flags["pruned"] = True
            except optuna.exceptions.UpdateFinishedTrialError:
                flags["lost"] = True  # our heartbeat went stale; the run was re-queued elsewhere
            flags["check_now"] = True
            self.touch(f"{self.study_name}#{trial.number}")

        def should_stop() -> bool:
            if flags["pruned"] or flags["lost"] or flags["cancelled"]:
                return True
            now = time.monotonic()
            if flags["check_now"] or now - flags["last_check"] >= CANCEL_POLL_S:
                flags["check_now"], flags["last_check"] = False, now
                flags["cancelled"] = self._cancel_requested(trial.number)
            return flags["cancelled"]

        result = training.train_run(config, split, on_epoch=on_epoch, should_stop=should_stop)
        if flags["lost"]:
            raise optuna.exceptions.UpdateFinishedTrialError("the run was failed as stale by another worker")
        accs = [h["val_accuracy"] for h in history if h.get("val_accuracy") is not None]
        if result.status == "cancelled":
            if flags["pruned"]:
                trial.set_user_attr("status", "pruned")
                raise optuna.TrialPruned(f"pruned after epoch {len(history)}")
            trial.set_user_attr("status", "cancelled")
            trial.set_user_attr("error", f"cancelled after {len(history)} of {config.epochs} epochs")
            raise RunCancelled("cancelled")
        if result.status == "diverged":
            trial.set_user_attr("status", "diverged")
            why = f"the loss became NaN/inf or exploded at epoch {len(history)} (learning rate too high?)"
            trial.set_user_attr("error", why)
            return max(accs) if accs else 0.0
        card = dict(result.card)
        card["name"] = f"{self.study_name} run {trial.number}: {card.get('name', spec.model)}"
        card["sweep"] = {"name": self.study_name, "run": trial.number, "storage": safe_url(self.storage_url)}
        try:
            cards.save_model(result.model, card, model_dir)
        except OSError as exc:
            raise RunFailed(f"the trained model could not be saved to {model_dir}: {exc.strerror or exc}") from exc
        trial.set_user_attr("model_dir", str(model_dir))
        trial.set_user_attr("status", "done")
        value = card.get("val_accuracy")
        if value is None or not math.isfinite(value):
            value = accs[-1] if accs else 0.0
        return float(value)


def _check_writable(folder: Path) -> None:
    """RunFailed naming the folder when a model cannot be written there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise RunFailed(f"cannot save models in {folder}: {exc.strerror or exc} "
                        "(a full or read-only disk?)") from exc


def _launcher_log(settings: Settings, pid: int) -> str | None:
    """The log file named in the pid file that `sweeps.ensure_workers` wrote for us, if any."""
    info = next((w for w in workers_alive(settings) if w.pid == pid), None)
    return info.log if info else None


class Worker:
    """Serves the sweeps of one storage (or one sweep) until nothing is left."""

    def __init__(
        self,
        settings: Settings,
        storage_url: str | None = None,
        study: str | None = None,
        heartbeat_interval: int = DEFAULT_HEARTBEAT_S,
        grace_period: int = DEFAULT_GRACE_S,
        log: Callable[[str], None] | None = None,
        on_run_end: Callable[[str, RunRecord], None] | None = None,
    ):
        self.settings = settings
        self.url = storage_url or settings.sweep_storage
        self.only = study
        self.grace_period = grace_period
        self.heartbeat_interval = heartbeat_interval
        self.store = open_storage(self.url, heartbeat_interval, grace_period, home=settings.home_dir)
        self.log = log or (lambda msg: print(msg, flush=True))
        self.on_run_end = on_run_end
        self.pid = os.getpid()
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S")
        self._objectives: dict[str, tuple[optuna.Study, _RunTrial]] = {}
        self._splits: dict = {}
        self._last_touch = 0.0
        self._current: str | None = None
        self._touch_failed = False
        self._log_path = _launcher_log(settings, self.pid)

    # -- liveness file (sweeps.workers_alive reads it)

    def touch(self, current: str | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if force or current != self._current or now - self._last_touch > 5:
            self._last_touch, self._current = now, current
            try:
                write_worker_file(self.settings, self.pid, self.url, current=current, started=self.started,
                                  log=self._log_path)
            except OSError as exc:  # a full or read-only home: the runs matter more than this file
                if not self._touch_failed:
                    self.log(f"worker {self.pid}: cannot write its pid file ({exc}); working on")
                self._touch_failed = True

    # -- what to do next

    def _sweep_names(self) -> list[str]:
        if self.only:
            return [self.only]
        summaries = optuna.get_all_study_summaries(self.store, include_best_trial=False)
        return [s.study_name for s in summaries if STUDY_ATTR in s.user_attrs]

    def _study(self, name: str) -> tuple[optuna.Study, _RunTrial]:
        if name not in self._objectives:
            study = optuna.load_study(study_name=name, storage=self.store)
            meta = study.user_attrs.get(STUDY_ATTR)
            if meta is None:
                raise KeyError(f"study {name!r} is not a SketchLab sweep")
            spec = SweepSpec.from_dict(meta["spec"])
            study = optuna.load_study(study_name=name, storage=self.store, sampler=_sampler(spec),
                                      pruner=_pruner(spec))
            objective = _RunTrial(study, meta, self.settings, self._splits, self.touch, self.url)
            self._objectives[name] = (study, objective)
        return self._objectives[name]

    def next_sweep(self, queued: list[QueuedSweep]) -> str | None:
        """Which of the sweeps with queued runs to serve next: round-robin over their owners
        (`queue.next_sweep`); a worker for one sweep serves only that one."""
        return fair_next(queued)

    def _scan(self) -> tuple[str | None, bool]:
        """(the sweep to serve next, whether some run is still running anywhere)."""
        running, queued = False, []
        for name in self._sweep_names():
            study = self._study(name)[0]
            live = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if live:
                # Re-queue runs whose worker died (stale heartbeat); Optuna's optimize also does
                # this, but only right before it starts a trial.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)
                live = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            running = running or bool(live)
            state = queued_sweep(name, study)
            if state is not None:  # every sweep: its runs' start times say whose turn it is
                queued.append(state)
        return self.next_sweep(queued), running

    def _run_one(self, name: str) -> None:
        study, objective = self._study(name)
        finished: list = []

        def remember(_study, frozen):
            finished.append(frozen)

        t0 = time.monotonic()
        try:
            # catch: a run's own error only fails that run. What can still escape is Optuna
            # failing to record the end of a run that another worker already failed as stale.
            study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[remember])
        except Exception as exc:
            self.log(f"{name}: could not record a run's end ({type(exc).__name__}: {exc})")
        finally:
            self.touch(None, force=True)
        for frozen in finished:
            if "run" not in frozen.user_attrs:
                continue
            record = run_record(frozen, study.user_attrs, {})
            acc = f" val_acc={record.last_val_accuracy:.4f}" if record.last_val_accuracy is not None else ""
            err = f" ({record.error})" if record.error else ""
            self.log(f"{name} run {record.number}: {record.state}{acc} "
                     f"[{time.monotonic() - t0:.1f} s]{err}")
            if self.on_run_end is not None:
                self.on_run_end(name, record)

    def _may_exit(self) -> bool:
        """Nothing queued: leave, under the lock so a launcher cannot count us alive and then
        see us go (without a writable home there is no lock, and no launcher to race)."""
        try:
            with workers_lock(self.settings):
                if self._scan()[0] is None:
                    remove_worker_file(self.settings, self.pid)
                    return True
                return False
        except OSError:
            return self._scan()[0] is None

    def run(self, once: bool = False, wait: bool = False, poll_s: float = 2.0) -> int:
        """Work until nothing is left (or one run with `once`); returns the runs handled."""
        done = 0
        idle_since: float | None = None
        self.touch(force=True)
        self.log(f"worker {socket.gethostname()}:{self.pid} serving {safe_url(self.url)}"
                 + (f" sweep {self.only}" if self.only else ""))
        try:
            while True:
                name, running = self._scan()
                if name is not None:
                    idle_since = None
                    self._run_one(name)
                    done += 1
                    if once:
                        break
                    continue
                idle_since = idle_since or time.monotonic()
                # A run that is "running" may belong to a worker that died: wait until its
                # heartbeat would have gone stale, then re-queue and finish it ourselves.
                linger = self.grace_period + 2 * self.heartbeat_interval
                if wait or (running and time.monotonic() - idle_since < linger):
                    self.touch()
                    time.sleep(poll_s)
                    continue
                if self._may_exit():
                    break
        finally:
            try:
                remove_worker_file(self.settings, self.pid)
            except OSError:
                pass
            self.store.remove_session()  # close its database connections
        self.log(f"worker {self.pid}: {done} run(s), nothing left to do")
        return done


def run_worker(
    settings: Settings,
    storage_url: str | None = None,
    study: str | None = None,
    once: bool = False,
    wait: bool = False,
    poll_s: float = 2.0,
    heartbeat_interval: int = DEFAULT_HEARTBEAT_S,
    grace_period: int = DEFAULT_GRACE_S,
    log: Callable[[str], None] | None = None,
    on_run_end: Callable[[str, RunRecord], None] | None = None,
) -> int:
    """Run a worker in this process (see `Worker`); returns the number of runs it handled."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # we log one line per run ourselves
    worker = Worker(settings, storage_url, study, heartbeat_interval, grace_period, log, on_run_end)
    return worker.run(once=once, wait=wait, poll_s=poll_s)


def terminate_gracefully() -> None:
    """Turn SIGTERM into KeyboardInterrupt so a stopped worker marks its run and cleans up."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
