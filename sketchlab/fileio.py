"""Replace files and folders so that a reader never sees half of one.

Everything SketchLab writes for another process or a later run to read (dataset caches,
model folders, promoted models, worker files, CSV exports, downloads) goes through here:
the new content is written under a hidden name beside the target (the same folder, so the
same file system), synced to disk, then renamed over the target. A crash, a full disk or
Ctrl-C mid-write leaves the old content (or none) under the target's name, never a
truncated file, and the hidden temporary is removed on the way out.
"""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


def _sibling(path: Path, tag: str) -> Path:
    """A fresh hidden name beside `path` (pid + random part: concurrent writers never collide)."""
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}")


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable; best effort (some file systems refuse a folder fsync)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_file(source, target) -> Path:
    """Rename a finished, synced file over `target` (same folder) and sync the folder."""
    target = Path(target)
    os.replace(source, target)
    _sync_folder(target.parent)
    return target


@contextmanager
def atomic_write(path, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """`with atomic_write(path) as fh: ...` writes `path` all at once or not at all.

    `mode` is "w" (text; pass encoding/newline as for `open`) or "wb". The file handle is
    a temporary beside `path`; when the block ends without error it is flushed, fsynced
    and renamed over `path`. On an error the temporary is removed and `path` is untouched.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        # "x": created fresh with the usual permissions (umask), unlike mkstemp's 0600.
        with open(tmp, mode.replace("w", "x"), **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        replace_file(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def replace_dir(source, target) -> Path:
    """Move the folder `source` to `target` (same parent), replacing what was there.

    The old folder is renamed aside, the new one renamed in, then the old one deleted; if
    the second rename fails the old folder is put back. Readers see the old folder or the
    new one, never a mix of their files (for an instant, no folder at all).
    """
    source, target = Path(source), Path(target)
    old = None
    if target.exists():
        old = _sibling(target, "old")
        os.replace(target, old)
    try:
        os.replace(source, target)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old, target)
        raise
    _sync_folder(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


@contextmanager
def atomic_dir(target) -> Iterator[Path]:
    """`with atomic_dir(folder) as tmp: <write files into tmp>` replaces `folder` all at once.

    `tmp` is a new empty hidden folder beside `folder`; when the block ends without error
    it replaces `folder` (see `replace_dir`). On an error it is deleted and `folder` is kept.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(target, "new")
    staging.mkdir()  # mkdir, not mkdtemp: the usual permissions (umask), not 0700
    try:
        yield staging
        replace_dir(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def remove_dir(target) -> bool:
    """Delete a folder so readers never see it half deleted (renamed aside first). False if absent."""
    target = Path(target)
    if not target.is_dir():
        return False
    trash = _sibling(target, "old")
    os.replace(target, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return True


SAFE_NAME_MAX = 80
_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def safe_name(text, max_len: int = SAFE_NAME_MAX) -> str:
    """Any text as one file name that stays in its folder: letters, digits, '.', '_' and '-'.

    Everything else (slashes, quotes, NUL, spaces, non-ASCII) becomes '_'; leading dots go,
    so it is never '.', '..' or hidden. A name that had to change, or is longer than
    `max_len`, ends with 8 hex digits of its hash, so two different names never share a file.
    """
    text = str(text)
    kept = "".join(c if c in _SAFE_CHARS else "_" for c in text).lstrip(".")
    if kept == text and 0 < len(kept) <= max_len:
        return kept
    import hashlib

    tag = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    stem = kept[: max_len - len(tag) - 1].rstrip("._-")
    return f"{stem}-{tag}" if stem else tag


def path_inside(root, *names) -> Path:
    """`root/<safe_name(n)>/...`: a path built from names someone typed, never outside `root`."""
    root = Path(root)
    path = root.joinpath(*(safe_name(n) for n in names))
    if not Path(os.path.abspath(path)).is_relative_to(os.path.abspath(root)):  # cannot happen; checked anyway
        raise ValueError(f"{path} is outside {root}")
    return path
