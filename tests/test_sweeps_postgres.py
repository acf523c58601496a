"""Sweeps on a real PostgreSQL server (a throwaway cluster, see pg_fixture.py): two worker
processes with separate homes, as two machines would be, share one sweep; one is killed
with SIGKILL mid-run and the other re-runs that run; the CLI and the Train page read it.
"""

# ruff: noqa: F811  (pg_server and pg_url come from pg_fixture: test arguments reuse the fixtures' names)
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from pg_fixture import pg_server, pg_url  # noqa: F401  (fixtures)

from sketchlab.settings import Settings
from sketchlab.sweeps import SweepSpec, SweepStore

REPO = Path(__file__).resolve().parent.parent
TINY_CLASSES = ("apple", "anvil", "airplane", "banana")
LONG_RUN = {"optimizer": "Adam", "learning_rate": 0.005, "batch_size": 8, "epochs": 12}


def wait_for(predicate, timeout: float, what: str, poll: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_machine(home: Path, data_dir: Path, url: str, log: Path) -> subprocess.Popen:
    """A worker as another machine would run it: its own SKETCHLAB_HOME, the shared URL."""
    cmd = [sys.executable, "-m", "sketchlab", "worker", "--storage", url, "--poll", "0.3",
           "--heartbeat", "1", "--grace", "3"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2",
           "SKETCHLAB_HOME": str(home), "SKETCHLAB_DATA": str(data_dir)}
    env.pop("SKETCHLAB_STORAGE", None)
    return subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=REPO)


@pytest.fixture
def machines():
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


@pytest.mark.slow
def test_two_machines_share_a_sweep_and_a_killed_one_loses_nothing(pg_url, tiny_data_dir, tmp_path, machines):
    store = SweepStore(pg_url)
    spec = SweepSpec(model="mlp", mode="grid", base=LONG_RUN, values={"batch_size": [8, 12, 16, 24]},
                     classes=TINY_CLASSES, augment=False)
    name = store.create(spec)
    homes = {"a": tmp_path / "machine-a", "b": tmp_path / "machine-b"}
    log = tmp_path / "workers.log"
    a = start_machine(homes["a"], tiny_data_dir, pg_url, log)
    b = start_machine(homes["b"], tiny_data_dir, pg_url, log)
    machines += [a, b]

    def a_mid_run():
        runs = store.runs(name)
        mine = [r for r in runs if r.state == "running" and r.worker and r.worker.endswith(f":{a.pid}")]
        return mine and mine[0].epochs_done >= 2 and (runs, mine[0])

    before, victim = wait_for(a_mid_run, 180, "machine A to be mid-run")
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=10)
    assert victim.epochs_done < LONG_RUN["epochs"]
    finished_before = {r.number: r for r in before if r.state == "done"}

    assert b.wait(timeout=300) == 0, log.read_text()[-3000:]
    runs = store.runs(name)
    by_number = {r.number: r for r in runs}
    # Nothing lost: runs that had ended stay as they were.
    for number, r in finished_before.items():
        assert by_number[number] == r
    killed = by_number[victim.number]
    assert killed.state == "failed" and "no heartbeat" in killed.error
    retry = next(r for r in runs if r.retry_of == victim.number)
    assert retry.state == "done" and retry.params == victim.params
    assert retry.worker.endswith(f":{b.pid}")
    assert [h["epoch"] for h in retry.history] == list(range(1, LONG_RUN["epochs"] + 1))
    assert Path(retry.model_dir).is_relative_to(homes["b"])  # saved on the machine that ran it
    # Every run of the sweep ended exactly once as done, and the killed attempt is the only failure.
    done = Counter(r.run for r in runs if r.state == "done")
    assert done == Counter({0: 1, 1: 1, 2: 1, 3: 1})
    assert [r.number for r in runs if r.state != "done"] == [victim.number]
    assert {r.worker.rsplit(":", 1)[1] for r in runs if r.state == "done"} >= {str(b.pid)}
    summary = store.get(name)
    assert summary.is_final and summary.counts["done"] == 4


@pytest.mark.slow
def test_two_machines_split_the_runs_and_each_run_ends_once(pg_url, tiny_data_dir, tmp_path, machines):
    store = SweepStore(pg_url)
    spec = SweepSpec(model="mlp", mode="grid", base={**LONG_RUN, "epochs": 2},
                     values={"batch_size": [8, 12, 16, 24, 32, 48]}, classes=TINY_CLASSES, augment=False)
    name = store.create(spec)
    log = tmp_path / "workers.log"
    pair = [start_machine(tmp_path / f"machine-{i}", tiny_data_dir, pg_url, log) for i in range(2)]
    machines += pair
    for p in pair:
        assert p.wait(timeout=300) == 0, log.read_text()[-3000:]
    runs = store.runs(name)
    assert [r.state for r in runs] == ["done"] * 6  # no run taken twice, none left behind
    assert sorted(r.run for r in runs) == list(range(6))
    assert {r.worker.rsplit(":", 1)[1] for r in runs} == {str(p.pid) for p in pair}  # both worked


def test_cli_takes_a_postgresql_storage(pg_url, sketchlab_env, capsys):
    from sketchlab.cli import main

    classes = ",".join(TINY_CLASSES)
    assert main(["sweep", "run", "--storage", pg_url, "--classes", classes, "--lr", "0.01,0.1",
                 "--epochs", "1", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "2 run(s) queued" in out and "postgresql+psycopg://" in out
    (summary,) = SweepStore(pg_url).list()
    assert main(["sweep", "status", "--storage", pg_url]) == 0
    assert summary.name in capsys.readouterr().out
    assert SweepStore.of(sketchlab_env).list() == []  # nothing went to the default SQLite file


def test_train_page_reads_a_sweep_live_from_postgresql(pg_url, sketchlab_env, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from sketchlab.sweeps.worker import run_worker

    monkeypatch.setenv("SKETCHLAB_STORAGE", pg_url)  # the app's setting
    settings = Settings.from_env()
    store = SweepStore.of(settings)
    name = store.create(SweepSpec(model="mlp", mode="grid", base={"epochs": 1, "optimizer": "Adam"},
                                  values={"learning_rate": [0.01, 0.003]}, classes=TINY_CLASSES,
                                  augment=False))
    at = AppTest.from_file(str(REPO / "app_pages" / "train.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert at.selectbox(key="train_sweep").value == name
    assert list(at.dataframe[0].value["state"]) == ["queued", "queued"]

    assert run_worker(settings, study=name, once=True) == 1  # another machine finishes a run
    at.run()
    table = at.dataframe[0].value
    assert list(table["state"]) == ["done", "queued"]
    assert table["val acc (last)"].iloc[0] >= 0.0
