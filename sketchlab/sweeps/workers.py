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
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ..fileio import atomic_write
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
                      str(log) if log else None, current, _proc_start(pid))
    with atomic_write(path) as fh:
        fh.write(json.dumps(asdict(info)))


def remove_worker_file(settings: Settings, pid: int) -> None:
    _pid_file(settings, pid).unlink(missing_ok=True)


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (Linux), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _proc_start(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[19] if stat and len(stat) > 19 else None  # field 22: start time in clock ticks


def _process_alive(info: WorkerInfo) -> bool:
    pid = info.pid
    try:
        # Reap our own exited child (the app spawned it); a zombie still answers kill(pid, 0).
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: trust kill(pid, 0)
    if stat[0] == "Z":
        return False
    return info.proc_start is None or info.proc_start == _proc_start(pid)


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
        if not _process_alive(info):
            path.unlink(missing_ok=True)
            continue
        if storage is None or info.storage == storage:
            alive.append(info)
    return alive


def _spawn_worker(settings: Settings, url: str, heartbeat_interval: int, grace_period: int) -> int:
    d = workers_dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    log = d / f"worker-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.log"
    cmd = [
        sys.executable, "-m", "sketchlab", "--data-dir", str(settings.data_dir), "--home",
        str(settings.home_dir), "worker", "--storage", url, "--heartbeat", str(heartbeat_interval),
        "--grace", str(grace_period),
    ]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["SKETCHLAB_MODELS"] = str(settings.models_dir)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # detached: it outlives the page, the app and a Ctrl-C
        )
    # Written here, not only by the worker, so a second launch right after sees it alive.
    write_worker_file(settings, proc.pid, url, log)
    return proc.pid


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
