"""Seed 000's sweep, scaled down, run three ways in the same run, wall time and ratios.

    python benchmarks/sweep.py            # 2,000 drawings per class, 3 epochs (a few minutes)
    python benchmarks/sweep.py --quick    # 300 per class, 1 epoch

(a) as seed 000 does it: one process, a loop that builds the MLP and calls `model.fit` for each
    of the preset's 11 runs (optimizer x3, batch size x4, learning rate x4, one at a time);
(b) through the engine, as the app launches it: `launch_sweep` queues the same runs in an
    Optuna study (SQLite) and starts 1, then 2, detached worker processes; timed until every
    run ended;
(c) the same with 2 workers on a PostgreSQL storage: a throwaway cluster started here from
    /usr/lib/postgresql/*/bin (as tests/pg_fixture.py does), or the server in --postgres URL.

Data: the real QuickDraw-10 drawings here are few (20-75 per class, ../shared/quickdraw), so
each class is filled up to N with stroke-augmented copies of its real drawings
(`sketchlab.augment.augment_strokes`, seeded), written as simplified ndjson to a temporary
folder. All three ways read the same cached 80/20 split; no augmentation during training.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np

from sketchlab.categories import QUICKDRAW_10
from sketchlab.settings import Settings
from sketchlab.sweeps import (
    SweepLimits,
    SweepStore,
    expand_runs,
    launch_sweep,
    seed_preset,
    workers_alive,
)
from sketchlab.sweeps.spec import run_group


def write_augmented_data(real_dir: Path, out_dir: Path, per_class: int, seed: int = 0) -> dict[str, int]:
    """Each class: its real drawings, then augmented copies of them, up to `per_class`."""
    from sketchlab.augment import augment_strokes
    from sketchlab.dataset import load_class_drawings, scan_data_dir
    from sketchlab.drawing import strokes_to_lists

    found = scan_data_dir(real_dir)
    missing = [c for c in QUICKDRAW_10 if c not in found or not found[c].has_strokes]
    if missing:
        sys.exit(f"no stroke data for {', '.join(missing)} in {real_dir} (set --data-dir)")
    rng = np.random.default_rng(seed)
    real_counts = {}
    for c in QUICKDRAW_10:
        real = [d.strokes for d in load_class_drawings(found[c])]
        real_counts[c] = len(real)
        path = out_dir / "simplified_ndjson" / f"{c}.ndjson"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as fh:
            for i in range(per_class):
                strokes = real[i] if i < len(real) else augment_strokes(real[i % len(real)], rng)
                record = {"word": c, "countrycode": "XX", "timestamp": "", "recognized": True,
                          "key_id": f"{i:08d}", "drawing": strokes_to_lists(strokes)}
                fh.write(json.dumps(record) + "\n")
    return real_counts


def cpu_seconds(who) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def sequential(settings: Settings, spec) -> tuple[float, float, list[float]]:
    """Seed 000's way: one process, `fit` per run on the same arrays. (wall s, CPU s, accuracies)"""
    t0, c0 = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    from sketchlab.dataset import DatasetSpec, build_dataset
    from sketchlab.models import build_model
    from sketchlab.training import compile_model

    ds = build_dataset(settings.data_dir, DatasetSpec(classes=spec.classes, per_class=spec.base["per_class"]),
                       settings.dataset_cache_dir)
    accs = []
    for config in expand_runs(spec):
        model = build_model(spec.model, len(ds.classes))
        compile_model(model, config.optimizer, config.learning_rate)
        hist = model.fit(ds.X_train, ds.y_train, batch_size=config.batch_size, epochs=config.epochs,
                         validation_data=(ds.X_test, ds.y_test), verbose=0)
        accs.append(float(hist.history["val_accuracy"][-1]))
    return time.perf_counter() - t0, cpu_seconds(resource.RUSAGE_SELF) - c0, accs


def engine(settings: Settings, spec, workers: int, storage: str | None = None) -> tuple[float, float, list]:
    """The app's way: queue the runs, start detached workers, wait until every run ended.

    (wall s, CPU s of the workers, runs). The workers are this process's children: once they
    exit and are reaped, their CPU time shows in RUSAGE_CHILDREN."""
    t0, c0 = time.perf_counter(), cpu_seconds(resource.RUSAGE_CHILDREN)
    name = launch_sweep(spec, settings, workers=workers, limits=SweepLimits(max_workers=workers), storage=storage)
    store = SweepStore.of(settings, storage)
    while not store.get(name).is_final:
        time.sleep(0.25)
    elapsed = time.perf_counter() - t0
    while True:  # wait for the workers to exit (and reap them) before the next measurement
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    assert not workers_alive(settings)
    return elapsed, cpu_seconds(resource.RUSAGE_CHILDREN) - c0, store.runs(name)


