"""The command line of sweeps: `sweep run|status|cancel|retry|export` and `worker`.

    python -m sketchlab sweep run --preset classic --epochs 3 --per-class 2000
    python -m sketchlab sweep run --mode grid --optimizer Adam,SGD --lr 0.001,0.01 --epochs 5
    python -m sketchlab sweep run --mode tpe --trials 20 --lr 0.0001..0.1 --batch 32,128
    python -m sketchlab sweep status [NAME]
    python -m sketchlab sweep cancel NAME [--run N]
    python -m sketchlab sweep retry NAME [--run N]
    python -m sketchlab sweep export NAME --out runs.csv
    python -m sketchlab worker [--storage URL] [--study NAME] [--once] [--wait]

A list of values (`--lr 0.001,0.01`) is varied; a single value (`--epochs 3`) sets the base
value that every run uses; `--lr low..high` is a range searched on a log scale (random, TPE).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from .common import UserError
from ..sweeps.records import FINAL_STATES
from ..sweeps.spec import MODES, RANGE_KEYS, parse_range, parse_values
from ..sweeps.store import DEFAULT_GRACE_S, DEFAULT_HEARTBEAT_S, SweepStore

STORAGE_HELP = "Optuna storage URL (default: $SKETCHLAB_STORAGE, else SQLite in the home folder)"
_LIST_OPTIONS = (
    # (flag, hyperparameter)
    ("--optimizer", "optimizer"),
    ("--lr", "learning_rate"),
    ("--batch", "batch_size"),
    ("--epochs", "epochs"),
    ("--per-class", "per_class"),
)


def register(sub) -> None:
    """Add the sweep commands to the top-level sub-parsers."""
    sweep = sub.add_parser("sweep", help="hyperparameter sweeps that run in the background")
    ssub = sweep.add_subparsers(dest="sweep_command", required=True)

    run = ssub.add_parser("run", help="queue a sweep and start a background worker")
    run.add_argument("--preset", choices=["classic", "seed"],
                     help="the classic QuickDraw-10 MLP experiment: optimizer, batch, lr one at a time "
                          "(9 runs; 'seed' is its old name)")
    run.add_argument("--mode", choices=MODES, default=None, help="how values combine (default one_at_a_time)")
    run.add_argument("--model", default=None, help="mlp, cnn or strong (default mlp)")
    for flag, key in _LIST_OPTIONS:
        extra = " or low..high (random/TPE)" if key in RANGE_KEYS else ""
        run.add_argument(flag, dest=key, default=None,
                         help=f"{key}: one value (base) or a comma list (varied){extra}")
    run.add_argument("--trials", type=int, default=None, help="number of runs for --mode random/tpe")
    run.add_argument("--classes", default=None, help="comma-separated class names (default: QuickDraw-10)")
    run.add_argument("--seed", type=int, default=0, help="random seed of every run (default 0)")
    run.add_argument("--no-augment", action="store_true", help="train on the fixed bitmaps only")
    run.add_argument("--prune", action="store_true", help="stop hopeless runs early (median pruner)")
    run.add_argument("--name", default=None, help="sweep name (default: model-mode-date)")
    run.add_argument("--workers", type=int, default=None, help="local background workers (default 1)")
    run.add_argument("--foreground", action="store_true", help="run the sweep here with a progress bar")
    run.add_argument("--storage", default=None, help=STORAGE_HELP)
    run.set_defaults(func=cmd_sweep_run)

    status = ssub.add_parser("status", help="list sweeps, or the runs of one sweep")
    status.add_argument("name", nargs="?", help="sweep name (default: list all sweeps)")
    status.add_argument("--storage", default=None, help=STORAGE_HELP)
    status.set_defaults(func=cmd_sweep_status)

    cancel = ssub.add_parser("cancel", help="cancel a sweep, or one of its runs")
    cancel.add_argument("name")
    cancel.add_argument("--run", type=int, default=None, help="cancel only this run number")
    cancel.add_argument("--storage", default=None, help=STORAGE_HELP)
    cancel.set_defaults(func=cmd_sweep_cancel)

    retry = ssub.add_parser("retry", help="queue a failed or lost run again (default: every one)")
    retry.add_argument("name")
    retry.add_argument("--run", type=int, default=None, help="retry only this run number")
    retry.add_argument("--workers", type=int, default=None, help="local background workers (default 1; 0: none)")
    retry.add_argument("--storage", default=None, help=STORAGE_HELP)
    retry.set_defaults(func=cmd_sweep_retry)

    export = ssub.add_parser("export", help="CSV of every run's hyperparameters, state and metrics")
    export.add_argument("name")
    export.add_argument("--out", required=True, help="CSV file to write ('-' for stdout)")
    export.add_argument("--storage", default=None, help=STORAGE_HELP)
    export.set_defaults(func=cmd_sweep_export)

    worker = sub.add_parser("worker", help="run queued sweep runs (any machine that reaches the storage)")
    worker.add_argument("--storage", default=None, help=STORAGE_HELP)
    worker.add_argument("--study", default=None, help="serve only this sweep")
    worker.add_argument("--once", action="store_true", help="run one queued run, then exit")
    worker.add_argument("--wait", action="store_true", help="keep polling for new runs instead of exiting")
    worker.add_argument("--poll", type=float, default=2.0, help="seconds between polls when idle")
    worker.add_argument("--heartbeat", type=int, default=DEFAULT_HEARTBEAT_S, help="heartbeat interval, s")
    worker.add_argument("--grace", type=int, default=DEFAULT_GRACE_S,
                        help="a run without heartbeat for this long is re-queued, s")
    worker.set_defaults(func=cmd_worker)


def spec_from_args(args):
    from ..sweeps.spec import SweepSpec, seed_preset

    spec = seed_preset() if args.preset in ("classic", "seed") else SweepSpec()
    if args.mode:
        spec.mode = args.mode
    if args.model:
        spec.model = args.model
    for flag, key in _LIST_OPTIONS:
        text = getattr(args, key)
        if text is None:
            continue
        bounds = parse_range(text) if key in RANGE_KEYS else None
        if bounds is not None:
            spec.ranges[key] = bounds
            spec.values.pop(key, None)
            continue
        vals = parse_values(key, text)
        if not vals:
            raise UserError(f"{flag}: give at least one value")
        if len(vals) == 1:
            spec.base[key] = vals[0]
            spec.values.pop(key, None)
        else:
            spec.values[key] = vals
    if args.classes:
        spec.classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    spec.n_trials = args.trials
    spec.seed = args.seed
    spec.augment = not args.no_augment
    spec.prune = args.prune
    spec.name = args.name
    return spec


def cmd_sweep_run(args, settings) -> int:
    from ..sweeps.spec import SweepLimits, load_limits
    from ..sweeps.store import safe_url
    from ..sweeps.workers import ensure_workers

    store = SweepStore.of(settings, args.storage)
    url = store.url
    spec = spec_from_args(args)
    with _user_errors():
        name = store.create(spec, load_limits(settings.home_dir), data_dir=settings.data_dir)
    summary = store.get(name)
    print(f"sweep {name}: {summary.n_runs} run(s) queued in {safe_url(url)}")
    if args.foreground:
        return _run_foreground(settings, store, name, summary.n_runs)
    limits = SweepLimits()
    if args.workers is not None and args.workers > limits.max_workers:
        print(f"note: at most {limits.max_workers} local workers (SweepLimits.max_workers)")
    pids = ensure_workers(settings, args.workers, storage=url, limits=limits)
    if pids:
        print(f"started worker(s) {', '.join(map(str, pids))}; logs in {settings.home_dir / 'workers'}")
    else:
        print("a worker is already running; it will pick the runs up")
    print(f"follow it with: python -m sketchlab sweep status {name}")
    return 0


def _run_foreground(settings, store: SweepStore, name: str, total: int) -> int:
    from tqdm import tqdm

    from ..sweeps.worker import run_worker

    bar = tqdm(total=total, unit="run", desc=name)

    def on_run_end(_sweep, record):
        bar.update(1)
        if record.last_val_accuracy is not None:
            bar.set_postfix_str(f"run {record.number} {record.state} val_acc={record.last_val_accuracy:.3f}")

    try:
        run_worker(settings, store.url, study=name, log=bar.write, on_run_end=on_run_end)
    finally:
        bar.close()
    _print_runs(settings, store, name)
    return 0


def _fmt_acc(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def _print_runs(settings, store: SweepStore, name: str) -> None:
    from ..plots import format_value
    from ..sweeps.workers import workers_alive

    s = store.get(name)
    counts = ", ".join(f"{n} {state}" for state, n in s.counts.items() if n)
    print(f"sweep {s.name} ({s.spec.model}, {s.spec.mode}): {s.state}; {counts}")
    if s.best_run is not None:
        print(f"best: run {s.best_run}, val_acc {s.best_val_accuracy:.4f}")
    print(f"{'run':>4} {'state':<9} {'group':<13} {'optimizer':<9} {'lr':>8} {'batch':>6} {'epoch':>7} "
          f"{'per_cls':>7} {'val_acc':>7} {'best':>7}  note")
    for r in store.runs(name):
        p = {k: format_value(v) for k, v in r.params.items()}
        lr = p.get("learning_rate", "?")
        epochs = f"{r.epochs_done}/{p.get('epochs', '?')}"
        note = r.error or (f"model: {r.model_dir}" if r.model_dir else "")
        if r.retry_of is not None:
            note = f"(re-run of {r.retry_of}) {note}"
        print(f"{r.number:>4} {r.state:<9} {r.group or '':<13} {p.get('optimizer', '?'):<9} {lr:>8} "
              f"{p.get('batch_size', '?'):>6} {epochs:>7} {p.get('per_class', '?'):>7} "
              f"{_fmt_acc(r.last_val_accuracy):>7} {_fmt_acc(r.best_val_accuracy):>7}  {note}")
    alive = workers_alive(settings, store.url)
    pids = f" ({', '.join(str(w.pid) for w in alive)})" if alive else ""
    print(f"local workers alive: {len(alive)}{pids}")


def cmd_sweep_status(args, settings) -> int:
    from ..sweeps.store import safe_url

    store = SweepStore.of(settings, args.storage)
    if args.name:
        with _user_errors():
            _print_runs(settings, store, args.name)
        return 0
    with _user_errors():
        sweeps = store.list()
    if not sweeps:
        print(f"no sweeps in {safe_url(store.url)}; start one with "
              "`python -m sketchlab sweep run --preset classic`")
        return 0
    print(f"{'name':<40} {'model':<6} {'mode':<14} {'state':<10} {'runs':>5} {'ended':>5} "
          f"{'best':>7}  created")
    for s in sweeps:
        ended = sum(s.counts[k] for k in FINAL_STATES)
        created = s.created.strftime("%Y-%m-%d %H:%M") if s.created else ""
        print(f"{s.name:<40} {s.spec.model:<6} {s.spec.mode:<14} {s.state:<10} {s.n_runs:>5} {ended:>5} "
              f"{_fmt_acc(s.best_val_accuracy):>7}  {created}")
    return 0


def cmd_sweep_cancel(args, settings) -> int:
    from ..sweeps.records import cancelled_text

    store = SweepStore.of(settings, args.storage)
    with _user_errors():
        if args.run is None:
            n = store.cancel(args.name)
            print(f"sweep {args.name} cancelled: {cancelled_text(n)}")
        else:
            store.cancel_run(args.name, args.run)
            print(f"run {args.run} of {args.name} cancelled (a running run stops at its next epoch)")
    return 0


def cmd_sweep_retry(args, settings) -> int:
    from ..sweeps.workers import ensure_workers

    store = SweepStore.of(settings, args.storage)
    with _user_errors():
        new = store.retry(args.name, args.run)
    print(f"re-queued as run(s) {', '.join(map(str, new))}")
    if ensure_workers(settings, args.workers, storage=store.url):
        print("started a background worker")
    return 0


def cmd_sweep_export(args, settings) -> int:
    store = SweepStore.of(settings, args.storage)
    with _user_errors():
        if args.out == "-":
            store.export_csv(args.name, sys.stdout)
        else:
            n = store.export_csv(args.name, args.out)
            print(f"wrote {n} run(s) to {args.out}")
    return 0


def cmd_worker(args, settings) -> int:
    from ..sweeps.worker import run_worker, terminate_gracefully

    store = SweepStore.of(settings, args.storage)
    with _user_errors():
        if args.study:
            store.get(args.study)  # a clear message for a wrong name
        else:
            store.names()  # a clear message for a storage that cannot be opened
    terminate_gracefully()
    run_worker(settings, store.url, study=args.study, once=args.once, wait=args.wait, poll_s=args.poll,
               heartbeat_interval=args.heartbeat, grace_period=args.grace)
    return 0


@contextmanager
def _user_errors():
    """A SweepError (unknown sweep, run already ended, invalid spec) as a one-line CLI error."""
    from ..sweeps.spec import SweepError, SweepValidationError

    try:
        yield
    except SweepValidationError as exc:
        lines = "\n".join(f"  {k}: {v}" for k, v in exc.errors.items())
        raise UserError(f"invalid sweep:\n{lines}") from None
    except SweepError as exc:
        raise UserError(str(exc)) from None
