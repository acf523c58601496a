"""Local worker processes: start them detached, know which are alive.

A worker started here outlives the page, the app and a Ctrl-C (its own session). Each
records itself in `<home>/workers/<host>-<pid>.json`; a file whose process is gone (or
whose pid now belongs to another process) is stale and removed on the next look. A
`flock` serializes "are enough workers alive?" against a worker deciding to exit, so a
sweep launched just as the last worker leaves still gets one. Workers on other machines
are started there by hand (`python -m sketchlab worker --storage URL`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ..fileio import atomic_write
from ..processes import proc_start, process_alive, spawn_sketchlab
from ..settings import Settings
from .spec import SweepLimits
from .store import DEFAULT_GRACE_S, DEFAULT_HEARTBEAT_S


@dataclass
class WorkerInfo:
    pid: int
    host: str
    storage: str
    started: str
    updated: float
    log: str | None = None
    current: str | None = None  # "sweep#run" while a run is going
    proc_start: str | None = None  # the process's start time, so a recycled pid is not taken for it


def workers_dir(settings: Settings) -> Path:
    return settings.home_dir / "workers"


@contextmanager
def workers_lock(settings: Settings):
    """Serialize "are enough workers alive?" against a worker deciding to exit."""
    d = workers_dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_file(settings: Settings, pid: int) -> Path:
    return workers_dir(settings) / f"{socket.gethostname()}-{pid}.json"


def write_worker_file(settings: Settings, pid: int, storage: str, log=None, current=None,
                      started=None) -> None:
    """Record (or refresh) a local worker's pid file; written atomically."""
    path = _pid_file(settings, pid)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = WorkerInfo(pid, socket.gethostname(), storage, started or dt.datetime.now().isoformat(), time.time(),
                      str(log) if log else None, current, proc_start(pid))
    with atomic_write(path) as fh:
        fh.write(json.dumps(asdict(info)))


def remove_worker_file(settings: Settings, pid: int) -> None:
    _pid_file(settings, pid).unlink(missing_ok=True)


def workers_alive(settings: Settings, storage: str | None = None) -> list[WorkerInfo]:
    """Local worker processes that are alive (for `storage`, or any); stale pid files are removed."""
    d = workers_dir(settings)
    if not d.is_dir():
        return []
    host = socket.gethostname()
    alive = []
    for path in sorted(d.glob("*.json")):
        try:
            info = WorkerInfo(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if info.host != host:
            continue
        if not process_alive(info.pid, info.proc_start):
            path.unlink(missing_ok=True)
            continue
        if storage is None or info.storage == storage:
            alive.append(info)
    return alive


def _spawn_worker(settings: Settings, url: str, heartbeat_interval: int, grace_period: int) -> int:
    log = workers_dir(settings) / f"worker-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.log"
    pid = spawn_sketchlab(["worker", "--storage", url, "--heartbeat", heartbeat_interval, "--grace", grace_period],
                          settings, log)
    # Written here, not only by the worker, so a second launch right after sees it alive.
    write_worker_file(settings, pid, url, log)
    return pid


def ensure_workers(
    settings: Settings,
    n: int | None = None,
    storage: str | None = None,
    limits: SweepLimits | None = None,
    heartbeat_interval: int = DEFAULT_HEARTBEAT_S,
    grace_period: int = DEFAULT_GRACE_S,
) -> list[int]:
    """Start detached local workers until `n` (capped by limits.max_workers) are alive; new pids."""
    limits = limits or SweepLimits()
    url = storage or settings.sweep_storage
    want = max(0, min(limits.default_workers if n is None else int(n), limits.max_workers))
    with workers_lock(settings):
        have = len(workers_alive(settings, url))
        return [_spawn_worker(settings, url, heartbeat_interval, grace_period) for _ in range(want - have)]