def postgres_run(settings: Settings, spec, url: str | None) -> float | None:
    """Wall time of the sweep with 2 workers on PostgreSQL; None (and why) when no server."""
    if url:
        return engine(settings, spec, 2, storage=url)[0]
    sys.path.insert(0, str(REPO / "tests"))
    from pg_fixture import PgUnavailable, throwaway_cluster

    try:
        with throwaway_cluster() as server:
            return engine(settings, spec, 2, storage=server.create_database())[0]
    except PgUnavailable as exc:
        print(f"(c) skipped: {exc}")
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("SKETCHLAB_DATA", str(REPO.parent / "shared" / "quickdraw"))
    ap.add_argument("--data-dir", default=default_data, help="real Quick Draw files to start from")
    ap.add_argument("--per-class", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="300 drawings per class, 1 epoch")
    ap.add_argument("--postgres", default=None, metavar="URL",
                    help="PostgreSQL database for (c) (default: a throwaway local cluster)")
    args = ap.parse_args()
    if args.quick:
        args.per_class, args.epochs = 300, 1

    work = Path(tempfile.mkdtemp(prefix="sketchlab-sweep-bench-"))
    try:
        data = work / "data"
        real = write_augmented_data(Path(args.data_dir), data, args.per_class)
        settings = Settings.from_env(data_dir=data, home_dir=work / "home")
        os.environ.pop("SKETCHLAB_STORAGE", None)
        spec = seed_preset(epochs=args.epochs, per_class=args.per_class)
        spec.augment = False  # seed 000 trains on fixed bitmaps
        spec.classes = QUICKDRAW_10
        n_runs = len(expand_runs(spec))

        from sketchlab.dataset import DatasetSpec, build_dataset

        # Build the cached split once, untimed: every way below reads the same cache.
        build_dataset(data, DatasetSpec(classes=QUICKDRAW_10, per_class=args.per_class),
                      settings.dataset_cache_dir)

        print(f"data: QuickDraw-10, {args.per_class} drawings per class = the real ones "
              f"({min(real.values())}-{max(real.values())} per class, {args.data_dir}) "
              "+ stroke-augmented copies")
        print(f"sweep: the classic preset, {n_runs} runs (the base setting once, then optimizer x3, "
              "batch size x4, learning rate x4 one at a time), "
              f"{args.epochs} epoch(s), MLP, split 80/20; machine: {os.cpu_count()} cores")
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        print(f"load average before: {load} (other processes share these cores)")
        print("wall time is what a user waits; CPU time (user+sys of the processes that trained) "
              "varies less with the load")
        t_seq, c_seq, acc_seq = sequential(settings, spec)
        print(f"(a) sequential loop, one process (seed 000):   wall {t_seq:6.1f} s   CPU {c_seq:6.1f} s")
        results = {}
        for n in (1, 2):
            t, c, runs = engine(settings, spec, n)
            results[n] = (t, runs)
            states = ", ".join(sorted({r.state for r in runs}))
            print(f"(b) engine, {n} worker{'s' if n > 1 else ' '} (detached processes): wall {t:6.1f} s   "
                  f"CPU {c:6.1f} s   wall (a)/(b) = {t_seq / t:.2f}x   CPU (a)/(b) = {c_seq / c:.2f}x   "
                  f"run states: {states}")
        t1, t2 = results[1][0], results[2][0]
        print(f"wall, 1 worker / 2 workers: {t1 / t2:.2f}x")
        t_pg = postgres_run(settings, spec, args.postgres)
        if t_pg is not None:
            print(f"(c) engine, 2 workers on PostgreSQL: wall {t_pg:6.1f} s   "
                  f"wall SQLite/PostgreSQL (2 workers each) = {t2 / t_pg:.2f}x")
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        print("final val accuracy per run (a) / (b, 1 worker) / (b, 2 workers):")
        for i, config in enumerate(expand_runs(spec)):
            b1 = results[1][1][i].last_val_accuracy
            b2 = results[2][1][i].last_val_accuracy
            fmt = lambda x: " n/a " if x is None else f"{x:.3f}"
            group = run_group(spec, vars(config)) or "base"
            value = getattr(config, group) if group != "base" else ""
            print(f"  {group:<13} {value!s:<8} {acc_seq[i]:.3f} / {fmt(b1)} / {fmt(b2)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
