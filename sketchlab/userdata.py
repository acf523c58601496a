"""Drawings people keep: saved from the Draw page, in the Quick Draw simplified ndjson format.

    <home>/drawings/<owner>/<class>.ndjson      one drawing per line

Each line is a Quick Draw simplified record (`word`, `countrycode`, `timestamp`,
`recognized`, `key_id`, `drawing` as `[[xs], [ys]]` per stroke in 0..255) plus `owner` and
`owner_name`, so every reader in `sketchlab.data.formats` reads it, and a person's folder is a
data folder like any other (`dataset.scan_data_dir` finds its classes by file name, the
Explore page and `newclass` read it as one). `<home>/drawings` as a whole is everybody's
drawings (the teacher's view).

Safety: the class name someone types becomes a file name only after `clean_class_name`
(letters, digits, spaces, `-`, `_`, `'`; it starts with a letter or digit), and the owner
folder is the session's anonymous id (`access.is_owner_id`) or `local` for the command
line, so nothing is written outside the drawings folder. A save appends one line with a
single `write` under the owner folder's lock and is fsynced before it returns; relabelling
and deleting rewrite a file with `fileio.atomic_write` under the same lock. Two saves at
once, or a server restart right after a save, lose nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .access import LOCAL, Access, NotAllowedError, is_owner_id
from .categories import ALL_CATEGORIES
from .data.drawing import normalize_strokes
from .data.formats import parse_json
from .errors import SketchLabError
from .fileio import atomic_write, path_inside

MAX_CLASS_NAME = 40
LOCAL_OWNER = "local"  # the folder of drawings saved without a browser session (the command line)
SUFFIX = ".ndjson"
_LOCK = ".lock"
_OFFICIAL = {c.lower(): c for c in ALL_CATEGORIES}
_NAME_PUNCTUATION = frozenset(" -_'")


class UserDataError(SketchLabError, ValueError):
    """A drawing that cannot be saved, relabelled or deleted; the message says why in words."""


@dataclass(frozen=True)
class SavedDrawing:
    """One kept drawing: strokes in simplified 0..255 space, its label and who saved it."""

    key_id: str
    label: str
    owner: str  # the owner folder's name: an anonymous id, or "local"
    owner_name: str
    timestamp: str
    strokes: list  # (n, 2) float arrays

    @property
    def n_strokes(self) -> int:
        return len(self.strokes)


def drawings_dir(home_dir) -> Path:
    """Everybody's kept drawings (the teacher's view): one folder per owner below it."""
    return Path(home_dir) / "drawings"


def owner_folder(access: Access) -> str:
    return access.owner if is_owner_id(access.owner) else LOCAL_OWNER


def owner_dir(home_dir, access: Access) -> Path:
    """The folder of this session's own drawings (a data folder of its own)."""
    return path_inside(drawings_dir(home_dir), owner_folder(access))


def clean_class_name(text, known=()) -> str:
    """A typed class name as it is saved, or UserDataError saying what is wrong with it.

    Spaces are collapsed; an official Quick Draw name (any case) takes its official spelling,
    and so does a name in `known` (e.g. the person's own classes), so "Cat" and "cat" are one class.
    """
    name = " ".join(unicodedata.normalize("NFKC", str(text or "")).split())
    if not name:
        raise UserDataError("type a name for the class (for example: cat)")
    if len(name) > MAX_CLASS_NAME:
        raise UserDataError(f"a class name may have at most {MAX_CLASS_NAME} characters (this one has {len(name)})")
    odd = sorted({c for c in name if not (c.isalnum() or c in _NAME_PUNCTUATION)})
    if odd or not name[0].isalnum():
        shown = " ".join(repr(c) for c in odd) or repr(name[0])
        raise UserDataError(f"a class name is letters, digits, spaces, '-', '_' or \"'\", starting with a letter "
                            f"or digit; {name!r} has {shown}")
    spelled = {str(k).lower(): str(k) for k in known}
    return _OFFICIAL.get(name.lower()) or spelled.get(name.lower()) or name


@contextmanager
def _locked(folder: Path):
    """One owner folder's lock: appends, rewrites and deletes of its files take turns."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / _LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _record(strokes, label: str, access: Access, now: datetime) -> dict:
    simplified = normalize_strokes([np.asarray(s, dtype=np.float64)[:, :2] for s in strokes or [] if len(s)])
    if not simplified:
        raise UserDataError("the canvas is empty: draw something first, then save it")
    drawing = [[np.rint(s[:, 0]).astype(int).tolist(), np.rint(s[:, 1]).astype(int).tolist()] for s in simplified]
    return {"word": label, "countrycode": "", "timestamp": now.isoformat(timespec="microseconds"), "recognized": True,
            "key_id": "u" + secrets.token_hex(8), "drawing": drawing, "owner": access.owner,
            "owner_name": access.name}


def _append_line(path: Path, line: str) -> None:
    data = (line + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)  # one write of a whole line: a reader never sees half of it
        if written != len(data):
            raise OSError(f"short write to {path}")
        os.fsync(fd)  # on disk before the page says "saved"
    finally:
        os.close(fd)


def save_drawing(home_dir, strokes, label, access: Access = LOCAL, now: datetime | None = None) -> SavedDrawing:
    """Keep a drawing (strokes in any coordinates, e.g. canvas pixels) as `label`; returns it.

    The strokes are normalized like Quick Draw's simplified data. Raises UserDataError for an
    empty drawing or a class name that cannot be used.
    """
    folder = owner_dir(home_dir, access)
    label = clean_class_name(label, own_classes(folder))
    record = _record(strokes, label, access, now or datetime.now(timezone.utc))
    with _locked(folder):
        _append_line(folder / f"{label}{SUFFIX}", json.dumps(record, separators=(",", ":")))
    return _saved(record, folder.name)


def own_classes(folder) -> list[str]:
    """The class names of one owner folder (its files' names), without reading them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p.name[: -len(SUFFIX)] for p in folder.iterdir()
                   if p.name.endswith(SUFFIX) and not p.name.startswith(".")), key=str.lower)


