"""Taught models: a person's own models, trained in the background by the add-a-class recipe.

    <home>/taught/<owner>/<model id>/
        job.json       what was asked, and how far it got (state, fraction, message)
        job.log        the job process's output
        model.keras    the model, once it is done (with card.json, as every model folder)

`start_teaching` writes `job.json` and starts `python -m sketchlab teach --job DIR`, a
detached process (`processes.spawn_sketchlab`), so the page stays responsive and the job
outlives the page; `run_job` is what that process does: wait for a free slot (at most
`MAX_PARALLEL` jobs train at once on one machine, so a class pressing "Train" together
does not swamp it), then `newclass.teach` with its progress written to `job.json`.
`read_job` tells a job that stopped without finishing (killed, server restarted) from
one that is still running, by its process (`processes.process_alive`).

A done model is an ordinary model folder: its owner tries it on the Draw page right
away (`model_info`), without replacing anybody's default; the teacher may promote it for
everybody (`promote_taught`, as the "taught" kind next to the shipped ones). Students see
their own models, the teacher everybody's (`access`); all of it stays inside
`<home>/taught`.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .access import LOCAL, Access, NotAllowedError, clean_display_name
from .cards import MODEL_FILE
from .errors import SketchLabError
from .fileio import atomic_write, path_inside, remove_dir
from .processes import proc_start, process_alive, spawn_sketchlab
from .userdata import owner_folder, visible_owner_dirs

JOB_FILE = "job.json"
LOG_FILE = "job.log"
MAX_PARALLEL = 2  # teach jobs training at once on this machine; the others wait their turn
PROMOTED_KIND = "taught"
ACTIVE = ("queued", "running")
SPAWN_GRACE_S = 30


class TaughtError(SketchLabError, ValueError):
    """A taught model that cannot be started, found or changed; the message says why."""


@dataclass(frozen=True)
class TaughtModel:
    """One teach job and, once it is done, its model."""

    path: Path  # the job's folder
    owner: str  # the owner folder's name
    owner_name: str
    name: str
    classes: list
    state: str  # queued, running, done or failed
    fraction: float
    message: str
    created: str

    @property
    def id(self) -> str:
        return f"{self.owner}/{self.path.name}"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def done(self) -> bool:
        return self.state == "done" and (self.path / MODEL_FILE).is_file()


def taught_dir(home_dir) -> Path:
    return Path(home_dir) / "taught"


def _owner_dirs(home_dir, access: Access) -> list[Path]:
    """The owner folders of taught models this session may see (as for kept drawings)."""
    root = taught_dir(home_dir)
    if access.teacher:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    return [path_inside(root, owner_folder(access))]


def _write_job(folder: Path, job: dict) -> None:
    with atomic_write(folder / JOB_FILE, encoding="utf-8") as fh:
        fh.write(json.dumps(job, indent=1))


def _read_job_file(folder: Path) -> dict | None:
    try:
        job = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return job if isinstance(job, dict) else None


def _job_alive(job: dict) -> bool:
    if not job.get("pid"):  # between writing the job and starting its process
        return time.time() - _timestamp(job.get("created")) < SPAWN_GRACE_S
    return process_alive(int(job["pid"]), job.get("proc_start"))


def _timestamp(text) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return 0.0


def read_job(folder) -> TaughtModel | None:
    """The job in `folder` as it stands; None when there is no readable job there.

    A queued or running job whose process is gone is reported as failed, in words."""
    folder = Path(folder)
    job = _read_job_file(folder)
    if job is None:
        return None
    state = str(job.get("state") or "failed")
    message = str(job.get("message") or "")
    if state in ACTIVE and not _job_alive(job):
        state, message = "failed", ("the training process stopped before it finished (it was killed, or the "
                                    "server restarted); nothing was lost: press Train again")
    if state == "done" and not (folder / MODEL_FILE).is_file():
        state, message = "failed", "the model file is missing; train again"
    return TaughtModel(folder, folder.parent.name, str(job.get("owner_name") or ""), str(job.get("name") or ""),
                       [str(c) for c in job.get("classes") or []], state, float(job.get("fraction") or 0.0),
                       message, str(job.get("created") or ""))


def list_taught(home_dir, access: Access = LOCAL) -> list[TaughtModel]:
    """The taught models this session may see (its own; the teacher: everybody's), newest first."""
    out = []
    for owner in _owner_dirs(home_dir, access):
        if owner.is_dir():
            out.extend(t for t in (read_job(p) for p in owner.iterdir() if p.is_dir()) if t is not None)
    return sorted(out, key=lambda t: (t.created, t.path.name), reverse=True)


def find_taught(home_dir, model_id: str, access: Access = LOCAL) -> TaughtModel:
    """The taught model `owner/id` if this session may see it, else TaughtError / NotAllowedError."""
    for t in list_taught(home_dir, access):
        if t.id == model_id:
            return t
    if not access.teacher and any(t.id == model_id for t in list_taught(home_dir, LOCAL)):
        raise NotAllowedError("only the teacher can use a model someone else taught")
    raise TaughtError(f"no taught model {model_id!r} (it may have been deleted)")


def start_teaching(settings, classes, access: Access = LOCAL, name: str = "", background: bool = True) -> TaughtModel:
    """Queue a teach job for `classes` and (with `background`) start its process; the job as it stands.

    Refused (TaughtError, in words) for fewer than 2 classes, or while this person's
    previous job is still going. The classes' drawings are checked by the job itself
    (`newclass.check_request`): a class with too few drawings fails it with a message.
    Without `background` the caller runs it (`run_job`), as the command line does."""
    picked = list(dict.fromkeys(str(c) for c in classes or []))
    if len(picked) < 2:
        raise TaughtError("pick at least 2 classes: a model tells classes apart")
    own = Access(owner=access.owner, name=access.name, teacher=False)
    busy = [t for t in list_taught(settings.home_dir, own) if t.active]
    if busy:
        raise TaughtError(f"your model “{busy[0].name}” is still training; wait for it to finish")
    stamp = datetime.now(timezone.utc)
    folder = _owner_dirs(settings.home_dir, own)[0] / f"{stamp.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True)
    shown = clean_display_name(name) or "taught: " + ", ".join(picked[:4]) + ("…" if len(picked) > 4 else "")
    job = {"state": "queued", "fraction": 0.0, "message": "starting…", "classes": picked, "name": shown,
           "owner": access.owner, "owner_name": access.name, "teacher": access.teacher,
           "created": stamp.isoformat(timespec="seconds")}
    _write_job(folder, {**job, "pid": None if background else os.getpid()})
    if background:
        pid = spawn_sketchlab(["teach", "--job", folder], settings, folder / LOG_FILE)
        # Written within milliseconds; the process needs a second to start, then writes its own.
        _write_job(folder, {**job, "pid": pid, "proc_start": proc_start(pid)})
    return read_job(folder)


@contextmanager
def _slot(home_dir, on_wait=None, poll_s: float = 0.5):
    """One of MAX_PARALLEL machine-wide training slots (flock: freed when the process dies)."""
    slots = taught_dir(home_dir) / ".slots"
    slots.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for i in range(MAX_PARALLEL):
            fh = open(slots / f"{i}.lock", "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()
            return
        if not waited and on_wait:
            on_wait()
            waited = True
        time.sleep(poll_s)


def run_job(folder, settings, progress=None) -> dict:
    """What the job process does: train the job in `folder`, writing its progress into job.json.

    `progress(fraction, message)` is also told (the CLI's progress bar). Returns the card;
    on failure the job says why and the error is raised again."""
    from . import newclass

    folder = Path(folder)
    job = _read_job_file(folder)
    if job is None:
        raise TaughtError(f"no teach job in {folder}")
    job.update(pid=os.getpid(), proc_start=proc_start(os.getpid()))

    def report(fraction: float, message: str, state: str = "running") -> None:
        job.update(state=state, fraction=round(float(fraction), 3), message=message)
        _write_job(folder, job)
        if progress:
            progress(fraction, message)

    report(0.0, f"waiting for a free slot ({MAX_PARALLEL} models train at once on this server)…", "queued")
    try:
        with _slot(settings.home_dir):
            report(0.02, "reading the drawings…")
            who = Access(owner=str(job.get("owner") or ""), teacher=bool(job.get("teacher")))
            card = newclass.teach(job["classes"], [settings.data_dir], visible_owner_dirs(settings.home_dir, who),
                                  settings.models_dir, folder, name=str(job.get("name") or ""),
                                  progress=lambda f, m: report(0.05 + 0.95 * f, m),
                                  owner={"owner": job.get("owner"), "owner_name": job.get("owner_name")})
    except Exception as exc:
        message = exc.user_message if isinstance(exc, SketchLabError) else f"{type(exc).__name__}: {exc}"
        report(job.get("fraction", 0.0), message, "failed")
        raise
    report(1.0, f"done: {len(card['classes'])} classes; {card['train_accuracy']:.0%} right on its own training "
                "drawings (not a test: try it on the Draw page)", "done")
    return card


def delete_taught(home_dir, model_id: str, access: Access = LOCAL) -> None:
    """Delete a taught model (its owner's, or anyone's for the teacher); a running job is stopped."""
    t = find_taught(home_dir, model_id, access)
    job = _read_job_file(t.path) or {}
    if t.active and job.get("pid") and process_alive(int(job["pid"]), job.get("proc_start")):
        try:
            os.killpg(int(job["pid"]), 15)  # its own session: the job and anything it started
        except OSError:
            pass
    remove_dir(t.path)


def model_info(t: TaughtModel):
    """A done taught model as a `registry.ModelInfo` (source "yours"), for the Draw page."""
    from .cards import load_card
    from .registry import ModelInfo, file_version

    return ModelInfo(f"yours:{t.id}", t.path, load_card(t.path), "yours", file_version(t.path / MODEL_FILE))


def promote_taught(settings, model_id: str, access: Access = LOCAL) -> Path:
    """Put a taught model on everybody's Draw page (the teacher only), as the "taught" kind."""
    from .registry import promote

    access.require_teacher("promote a model to the Draw page")
    t = find_taught(settings.home_dir, model_id, access)
    if not t.done:
        raise TaughtError(f"“{t.name}” has not finished training ({t.state})")
    return promote(t.path, settings, access=access, kind=PROMOTED_KIND)
