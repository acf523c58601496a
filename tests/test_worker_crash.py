"""Real worker processes: kill -9 mid-run and restart; the app's detached worker, live
metrics and cancel. Each test trains tiny MLPs for real and is bounded in time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sketchlab.sweeps import SweepSpec, SweepStore, ensure_workers, workers_alive

REPO = Path(__file__).resolve().parent.parent
TINY_CLASSES = ("apple", "anvil", "airplane", "banana")
# An epoch on the tiny data takes ~0.2-0.3 s, so a 20-epoch run lasts several seconds.
LONG_RUN = {"optimizer": "Adam", "learning_rate": 0.005, "batch_size": 8, "epochs": 20}


@pytest.fixture
def settings(sketchlab_env, monkeypatch):
    monkeypatch.delenv("SKETCHLAB_STORAGE", raising=False)
    return sketchlab_env


@pytest.fixture
def processes(settings):
    """Worker processes a test starts; any left alive at the end are killed (by pid)."""
    started: list[subprocess.Popen] = []
    yield started
    pids = {p.pid for p in started} | {w.pid for w in workers_alive(settings)}
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in started:
        p.wait(timeout=10)


def wait_for(predicate, timeout: float, what: str, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_worker(settings, log: Path, *extra) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "sketchlab", "--data-dir", str(settings.data_dir), "--home",
        str(settings.home_dir), "worker", "--storage", settings.sweep_storage, "--poll", "0.3", *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=REPO)


@pytest.mark.slow
def test_kill_9_mid_run_keeps_finished_runs_and_a_restarted_worker_finishes(settings, processes, tmp_path):
    spec = SweepSpec(model="mlp", base=LONG_RUN, values={"batch_size": [8, 16, 12]}, classes=TINY_CLASSES,
                     augment=False)
    name = SweepStore.of(settings).create(spec, data_dir=settings.data_dir)
    fast_heartbeat = ("--heartbeat", "1", "--grace", "3")
    log = tmp_path / "worker.log"
    first = start_worker(settings, log, *fast_heartbeat)
    processes.append(first)

    def one_done_one_midway():
        runs = SweepStore.of(settings).runs(name)
        return runs[0].state == "done" and runs[1].state == "running" and runs[1].epochs_done >= 2 and runs

    before = wait_for(one_done_one_midway, 120, "run 0 done and run 1 mid-run")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert before[1].epochs_done < LONG_RUN["epochs"]

    # Nothing is lost: the finished run and its saved model stay as they were.
    after_kill = SweepStore.of(settings).runs(name)
    assert after_kill[0] == before[0]
    assert (Path(after_kill[0].model_dir) / "model.keras").is_file()
    assert after_kill[1].state == "running"  # not known to be dead until its heartbeat goes stale
    assert workers_alive(settings) == []  # the dead worker's pid file is recognized as stale

    second = start_worker(settings, log, *fast_heartbeat)
    processes.append(second)
    assert second.wait(timeout=180) == 0, log.read_text()[-3000:]

    runs = SweepStore.of(settings).runs(name)
    assert runs[0] == before[0]
    killed = runs[1]
    assert killed.state == "failed" and "no heartbeat" in killed.error
    by_number = {r.number: r for r in runs}
    retry = next(r for r in runs if r.retry_of == killed.number)
    assert f"re-queued as run {retry.number}" in killed.error
    assert retry.params == killed.params
    assert retry.state == "done" and retry.epochs_done == LONG_RUN["epochs"]
    assert [h["epoch"] for h in retry.history] == list(range(1, LONG_RUN["epochs"] + 1))  # started afresh
    assert by_number[2].state == "done"
    assert {r.state for r in runs} == {"done", "failed"} and SweepStore.of(settings).get(name).is_final
    assert len(runs) == 4


@pytest.mark.slow
def test_detached_worker_live_metrics_and_cancel_within_an_epoch(settings, processes):
    spec = SweepSpec(model="mlp", base=LONG_RUN, values={"learning_rate": [0.005, 0.01]},
                     classes=TINY_CLASSES, augment=False)
    store = SweepStore.of(settings)  # queue, then start a detached worker, as the Train page does
    name = store.create(spec, data_dir=settings.data_dir)
    ensure_workers(settings, storage=store.url)
    (worker,) = workers_alive(settings)
    assert worker.storage == settings.sweep_storage and Path(worker.log).is_file()
    assert ensure_workers(settings, 1) == []  # one is alive: no second one

    # Live metrics: the running run's history grows while it trains.
    def run0(state, min_epochs=0):
        r = SweepStore.of(settings).runs(name)[0]
        return r.state == state and r.epochs_done >= min_epochs and r

    live = wait_for(lambda: run0("running", 2), 120, "run 0 to report two epochs")
    assert all(h["val_accuracy"] is not None for h in live.history)
    SweepStore.of(settings).cancel_run(name, 0)
    at_cancel = SweepStore.of(settings).runs(name)[0].epochs_done
    stopped = wait_for(lambda: run0("cancelled"), 30, "run 0 to stop")
    assert stopped.epochs_done <= at_cancel + 1  # it noticed within one epoch
    assert stopped.epochs_done < LONG_RUN["epochs"] and stopped.model_dir is None

    wait_for(lambda: SweepStore.of(settings).runs(name)[1].state == "running", 60, "run 1 to start")
    assert SweepStore.of(settings).cancel(name) == 1
    wait_for(lambda: SweepStore.of(settings).get(name).is_final, 30, "the sweep to stop")
    assert [r.state for r in SweepStore.of(settings).runs(name)] == ["cancelled", "cancelled"]
    wait_for(lambda: workers_alive(settings) == [], 30, "the worker to exit")
    assert "nothing left to do" in Path(worker.log).read_text()


@pytest.mark.slow
def test_a_run_killed_three_times_can_be_retried_to_done(settings, processes, tmp_path, capsys):
    from sketchlab.cli import main

    spec = SweepSpec(model="mlp", base={**LONG_RUN, "epochs": 6}, classes=TINY_CLASSES, augment=False)
    store = SweepStore.of(settings)
    name = SweepStore.of(settings).create(spec, data_dir=settings.data_dir)
    log = tmp_path / "worker.log"
    fast_heartbeat = ("--heartbeat", "1", "--grace", "2")
    for attempt in range(3):  # Optuna re-queues a dead worker's run at most twice
        worker = start_worker(settings, log, *fast_heartbeat)
        processes.append(worker)
        mine = f":{worker.pid}"
        wait_for(lambda mine=mine: any(r.state == "running" and r.epochs_done >= 1 and r.worker.endswith(mine)
                                       for r in store.runs(name)), 120, f"attempt {attempt} to start training")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    last = start_worker(settings, log, *fast_heartbeat)  # finds the third attempt stale, gives up
    processes.append(last)
    assert last.wait(timeout=120) == 0, log.read_text()[-3000:]
    runs = store.runs(name)
    assert [r.state for r in runs] == ["failed"] * 3 and store.get(name).counts["done"] == 0
    assert "re-queued" not in runs[-1].error  # lost: nothing will run it again by itself

    assert main(["sweep", "retry", name, "--workers", "0"]) == 0
    assert f"re-queued as run(s) {runs[-1].number + 1}" in capsys.readouterr().out
    again = start_worker(settings, log)
    processes.append(again)
    assert again.wait(timeout=120) == 0, log.read_text()[-3000:]
    final = store.runs(name)
    assert final[-1].state == "done" and final[-1].retry_of == runs[-1].number
    assert final[-1].epochs_done == 6 and store.get(name).counts["done"] == 1