def _saved(record: dict, owner: str) -> SavedDrawing:
    strokes = [np.column_stack([np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)])
               for xs, ys, *_ in record["drawing"]]
    return SavedDrawing(str(record["key_id"]), str(record["word"]), owner, str(record.get("owner_name") or ""),
                        str(record.get("timestamp") or ""), strokes)


def _read_file(path: Path) -> list[dict]:
    """The records of one file; a line that is not a record (e.g. a foreign file) is skipped."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for line in lines:
        record = parse_json(line)  # a ValueError (never a RecursionError) for a line that is not JSON
        if isinstance(record, dict) and isinstance(record.get("drawing"), list) and record.get("key_id"):
            out.append(record)
    return out


def visible_owner_dirs(home_dir, access: Access) -> list[Path]:
    """The owner folders this session may see: its own; every one for the teacher (and, as
    everywhere in `access`, for everyone when no teacher password is set)."""
    root = drawings_dir(home_dir)
    if access.teacher:
        return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [owner_dir(home_dir, access)]


def list_drawings(home_dir, access: Access = LOCAL, label: str | None = None) -> list[SavedDrawing]:
    """The kept drawings this session may see (its own; the teacher: everybody's), oldest first."""
    out = []
    for folder in visible_owner_dirs(home_dir, access):
        for name in own_classes(folder):
            if label is None or name == label:
                out.extend(_saved(r, folder.name) for r in _read_file(folder / f"{name}{SUFFIX}"))
    return sorted(out, key=lambda d: (d.timestamp, d.key_id))


def class_counts(home_dir, access: Access = LOCAL) -> dict[str, int]:
    """{class: kept drawings} over the drawings this session may see."""
    counts: dict[str, int] = {}
    for d in list_drawings(home_dir, access):
        counts[d.label] = counts.get(d.label, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: kv[0].lower()))


def _holder(folders, key_id: str) -> tuple[Path, str] | None:
    for folder in folders:
        for name in own_classes(folder):
            if any(str(r["key_id"]) == key_id for r in _read_file(folder / f"{name}{SUFFIX}")):
                return folder, name
    return None


def _find(home_dir, key_id: str, access: Access) -> tuple[Path, str]:
    """(owner folder, class) of the drawing `key_id`, among the folders this session may change."""
    found = _holder(visible_owner_dirs(home_dir, access), key_id)
    if found is not None:
        return found
    if not access.teacher and _holder(visible_owner_dirs(home_dir, LOCAL), key_id) is not None:
        raise NotAllowedError("only the teacher can change a drawing someone else saved")
    raise UserDataError(f"no kept drawing {key_id!r} (it may have been deleted already)")


def _rewrite(path: Path, records: list[dict]) -> None:
    if not records:
        path.unlink(missing_ok=True)
        return
    with atomic_write(path, encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def _take(folder: Path, name: str, key_id: str) -> dict | None:
    """Remove one record from a class file (under the folder's lock); the record, or None."""
    path = folder / f"{name}{SUFFIX}"
    records = _read_file(path)
    kept = [r for r in records if str(r["key_id"]) != key_id]
    if len(kept) == len(records):
        return None
    _rewrite(path, kept)
    return next(r for r in records if str(r["key_id"]) == key_id)


def delete_drawing(home_dir, key_id: str, access: Access = LOCAL) -> None:
    """Delete one kept drawing: the owner's own, or anyone's for the teacher."""
    folder, name = _find(home_dir, str(key_id), access)
    with _locked(folder):
        if _take(folder, name, str(key_id)) is None:
            raise UserDataError(f"no kept drawing {key_id!r} (it may have been deleted already)")


def relabel_drawing(home_dir, key_id: str, new_label, access: Access = LOCAL) -> SavedDrawing:
    """Give a kept drawing another class; returns it as saved now."""
    folder, name = _find(home_dir, str(key_id), access)
    label = clean_class_name(new_label, own_classes(folder))
    with _locked(folder):
        record = next((r for r in _read_file(folder / f"{name}{SUFFIX}") if str(r["key_id"]) == str(key_id)), None)
        if record is None:
            raise UserDataError(f"no kept drawing {key_id!r} (it may have been deleted already)")
        if label != name:
            # Written under the new class before it leaves the old one: a crash in between
            # leaves the drawing twice (the same key_id), never nowhere.
            record = {**record, "word": label}
            _append_line(folder / f"{label}{SUFFIX}", json.dumps(record, separators=(",", ":")))
            _take(folder, name, str(key_id))
    return _saved(record, folder.name)
