"""Background processes of this machine: start one detached, and know whether it still runs.

Sweep workers (`sweeps.workers`) and teach jobs (`taught`) run as `python -m sketchlab ...`
in their own session, so they outlive the page, the app and a Ctrl-C. A pid alone can be
recycled by the system, so a process is recorded with its start time (`proc_start`), and
`process_alive` only believes a pid whose start time still matches.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the folder holding the sketchlab package


def spawn_sketchlab(args: list[str], settings, log) -> int:
    """Start `python -m sketchlab --data-dir D --home H *args` detached, output into `log`; its pid."""
    cmd = [sys.executable, "-m", "sketchlab", "--data-dir", str(settings.data_dir), "--home",
           str(settings.home_dir), *map(str, args)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["SKETCHLAB_MODELS"] = str(settings.models_dir)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # detached: it outlives the page, the app and a Ctrl-C
        )
    return proc.pid


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (Linux), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks (Linux), or None where there is no /proc."""
    stat = _proc_stat(pid)
    return stat[19] if stat and len(stat) > 19 else None  # field 22 of /proc/<pid>/stat


def process_alive(pid: int, started: str | None = None) -> bool:
    """Is `pid` running (not a zombie), and, when `started` is given, the same process as then?"""
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
    return started is None or started == proc_start(pid)
